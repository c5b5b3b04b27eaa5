//! Calls that are safe to repeat (`spaces.info`, `users.info`, `bots.info`, and
//! `conversations.open`, which returns the DM that exists): after a dropped connection, a
//! timeout, an unreadable answer or a 5xx they are tried again at once; when that fails too,
//! the host is asked to call again after a backoff, a bounded number of times per operation.
//! `messages.send` is not among them: see `classify` in the channel.

use crate::api::client::ApiError;
use crate::contract::ports::{HttpError, Ports};
use crate::model::envelope::EnvelopeError;
use crate::model::error::{ChannelError, TransportFailure};
use crate::state::limiter;

/// Backoff hints offered per operation before the failure is final.
pub const MAX_HINTS: u32 = 6;

/// A failure that says nothing about the request itself: repeating it may well succeed.
pub fn is_transient(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Http(HttpError::Transport { .. } | HttpError::Timeout)
            | ApiError::Envelope(EnvelopeError::Invalid { .. })
    ) || matches!(e, ApiError::Envelope(EnvelopeError::Api { status, .. }) if *status >= 500)
}

/// Runs `call` (safe to repeat), once more at once after a transient failure. `scope` names
/// the operation (per account and send) whose failures are counted for the backoff.
pub fn safe_call<T>(
    ports: &Ports<'_>,
    scope: &str,
    what: &str,
    mut call: impl FnMut() -> Result<T, ApiError>,
) -> Result<T, ChannelError> {
    match call() {
        Err(e) if is_transient(&e) => {}
        other => return other.map_err(ChannelError::from),
    }
    match call() {
        Err(e) if is_transient(&e) => {
            let key = crate::state::keys::retry_count(scope);
            // The count only paces the hints; a KV failure must not turn into a send failure.
            let n = ports
                .kv
                .get(&key)
                .ok()
                .flatten()
                .and_then(|v| String::from_utf8(v).ok()?.parse::<u32>().ok())
                .unwrap_or(0)
                + 1;
            let _ = ports.kv.set(
                &key,
                n.to_string().as_bytes(),
                Some(crate::state::keys::RETRY_COUNT_TTL_MS),
            );
            Err(ChannelError::Transport(TransportFailure {
                message: format!("{what} failed twice ({e}); it is safe to repeat"),
                retry_after_ms: (n < MAX_HINTS)
                    .then(|| limiter::backoff_ms(n, ports.random.next_u64()).max(100)),
            }))
        }
        other => other.map_err(ChannelError::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakePairing, FixedClock, MemoryKv, ScriptedHttp, SeqRandom};
    use std::cell::Cell;

    struct World {
        http: ScriptedHttp,
        kv: MemoryKv,
        pairing: FakePairing,
        clock: FixedClock,
        random: SeqRandom,
    }

    impl World {
        fn new() -> Self {
            Self {
                http: ScriptedHttp::new(vec![]),
                kv: MemoryKv::default(),
                pairing: FakePairing::default(),
                clock: FixedClock(Cell::new(0)),
                random: SeqRandom(Cell::new(7)),
            }
        }
        fn ports(&self) -> Ports<'_> {
            Ports {
                http: &self.http,
                kv: &self.kv,
                pairing: &self.pairing,
                clock: &self.clock,
                random: &self.random,
            }
        }
    }

    fn drop_() -> ApiError {
        ApiError::Http(HttpError::Transport {
            message: "connection reset".into(),
            maybe_delivered: true,
        })
    }

    #[test]
    fn one_transient_failure_is_retried_at_once() {
        let w = World::new();
        let ports = w.ports();
        let mut calls = 0;
        let r = safe_call(&ports, "a/k", "spaces.info", || {
            calls += 1;
            if calls == 1 { Err(drop_()) } else { Ok(7) }
        });
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls, 2);
    }

    #[test]
    fn repeated_failures_ask_the_host_to_come_back_a_bounded_number_of_times() {
        let w = World::new();
        let ports = w.ports();
        let mut hints = vec![];
        for _ in 0..MAX_HINTS + 2 {
            match safe_call::<()>(&ports, "a/k", "conversations.open", || {
                Err(ApiError::Http(HttpError::Timeout))
            }) {
                Err(ChannelError::Transport(t)) => hints.push(t.retry_after_ms),
                other => panic!("{other:?}"),
            }
        }
        let offered = hints.iter().filter(|h| h.is_some()).count();
        assert_eq!(offered as u32, MAX_HINTS - 1, "{hints:?}");
        assert!(hints.last().unwrap().is_none(), "then the failure is final");
        // Another operation has its own count.
        match safe_call::<()>(&ports, "a/other", "x", || {
            Err(ApiError::Http(HttpError::Timeout))
        }) {
            Err(ChannelError::Transport(t)) => assert!(t.retry_after_ms.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_are_not_repeated() {
        let w = World::new();
        let ports = w.ports();
        let mut calls = 0;
        let r = safe_call::<()>(&ports, "a/k", "users.info", || {
            calls += 1;
            Err(ApiError::Envelope(EnvelopeError::Api {
                code: crate::model::envelope::ErrorCode::parse("user_not_found"),
                message: "x".into(),
                status: 400,
                retry_after_ms: None,
            }))
        });
        assert!(matches!(r, Err(ChannelError::Api(_))), "{r:?}");
        assert_eq!(calls, 1);
    }
}
