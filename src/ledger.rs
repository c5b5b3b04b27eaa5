//! The send ledger: one KV record per outbound message (keyed by the host's idempotency key)
//! holding each chunk's state, so that a retried or resumed `send` never posts a chunk twice.

use serde::{Deserialize, Serialize};

use crate::ports::{Kv, KvError};

/// Ledgers outlive any sensible retry horizon.
pub const LEDGER_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkState {
    /// Not sent yet (or a failed attempt that is known not to have been delivered).
    Pending,
    /// A request for it has left or is about to; owned by one instance until `since + lease`.
    Inflight,
    Sent,
    /// The request left and no answer came: it may or may not have been posted.
    Ambiguous,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub text: String,
    pub state: ChunkState,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub send_time: Option<u64>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub since: Option<u64>,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub target: String,
    /// FNV-1a of the full text: a reused key with another message is refused.
    pub text_hash: u64,
    #[serde(default)]
    pub conversation_id: Option<String>,
    pub chunks: Vec<Chunk>,
}

pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Ledger {
    pub fn new(target: &str, text: &str, chunks: Vec<String>) -> Self {
        Self {
            target: target.to_owned(),
            text_hash: fnv1a(text),
            conversation_id: None,
            chunks: chunks
                .into_iter()
                .map(|text| Chunk {
                    text,
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
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A ledger as loaded, with the exact bytes to compare-and-swap against.
pub struct Stored {
    pub raw: Vec<u8>,
    pub ledger: Ledger,
}

pub fn key(account: &str, idempotency_key: &str) -> String {
    format!("ledger/v1/{account}/{idempotency_key}")
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
    let ledger = crate::envelope::from_json(&raw).map_err(LoadError::Corrupt)?;
    Ok(Some(Stored { raw, ledger }))
}

/// Replace `old` by `new`; false when another instance changed the record in between.
pub fn swap(
    kv: &dyn Kv,
    key: &str,
    old: Option<&[u8]>,
    new: &Ledger,
) -> Result<Option<Stored>, KvError> {
    let raw = new.encode();
    if kv.compare_and_swap(key, old, Some(&raw), Some(LEDGER_TTL_MS))? {
        Ok(Some(Stored {
            raw,
            ledger: new.clone(),
        }))
    } else {
        Ok(None)
    }
}
