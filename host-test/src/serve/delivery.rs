//! The host's delivery loop: call `send` until the message is delivered, honouring the
//! plugin's deferrals and retry hints by sleeping on the host clock (instantly on a fake one).

use crate::runtime::Plugin;
use crate::runtime::clock::Clock;
use crate::wit::{ChannelError, SendReceipt, SendRequest};

/// How many calls of `send` one delivery makes at most (`spec/delivery.json`).
pub const MAX_CALLS: u32 = 50;

/// How long to wait before calling `send` again, and why; `None` when calling again is useless.
pub fn retry_hint(e: &ChannelError) -> Option<(u64, &'static str)> {
    match e {
        ChannelError::Deferred(ms) => Some((*ms, "rate limit")),
        ChannelError::Api(f) | ChannelError::RateLimited(f) if f.retryable => {
            Some((f.retry_after_ms.unwrap_or(1000), "KakaoWork error"))
        }
        ChannelError::Transport(t) => t.retry_after_ms.map(|ms| (ms, "connection failure")),
        _ => None,
    }
}

#[derive(Debug)]
pub struct Report {
    /// The final answer: a receipt, or the error that ended the attempts.
    pub outcome: Result<SendReceipt, ChannelError>,
    /// Calls of `send` made.
    pub calls: u32,
    /// Time spent waiting, in milliseconds of the host clock.
    pub waited_ms: u64,
}

/// Deliver one message. `on_wait(ms, reason)` is told before each wait. At most `max_calls`
/// calls are made; the last error is returned when they run out.
pub fn deliver(
    plugin: &mut Plugin,
    req: &SendRequest,
    clock: &Clock,
    max_calls: u32,
    on_wait: impl FnMut(u64, &str),
) -> wasmtime::Result<Report> {
    let (outcome, calls, waited_ms) = with_retries(clock, max_calls, on_wait, || plugin.send(req))?;
    Ok(Report {
        outcome,
        calls,
        waited_ms,
    })
}

/// Calls `call` until it answers without a retry hint (or `max_calls` run out), waiting as
/// the hints say. Returns the last answer, the calls made and the time waited.
pub fn with_retries<T>(
    clock: &Clock,
    max_calls: u32,
    mut on_wait: impl FnMut(u64, &str),
    mut call: impl FnMut() -> wasmtime::Result<Result<T, ChannelError>>,
) -> wasmtime::Result<(Result<T, ChannelError>, u32, u64)> {
    let mut calls = 0;
    let mut waited_ms = 0;
    loop {
        calls += 1;
        let outcome = call()?;
        match outcome.as_ref().err().and_then(retry_hint) {
            Some((ms, reason)) if calls < max_calls => {
                on_wait(ms, reason);
                clock.sleep(ms);
                waited_ms += ms;
            }
            _ => return Ok((outcome, calls, waited_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_CALLS, retry_hint, with_retries};
    use crate::runtime::clock::Clock;
    use crate::wit::{ApiFailure, ChannelError, TransportError};
    use serde_json::Value;

    /// A channel-error from its jco shape (`{tag, val}`, camelCase fields).
    fn error(v: &Value) -> ChannelError {
        let s = |v: &Value| v.as_str().unwrap().to_owned();
        let api = |v: &Value| ApiFailure {
            code: s(&v["code"]),
            message: s(&v["message"]),
            http_status: v["httpStatus"].as_u64().unwrap() as u16,
            retryable: v["retryable"].as_bool().unwrap(),
            retry_after_ms: v["retryAfterMs"].as_u64(),
        };
        let val = &v["val"];
        match v["tag"].as_str().unwrap() {
            "deferred" => ChannelError::Deferred(val.as_u64().unwrap()),
            "api" => ChannelError::Api(api(val)),
            "rate-limited" => ChannelError::RateLimited(api(val)),
            "authentication" => ChannelError::Authentication(api(val)),
            "transport" => ChannelError::Transport(TransportError {
                message: s(&val["message"]),
                retry_after_ms: val["retryAfterMs"].as_u64(),
            }),
            "timeout" => ChannelError::Timeout,
            "not-configured" => ChannelError::NotConfigured,
            "storage" => ChannelError::Storage(s(val)),
            "denied" => ChannelError::Denied(s(val)),
            "invalid-target" => ChannelError::InvalidTarget(s(val)),
            other => panic!("no case for {other}"),
        }
    }

    fn tag(e: &ChannelError) -> &'static str {
        match e {
            ChannelError::Deferred(_) => "deferred",
            ChannelError::Api(_) => "api",
            ChannelError::RateLimited(_) => "rate-limited",
            ChannelError::Transport(_) => "transport",
            _ => "other",
        }
    }

    /// The cases both hosts share (`spec/delivery.json`): the wait each error asks for, and
    /// how a run of answers ends.
    #[test]
    fn the_delivery_loop_follows_the_shared_cases() {
        let spec: Value =
            serde_json::from_str(include_str!("../../../spec/delivery.json")).unwrap();
        assert_eq!(spec["maxCalls"], MAX_CALLS);
        let hints = spec["hints"].as_array().unwrap();
        assert!(!hints.is_empty());
        for c in hints {
            let wait = retry_hint(&error(&c["error"])).map(|(ms, _)| ms);
            assert_eq!(wait, c["wait"].as_u64(), "{}", c["about"]);
        }
        let loops = spec["loops"].as_array().unwrap();
        assert!(!loops.is_empty());
        for c in loops {
            let about = &c["about"];
            let answers = c["answers"].as_array().unwrap();
            let repeat = c["repeatLast"].as_bool().unwrap_or(false);
            let mut next = 0;
            let (outcome, calls, waited) = with_retries(
                &Clock::fake(0),
                MAX_CALLS,
                |_, _| {},
                || {
                    let a = &answers[next.min(answers.len() - 1)];
                    assert!(
                        next < answers.len() || repeat,
                        "{about}: called past the answers"
                    );
                    next += 1;
                    Ok(if a == "ok" { Ok(()) } else { Err(error(a)) })
                },
            )
            .unwrap();
            let outcome = outcome.err().map_or("ok", |e| tag(&e));
            assert_eq!(outcome, c["outcome"], "{about}");
            assert_eq!(calls, c["calls"].as_u64().unwrap() as u32, "{about}");
            assert_eq!(waited, c["waited"].as_u64().unwrap(), "{about}");
        }
    }
}
