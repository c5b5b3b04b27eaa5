//! The host's delivery loop: call `send` until the message is delivered, honouring the
//! plugin's deferrals and retry hints by sleeping on the host clock (instantly on a fake one).

use crate::runtime::Plugin;
use crate::runtime::clock::Clock;
use crate::wit::{ChannelError, SendReceipt, SendRequest};

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
