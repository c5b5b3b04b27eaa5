//! One attempt's outcome: the API's result sorted into sent, known not sent or unknown, written
//! over the chunk's claim in the ledger, and the receipt made from the ledger at the end.

use super::run::{Checked, Flow, commit_owned};
use crate::api::auth_guard;
use crate::api::budget::LimitGate;
use crate::api::client::ApiError;
use crate::api::rooms::Room;
use crate::contract::ports::{HttpError, Ports};
use crate::contract::records::{ChunkOutcome, ChunkReceipt, SendReceipt};
use crate::model::config::{Account, Delivery};
use crate::model::envelope::{EnvelopeError, ErrorCode};
use crate::model::error::{ChannelError, TransportFailure};
use crate::model::target::Target;
use crate::state::binding;
use crate::state::ledger::{ChunkState, Ledger, Stored};
use crate::state::limiter;
use crate::state::memo::Memo;

/// Attempts per chunk for retryable failures before `send` stops asking to be called again.
pub const MAX_ATTEMPTS: u32 = 6;

/// What one attempt at a chunk ended with.
pub(super) enum Attempt {
    Sent {
        message_id: String,
        conversation_id: String,
        send_time: u64,
        /// The bot's user id, as KakaoWork answered it.
        bot: String,
    },
    /// Known not delivered; the chunk stays pending. The error is what `send` returns.
    NotSent(ChannelError),
    /// The request may have been delivered.
    Unknown(String),
}

/// Sort one attempt's result into sent, known-not-sent (with the error to return) or unknown.
pub(super) fn classify(
    ports: &Ports<'_>,
    gate: &LimitGate<'_>,
    result: Result<crate::api::client::Message, ApiError>,
    attempts: u32,
    delivery: Delivery,
) -> Attempt {
    let backoff = |ports: &Ports<'_>| limiter::backoff_ms(attempts, ports.random.next_u64());
    let exhausted = attempts >= MAX_ATTEMPTS;
    let unknown = |why: String| -> Attempt {
        match delivery {
            Delivery::AtMostOnce => Attempt::Unknown(why),
            Delivery::AtLeastOnce => Attempt::NotSent(ChannelError::Transport(TransportFailure {
                message: format!("{why}; the chunk will be sent again (at-least-once)"),
                retry_after_ms: (!exhausted).then(|| backoff(ports)),
            })),
        }
    };
    match result {
        Ok(m) => Attempt::Sent {
            message_id: m.id.0,
            conversation_id: m.conversation_id.0,
            send_time: m.send_time.unwrap_or(ports.clock.now_ms() / 1000),
            bot: m.user_id.map(|u| u.0).unwrap_or_default(),
        },
        Err(ApiError::Envelope(EnvelopeError::Api { status: 429, .. })) => {
            // `after` recorded the block; report how long it is.
            let wait = gate
                .limiter
                .blocked_for(ports.clock.now_ms())
                .unwrap_or(0)
                .max(1000);
            Attempt::NotSent(ChannelError::Deferred(wait))
        }
        // A 5xx does not prove the message was refused before it was stored (a failing proxy,
        // a timeout behind the load balancer): its outcome is unknown.
        Err(ApiError::Envelope(EnvelopeError::Api {
            code,
            message,
            status,
            ..
        })) if status >= 500 => unknown(format!(
            "KakaoWork answered {status} ({}: {message}); the message may have been stored",
            code.as_str()
        )),
        // A 4xx: KakaoWork refused the message; the same request would be refused again.
        Err(e @ ApiError::Envelope(EnvelopeError::Api { .. })) => {
            Attempt::NotSent(ChannelError::from(e))
        }
        // A 2xx we could not read may still have posted the message.
        Err(ApiError::Envelope(e @ EnvelopeError::Invalid { .. })) => unknown(e.to_string()),
        Err(ApiError::Http(HttpError::Timeout)) => unknown("no answer within the timeout".into()),
        Err(ApiError::Http(HttpError::Transport {
            message,
            maybe_delivered: true,
        })) => unknown(message),
        Err(ApiError::Http(HttpError::TooLarge)) => {
            unknown("the answer was too large to read".into())
        }
        Err(ApiError::Http(HttpError::Transport {
            message,
            maybe_delivered: false,
        })) => Attempt::NotSent(ChannelError::Transport(TransportFailure {
            message,
            retry_after_ms: (!exhausted).then(|| backoff(ports)),
        })),
        Err(e) => Attempt::NotSent(e.into()),
    }
}

/// Where a sent chunk went, as its sent record keeps it.
pub(super) struct Destination<'a> {
    pub(super) conversation: Option<&'a str>,
    pub(super) nonce: &'a str,
    pub(super) room: &'a Room,
}

/// The chunk's outcome written over its claim (moved, not copied): `Next` when done with,
/// `Again` when it goes once more in this call (its DM reopened), the error when it stops.
pub(super) fn record(
    ports: &Ports<'_>,
    memo: &Memo,
    msg: &Checked<'_>,
    stored: Stored,
    i: usize,
    attempt: Attempt,
    to: &Destination<'_>,
) -> Result<(Stored, Flow), ChannelError> {
    let account = msg.account;
    let attempts = stored.ledger.chunks[i].attempts;
    let Stored {
        raw,
        ledger: mut next,
    } = stored;
    next.chunks[i].since = None;
    let mut stop = None;
    match attempt {
        Attempt::Sent {
            message_id,
            conversation_id,
            send_time,
            bot,
        } => {
            // Remember the message as ours, where it went and its button's nonce: its
            // callbacks are checked against this record.
            let record = binding::SentRecord::encode(
                to.room.is_group(),
                // Where it was sent, as its button says; the answer's for an e-mail.
                to.conversation.unwrap_or(&conversation_id),
                to.nonce,
                to.room.user(),
                &bot,
            );
            let _ = ports.kv.set(
                &crate::state::keys::sent(&account.id, &message_id),
                record.as_bytes(),
                Some(crate::state::keys::SENT_TTL_MS),
            );
            let c = &mut next.chunks[i];
            c.state = ChunkState::Sent;
            c.message_id = Some(message_id);
            c.send_time = Some(send_time);
            c.last_error = None;
            if next.conversation_id.is_none() {
                next.conversation_id = Some(conversation_id);
            }
            auth_guard::record(ports, memo, account, msg.key_id, false, msg.on_record);
        }
        Attempt::Unknown(why) => {
            next.chunks[i].state = ChunkState::Ambiguous;
            next.chunks[i].last_error = Some(why);
        }
        Attempt::NotSent(err) => {
            stop = not_sent(ports, memo, msg, &mut next, i, attempts, err);
        }
    }
    let stored = commit_owned(ports, &msg.lkey, &msg.me, raw, next, i)?;
    if let Some(err) = stop {
        return Err(err);
    }
    // Pending again: sent once more after reopening the DM (its attempts bound this to once).
    let flow = if stored.ledger.chunks[i].state == ChunkState::Pending {
        Flow::Again
    } else {
        Flow::Next
    };
    Ok((stored, flow))
}

/// A chunk known not sent goes back to pending; the error stops the call, but for a DM that
/// KakaoWork no longer knows, which is opened again and tried once more in this call.
fn not_sent(
    ports: &Ports<'_>,
    memo: &Memo,
    msg: &Checked<'_>,
    next: &mut Ledger,
    i: usize,
    attempts: u32,
    err: ChannelError,
) -> Option<ChannelError> {
    let account = msg.account;
    let c = &mut next.chunks[i];
    c.state = ChunkState::Pending;
    c.last_error = Some(err.to_string());
    if matches!(err, ChannelError::Authentication(_)) {
        auth_guard::record(ports, memo, account, msg.key_id, true, msg.on_record);
    }
    if let (Target::User(user), ChannelError::Api(f)) = (&msg.target, &err)
        && f.code == ErrorCode::ConversationNotFound.as_str()
    {
        // The cached DM is gone (deleted, or another workspace's).
        next.conversation_id = None;
        let _ = ports.kv.delete(&crate::state::keys::dm(&account.id, user));
        memo.set_dm(&account.id, user, None);
        if attempts <= 1 {
            return None;
        }
    }
    Some(err)
}

/// The receipt, made from the ledger's own strings (it is not needed after).
pub(super) fn receipt(account: &Account, idem: &str, ledger: Ledger) -> SendReceipt {
    let chunks: Vec<ChunkReceipt> = ledger
        .chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| ChunkReceipt {
            index: i as u32,
            outcome: if c.state == ChunkState::Sent {
                ChunkOutcome::Sent
            } else {
                ChunkOutcome::Ambiguous
            },
            message_id: c.message_id,
            send_time: c.send_time,
        })
        .collect();
    SendReceipt {
        account: account.id.clone(),
        idempotency_key: idem.to_owned(),
        message_id: chunks.first().and_then(|c| c.message_id.clone()),
        conversation_id: ledger.conversation_id,
        send_time: chunks.iter().find_map(|c| c.send_time),
        ambiguous: chunks.iter().any(|c| c.outcome == ChunkOutcome::Ambiguous),
        chunks,
    }
}
