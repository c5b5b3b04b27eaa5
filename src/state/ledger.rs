//! The send ledger: one KV record per outbound message (keyed by the host's idempotency key)
//! holding each chunk's state, so that a retried or resumed `send` never posts a chunk twice.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::json::{self as j, FromJson};

use crate::contract::ports::{Kv, KvError};

// In the stored form a state is its position here: new states go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkState {
    /// Not sent yet (or a failed attempt that is known not to have been delivered).
    Pending,
    /// A request for it has left or is about to; owned by one instance until `since + lease`.
    Inflight,
    Sent,
    /// The request left and no answer came: it may or may not have been posted.
    Ambiguous,
}

impl ChunkState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Inflight => "inflight",
            Self::Sent => "sent",
            Self::Ambiguous => "ambiguous",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Inflight, Self::Sent, Self::Ambiguous]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

// Stored in `postcard`'s binary encoding (see `Ledger::encode`): the fields in the order
// written here, so a field is only ever added at the end. `decode` also reads the JSON that
// earlier versions wrote, through `FromJson`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub text: String,
    /// The part's Block Kit blocks in their stored form (see `blockkit::to_stored`); none for
    /// a text-only part.
    pub blocks: Option<String>,
    pub state: ChunkState,
    pub message_id: Option<String>,
    pub send_time: Option<u64>,
    pub attempts: u32,
    pub since: Option<u64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub target: String,
    /// FNV-1a of the message (see `compose::identity`): a reused key with another message is
    /// refused.
    pub text_hash: u64,
    pub conversation_id: Option<String>,
    pub chunks: Vec<Chunk>,
}

impl FromJson for Chunk {
    fn from_json(v: &Value) -> Result<Self, String> {
        if let Value::Array(a) = v {
            return Self::from_row(a);
        }
        let o = j::obj(v, "chunk")?;
        let state = j::string(o, "state")?;
        Ok(Self {
            text: j::string(o, "text")?,
            blocks: j::opt_string(o, "blocks"),
            state: ChunkState::parse(&state)
                .ok_or_else(|| format!("unknown chunk state `{state}`"))?,
            message_id: j::opt_string(o, "message_id"),
            send_time: j::opt_u64(o, "send_time"),
            attempts: j::opt_u64(o, "attempts").unwrap_or(0).min(u32::MAX as u64) as u32,
            since: j::opt_u64(o, "since"),
            last_error: j::opt_string(o, "last_error"),
        })
    }
}

impl Chunk {
    /// `[text, blocks, state, message_id, send_time, attempts, since, last_error]`.
    fn from_row(a: &[Value]) -> Result<Self, String> {
        let [
            text,
            blocks,
            state,
            message_id,
            send_time,
            attempts,
            since,
            last_error,
        ] = a
        else {
            return Err(format!("a chunk has 8 fields, not {}", a.len()));
        };
        let state = text_at(state, "state")?;
        Ok(Self {
            text: text_at(text, "text")?,
            blocks: opt_text_at(blocks, "blocks")?,
            state: ChunkState::parse(&state)
                .ok_or_else(|| format!("unknown chunk state `{state}`"))?,
            message_id: opt_text_at(message_id, "message_id")?,
            send_time: opt_u64_at(send_time, "send_time")?,
            attempts: opt_u64_at(attempts, "attempts")?
                .unwrap_or(0)
                .min(u32::MAX as u64) as u32,
            since: opt_u64_at(since, "since")?,
            last_error: opt_text_at(last_error, "last_error")?,
        })
    }
}

impl FromJson for Ledger {
    fn from_json(v: &Value) -> Result<Self, String> {
        if let Value::Array(a) = v {
            let [version, target, text_hash, conversation_id, chunks] = a.as_slice() else {
                return Err(format!("a ledger has 5 fields, not {}", a.len()));
            };
            if version.as_u64() != Some(ROW_VERSION) {
                return Err(format!("unknown ledger version {version}"));
            }
            let Value::Array(chunks) = chunks else {
                return Err("`chunks` is not a list".into());
            };
            return Ok(Self {
                target: text_at(target, "target")?,
                text_hash: text_hash
                    .as_u64()
                    .ok_or("`text_hash` is not an unsigned integer")?,
                conversation_id: opt_text_at(conversation_id, "conversation_id")?,
                chunks: chunks
                    .iter()
                    .map(Chunk::from_json)
                    .collect::<Result<_, _>>()?,
            });
        }
        let o = j::obj(v, "ledger")?;
        Ok(Self {
            target: j::string(o, "target")?,
            text_hash: j::u64_of(o, "text_hash")?,
            conversation_id: j::opt_string(o, "conversation_id"),
            chunks: j::list(o, "chunks")?,
        })
    }
}

fn text_at(v: &Value, name: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("`{name}` is not a string"))
}

fn opt_text_at(v: &Value, name: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        _ => text_at(v, name).map(Some),
    }
}

fn opt_u64_at(v: &Value, name: &str) -> Result<Option<u64>, String> {
    match v {
        Value::Null => Ok(None),
        _ => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{name}` is not an unsigned integer")),
    }
}

/// The version of the JSON arrays that the previous version wrote,
/// `[2, target, text_hash, conversation_id, [chunk, ...]]`, each chunk
/// `[text, blocks, state, message_id, send_time, attempts, since, last_error]`.
const ROW_VERSION: u64 = 2;

/// The first byte of the stored form: never the first byte of the JSON of earlier versions.
/// After it, the ledger in `postcard`'s encoding (lengths and integers as varints, strings as
/// they are): it is written twice per send, and JSON escaped every string in it on the way.
const BINARY_VERSION: u8 = 3;

pub fn fnv1a(s: &str) -> u64 {
    fnv1a_parts([s])
}

/// FNV-1a of the parts one after another: the same as of their concatenation, without making it.
pub fn fnv1a_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    parts
        .into_iter()
        .flat_map(str::bytes)
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
}

impl Ledger {
    /// A new message's ledger: `hash` identifies the message, one chunk per part.
    pub fn new(target: &str, hash: u64, parts: Vec<(String, Option<String>)>) -> Self {
        Self {
            target: target.to_owned(),
            text_hash: hash,
            conversation_id: None,
            chunks: parts
                .into_iter()
                .map(|(text, blocks)| Chunk {
                    text,
                    blocks,
                    state: ChunkState::Pending,
                    message_id: None,
                    send_time: None,
                    attempts: 0,
                    since: None,
                    last_error: None,
                })
                .collect(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Sized once for the texts and the fields around them.
        let texts: usize = self
            .chunks
            .iter()
            .map(|c| c.text.len() + c.blocks.as_ref().map_or(0, String::len))
            .sum();
        let mut out = Vec::with_capacity(64 + 48 * self.chunks.len() + texts);
        out.push(BINARY_VERSION);
        // Plain data into a vector: serialising cannot fail.
        postcard::to_extend(self, out).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let Some((&BINARY_VERSION, rest)) = bytes.split_first() else {
            // What earlier versions wrote: JSON.
            return j::decode(bytes);
        };
        let (ledger, left) =
            postcard::take_from_bytes(rest).map_err(|e| format!("the binary form: {e}"))?;
        if !left.is_empty() {
            return Err(format!("{} bytes after the binary form", left.len()));
        }
        Ok(ledger)
    }
}

/// A ledger as loaded, with the exact bytes to compare-and-swap against (`None`: not in KV).
pub struct Stored {
    pub raw: Option<Vec<u8>>,
    pub ledger: Ledger,
}

#[derive(Debug)]
pub enum LoadError {
    Kv(KvError),
    Corrupt(String),
}

pub fn load(kv: &dyn Kv, key: &str) -> Result<Option<Stored>, LoadError> {
    let Some(raw) = kv.get(key).map_err(LoadError::Kv)? else {
        return Ok(None);
    };
    let ledger = Ledger::decode(&raw).map_err(LoadError::Corrupt)?;
    Ok(Some(Stored {
        raw: Some(raw),
        ledger,
    }))
}

/// Replace `old` by `new`, which is moved into the result: `Err(new)` back when another
/// instance changed the record in between.
pub fn swap(
    kv: &dyn Kv,
    key: &str,
    old: Option<&[u8]>,
    new: Ledger,
) -> Result<Result<Stored, Ledger>, KvError> {
    let raw = new.encode();
    if kv.compare_and_swap(
        key,
        old,
        Some(&raw),
        Some(crate::state::keys::LEDGER_TTL_MS),
    )? {
        Ok(Ok(Stored {
            raw: Some(raw),
            ledger: new,
        }))
    } else {
        Ok(Err(new))
    }
}

#[cfg(test)]
mod tests;
