//! What one `send` call carries from step to step (the request as checked, the ledger as last
//! seen) and how its steps write the ledger: every write a compare-and-swap, a lost one re-read
//! and checked to be this message's.

use crate::contract::ports::Ports;
use crate::model::config::Account;
use crate::model::error::ChannelError;
use crate::model::target::Target;
use crate::state::ledger::{self, Ledger, LoadError, Stored};
use crate::state::room::Room;

/// The request, checked (step 1): what every later step reads.
pub(super) struct Checked<'a> {
    pub(super) account: &'a Account,
    pub(super) key_id: Option<&'a str>,
    pub(super) target: Target,
    /// The ledger's KV key.
    pub(super) lkey: String,
    /// What a stored ledger must match to be this message's.
    pub(super) me: Identity<'a>,
    /// Whether authentication failures are on record for the account.
    pub(super) on_record: bool,
}

/// Where the call stands between chunks: the ledger as last read or written, and what the
/// call learnt on the way.
pub(super) struct Run {
    pub(super) stored: Stored,
    /// An admission granted and not yet spent on a request (after a lost claim).
    pub(super) admitted: bool,
    /// Whether KV was asked for this message's ledger (a group target needs to know).
    pub(super) ledger_checked: bool,
    /// What the conversation is, as KakaoWork says: its sent record and buttons follow it.
    pub(super) room: Option<Room>,
}

/// What a step leaves the loop to do with the chunk it looked at.
pub(super) enum Flow {
    /// It is done with (sent, or left ambiguous): on to the next.
    Next,
    /// Look at it again: the ledger changed under the call, or the chunk goes once more.
    Again,
}

/// What a stored ledger must match to be this message's: computed once per call.
pub(super) struct Identity<'a> {
    pub(super) target: &'a str,
    pub(super) hash: u64,
    /// The idempotency key, for the error message.
    pub(super) key: &'a str,
}

pub(super) fn load_error(e: LoadError) -> ChannelError {
    match e {
        LoadError::Kv(e) => e.into(),
        LoadError::Corrupt(m) => {
            ChannelError::Storage(format!("the send ledger is unreadable: {m}"))
        }
    }
}

/// The ledger as KV has it now, which must be this message's.
pub(super) fn reread(
    ports: &Ports<'_>,
    key: &str,
    me: &Identity<'_>,
) -> Result<Stored, ChannelError> {
    let stored = ledger::load(ports.kv, key)
        .map_err(load_error)?
        .ok_or_else(|| ChannelError::Storage("the send ledger vanished while in use".into()))?;
    same_message(stored, me)
}

/// A stored ledger, checked to be this message's.
pub(super) fn same_message(stored: Stored, me: &Identity<'_>) -> Result<Stored, ChannelError> {
    if stored.ledger.target != me.target || stored.ledger.text_hash != me.hash {
        return Err(ChannelError::InvalidMessage(format!(
            "idempotency key `{}` was already used for a different message; use a new key per message",
            me.key
        )));
    }
    Ok(stored)
}

/// Write a change that does not depend on owning a chunk; on a race, the caller re-reads. A
/// ledger not in KV yet is not written here: the claim of its first part writes it.
pub(super) fn commit(
    ports: &Ports<'_>,
    key: &str,
    me: &Identity<'_>,
    stored: Stored,
    next: Ledger,
) -> Result<Stored, ChannelError> {
    if stored.raw.is_none() {
        return Ok(Stored {
            raw: None,
            ledger: next,
        });
    }
    match ledger::swap(ports.kv, key, stored.raw.as_deref(), next)? {
        Ok(s) => Ok(s),
        Err(_) => reread(ports, key, me),
    }
}

/// Record the outcome of chunk `i`, which this call owns (it is inflight under our claim):
/// re-apply it onto the latest record if another instance changed something else meanwhile.
pub(super) fn commit_owned(
    ports: &Ports<'_>,
    key: &str,
    me: &Identity<'_>,
    mut raw: Option<Vec<u8>>,
    next: Ledger,
    i: usize,
) -> Result<Stored, ChannelError> {
    let mut next = next;
    for _ in 0..16 {
        let mut lost = match ledger::swap(ports.kv, key, raw.as_deref(), next)? {
            Ok(s) => return Ok(s),
            Err(lost) => lost,
        };
        let latest = reread(ports, key, me)?;
        let mut merged = latest.ledger;
        merged.chunks[i] = lost.chunks.swap_remove(i);
        if merged.conversation_id.is_none() {
            merged.conversation_id = lost.conversation_id.take();
        }
        next = merged;
        raw = latest.raw;
    }
    Err(ChannelError::Storage(
        "could not record a sent chunk: the ledger keeps changing".into(),
    ))
}

/// A ledger that stands in while the real one is handed to a step that gives it back.
pub(super) fn placeholder() -> Stored {
    Stored {
        raw: None,
        ledger: Ledger::new("", 0, Vec::new()),
    }
}
