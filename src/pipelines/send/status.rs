//! A send's status from its ledger, read without sending: what a host asks when it lost a
//! send's outcome (a crash, a timeout) and must decide between "sent", "send it" and "unknown".

use super::INFLIGHT_LEASE_MS;
use super::outcome::receipt;
use crate::contract::ports::Ports;
use crate::contract::records::SendState;
use crate::model::error::ChannelError;
use crate::pipelines::context::Core;
use crate::state::ledger::{self, ChunkState, LoadError};

/// What the ledger of `idempotency_key` says: nothing went out, all of it did, the first
/// parts did and the rest never left, or a part's outcome is unknown.
pub fn send_status(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
    idempotency_key: &str,
) -> Result<SendState, ChannelError> {
    // No credential needed: this reads the state only.
    let account = core.policy_account(account)?;
    let stored = match ledger::load(
        ports.kv,
        &crate::state::keys::ledger(&account.id, idempotency_key),
    ) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(SendState::NotSent),
        Err(LoadError::Kv(e)) => return Err(e.into()),
        Err(LoadError::Corrupt(why)) => {
            return Ok(SendState::Unknown(format!(
                "the send ledger is unreadable ({why}): whether it was sent cannot be told"
            )));
        }
    };
    let now = ports.clock.now_ms();
    let chunks = &stored.ledger.chunks;
    let n = chunks.len();
    for (i, c) in chunks.iter().enumerate() {
        let why = match c.state {
            ChunkState::Ambiguous => c
                .last_error
                .clone()
                .unwrap_or_else(|| "no answer came".into()),
            ChunkState::Inflight if c.since.is_some_and(|s| now < s + INFLIGHT_LEASE_MS) => {
                "a request for it is in flight now".into()
            }
            ChunkState::Inflight => "a request for it left and no answer was recorded".into(),
            ChunkState::Pending | ChunkState::Sent => continue,
        };
        return Ok(SendState::Unknown(format!(
            "part {}/{n} may or may not have been posted: {why}",
            i + 1
        )));
    }
    let sent = chunks
        .iter()
        .filter(|c| c.state == ChunkState::Sent)
        .count();
    let mut ledger = stored.ledger;
    Ok(match sent {
        0 => SendState::NotSent,
        s if s == n => SendState::Sent(receipt(account, idempotency_key, ledger)),
        _ => {
            // The receipt of what went: the parts that never left are not in it.
            ledger.chunks.retain(|c| c.state == ChunkState::Sent);
            SendState::PartlySent(receipt(account, idempotency_key, ledger))
        }
    })
}
