//! The workspace rate limiter: GCRA with its state in one KV record per budget, so every
//! instance and every account of a workspace shares one budget, across restarts.
//!
//! Decisions use absolute wall-clock milliseconds and compare-and-swap; an instance keeps only
//! a hint of the record's bytes (see [`Hints`]), never a decision. A KV failure is returned as
//! an error: callers fail closed and make no request.

use std::cell::RefCell;

use crate::contract::ports::{Kv, KvError};
use crate::model::config::RateConfig;
use crate::state::table::Table;

/// A `Retry-After` longer than this is treated as this (a broken header must not park sends).
pub const MAX_BLOCK_MS: u64 = 120_000;
/// The furthest ahead of a reader's clock the shared record's next slot is taken to be. Waiting
/// senders queue at most a few intervals ahead; a record further ahead was written by a host
/// whose clock runs fast, and holds the others back by this much at most.
pub const MAX_AHEAD_MS: u64 = 60_000;
const WINDOW_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 3600 * 1000;
const CAS_ATTEMPTS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Admit,
    /// Not now: try again after this many milliseconds.
    Wait(u64),
    /// A slot of this caller's own begins at this time (ms): it was counted already.
    Reserved(u64),
}

/// GCRA parameters for a budget of `budget` requests per 60 s with `burst` at once.
///
/// A burst is paid for with sustained rate (`budget - burst + 1` per minute), so it is capped
/// at `1 + budget / 20` to keep throughput at 95% of the budget or more.
///
/// The emission interval is chosen so that no 60-second window can hold more than `budget`
/// requests: a conforming sequence has at most `burst + (W - 1) / T` requests in a window of
/// `W` ms, and `T = ceil(60000 / (budget - burst + 1))` keeps that at or below `budget`.
pub fn params(budget: u32, burst: u32) -> (u64, u64) {
    let budget = budget.max(1) as u64;
    let burst = (burst as u64).clamp(1, 1 + budget / 20);
    let interval = WINDOW_MS.div_ceil(budget - burst + 1);
    (interval, (burst - 1) * interval)
}

/// The limiter's whole state for one budget, in one KV record, so that an admission is one
/// read and one compare-and-swap (or only the swap, when this instance wrote the record last).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct State {
    /// GCRA's theoretical arrival time.
    tat: u64,
    /// After a 429: nobody calls before this.
    blocked: u64,
    /// KakaoWork's `RateLimit-Limit`, in force until `limit_until`.
    limit: u64,
    limit_until: u64,
    /// Requests admitted before KakaoWork reported its limit, counted until `unreported_until`.
    unreported: u64,
    unreported_until: u64,
}

impl State {
    /// An unreadable record reads as empty: the limiter starts over rather than stop sending.
    fn decode(raw: Option<&[u8]>) -> Self {
        let mut n = raw
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
            .split(' ')
            .map(|f| f.parse::<u64>().ok());
        let mut next = || n.next().flatten();
        match (next(), next(), next(), next(), next(), next()) {
            (Some(tat), Some(blocked), Some(limit), Some(lu), Some(unrep), Some(uu)) => Self {
                tat,
                blocked,
                limit,
                limit_until: lu,
                unreported: unrep,
                unreported_until: uu,
            },
            _ => Self::default(),
        }
    }

    /// The record as a host at `now` takes it: no slot further ahead than [`MAX_AHEAD_MS`] and
    /// no block longer than a `Retry-After` can make (with its jitter), whatever clock wrote it.
    fn bounded(mut self, now: u64) -> Self {
        self.tat = self.tat.min(now.saturating_add(MAX_AHEAD_MS));
        self.blocked = self.blocked.min(now.saturating_add(MAX_BLOCK_MS + 1000));
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = String::with_capacity(64);
        for (i, n) in [
            self.tat,
            self.blocked,
            self.limit,
            self.limit_until,
            self.unreported,
            self.unreported_until,
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push(' ');
            }
            crate::model::text::push_u64(&mut out, n);
        }
        out.into_bytes()
    }

    fn reported(&self, now: u64) -> u64 {
        if now < self.limit_until {
            self.limit
        } else {
            0
        }
    }

    /// The same limit, remembered for at least half a day more: nothing to write.
    fn knows_limit(&self, n: u64, now: u64) -> bool {
        self.reported(now) == n && self.limit_until > now + DAY_MS / 2
    }

    fn unreported(&self, now: u64) -> u64 {
        if now < self.unreported_until {
            self.unreported
        } else {
            0
        }
    }

    /// The record lives as long as any part of it matters.
    fn ttl(&self, now: u64) -> u64 {
        [
            self.tat.saturating_add(WINDOW_MS),
            self.blocked.saturating_add(1000),
            self.limit_until,
            self.unreported_until,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
        .saturating_sub(now)
        .max(1000)
    }
}

/// A budget's record as this limiter last read or wrote it: its bytes (what the next
/// compare-and-swap expects) and what they say, decoded once.
#[derive(Debug, Clone)]
pub struct Seen {
    raw: Option<Vec<u8>>,
    state: State,
}

impl Seen {
    fn new(raw: Option<Vec<u8>>) -> Self {
        let state = State::decode(raw.as_deref());
        Self { raw, state }
    }
}

/// What one instance last read or wrote of each budget's record, kept between calls: when no
/// other instance wrote since, the next compare-and-swap needs no read before it. A stale hint
/// only costs a failed swap and a read.
pub type Hints = Table<String, Seen>;

pub struct Limiter<'a> {
    kv: &'a dyn Kv,
    key: String,
    config: RateConfig,
    /// The record as this limiter last saw it (`None`: not known, read it first).
    seen: RefCell<Option<Seen>>,
    hints: Option<&'a Hints>,
}

impl Drop for Limiter<'_> {
    fn drop(&mut self) {
        if let (Some(h), Some(seen)) = (self.hints, self.seen.get_mut().take()) {
            h.put(std::mem::take(&mut self.key), seen);
        }
    }
}

impl<'a> Limiter<'a> {
    /// `key` names the budget: `ws:<workspace id>`, or `acct:<account>` until that is known.
    pub fn new(kv: &'a dyn Kv, key: &str, config: RateConfig) -> Self {
        Self {
            kv,
            key: crate::state::keys::rate_limit(key),
            config,
            seen: RefCell::new(None),
            hints: None,
        }
    }

    /// A limiter that starts from, and leaves behind, this instance's hint for its record.
    pub fn with_hints(kv: &'a dyn Kv, key: &str, config: RateConfig, hints: &'a Hints) -> Self {
        let mut l = Self::new(kv, key, config);
        *l.seen.get_mut() = hints.take(&l.key);
        l.hints = Some(hints);
        l
    }

    /// The record as last seen, read from KV when not known.
    fn seen(&self) -> Result<Seen, KvError> {
        match self.seen.take() {
            Some(seen) => Ok(seen),
            None => Ok(Seen::new(self.kv.get(&self.key)?)),
        }
    }

    fn state(&self) -> Result<State, KvError> {
        let seen = self.seen()?;
        let state = seen.state;
        *self.seen.borrow_mut() = Some(seen);
        Ok(state)
    }

    /// Changes the record as `f` says (`f` returns whether to write, and its answer), by
    /// compare-and-swap against what was last seen; on a lost race it reads and tries again.
    /// `None`: still losing after [`CAS_ATTEMPTS`] (heavy contention). After a KV failure the
    /// record is read again before its next change.
    fn update<R>(
        &self,
        now: u64,
        mut f: impl FnMut(&mut State) -> (bool, R),
    ) -> Result<Option<R>, KvError> {
        let mut seen = self.seen()?;
        for _ in 0..CAS_ATTEMPTS {
            let mut s = seen.state.bounded(now);
            let (write, answer) = f(&mut s);
            if !write {
                *self.seen.borrow_mut() = Some(seen);
                return Ok(Some(answer));
            }
            let bytes = s.encode();
            if self.kv.compare_and_swap(
                &self.key,
                seen.raw.as_deref(),
                Some(&bytes),
                Some(s.ttl(now)),
            )? {
                *self.seen.borrow_mut() = Some(Seen {
                    raw: Some(bytes),
                    state: s,
                });
                return Ok(Some(answer));
            }
            seen = Seen::new(self.kv.get(&self.key)?);
        }
        *self.seen.borrow_mut() = Some(seen);
        Ok(None)
    }

    /// The budget in force: the configured one, lowered by what KakaoWork reported.
    pub fn budget(&self, now: u64) -> Result<u32, KvError> {
        Ok(self.effective(self.state()?.reported(now)))
    }

    fn effective(&self, reported: u64) -> u32 {
        let configured = self.config.requests_per_minute.max(1);
        match reported {
            0 => configured,
            r => configured.min(r.min(u32::MAX as u64) as u32),
        }
    }

    /// Until KakaoWork has reported its limit, requests are counted (for a minute after the
    /// last one): a lower limit learned later must count them too.
    fn count_unreported(s: &mut State, now: u64) {
        if s.reported(now) == 0 {
            s.unreported = s.unreported(now) + 1;
            s.unreported_until = now + WINDOW_MS;
        }
    }

    /// Milliseconds until a recorded 429 block ends (0 when none).
    pub fn blocked_for(&self, now: u64) -> Result<u64, KvError> {
        Ok(self.state()?.bounded(now).blocked.saturating_sub(now))
    }

    /// May one request go now? Admission reserves its slot.
    pub fn admit(&self, now: u64) -> Result<Decision, KvError> {
        self.take(now, false)
    }

    /// As [`Self::admit`], but a caller that must wait gets a slot of its own: the arrival time
    /// moves on by one interval and the caller learns when its slot begins. Callers that wait
    /// are served in the order they came instead of racing for each freed slot, which the
    /// quickest instance would always win.
    pub fn reserve(&self, now: u64) -> Result<Decision, KvError> {
        self.take(now, true)
    }

    /// A slot now, or (`reserving`) the next free one, counted at once; otherwise how long to
    /// wait for one.
    fn take(&self, now: u64, reserving: bool) -> Result<Decision, KvError> {
        let decision = self.update(now, |s| {
            if s.blocked > now {
                return (false, Decision::Wait(s.blocked - now));
            }
            let (interval, tolerance) = params(self.effective(s.reported(now)), self.config.burst);
            let at = s.tat.saturating_sub(tolerance).max(now);
            if at > now && !reserving {
                return (false, Decision::Wait(at - now));
            }
            s.tat = s.tat.max(now) + interval;
            Self::count_unreported(s, now);
            (
                true,
                if at == now {
                    Decision::Admit
                } else {
                    Decision::Reserved(at)
                },
            )
        })?;
        // Heavy contention: back off one interval rather than spin.
        Ok(decision.unwrap_or_else(|| {
            Decision::Wait(params(self.config.requests_per_minute, self.config.burst).0)
        }))
    }

    /// Give back an admission that no request used (its slot goes to the next caller).
    pub fn refund(&self, now: u64) -> Result<(), KvError> {
        self.update(now, |s| {
            if s.tat <= now {
                return (false, ());
            }
            let (interval, _) = params(self.effective(s.reported(now)), self.config.burst);
            s.tat = s.tat.saturating_sub(interval).max(now);
            if s.unreported(now) > 0 {
                s.unreported -= 1;
            }
            (true, ())
        })?;
        Ok(())
    }

    /// Count a request that was made outside this budget (e.g. before the workspace was known).
    pub fn charge(&self, now: u64) -> Result<(), KvError> {
        self.update(now, |s| {
            let (interval, _) = params(self.effective(s.reported(now)), self.config.burst);
            s.tat = s.tat.max(now) + interval;
            Self::count_unreported(s, now);
            (true, ())
        })?;
        Ok(())
    }

    /// KakaoWork's `RateLimit-Limit`, remembered for a day. The budget is the lower of it and
    /// the configured one. When it lowers the budget, the requests made before it was known
    /// are paid again at the new pace, so that no 60-second window holds more than it allows.
    pub fn observe_limit(&self, header: Option<&str>, now: u64) -> Result<(), KvError> {
        let Some(n) = reported_limit(header) else {
            return Ok(());
        };
        self.update(now, |s| {
            if s.knows_limit(n, now) {
                return (false, ());
            }
            let reported = s.reported(now);
            let before = self.effective(reported);
            let after = self.effective(n);
            if after < before {
                let (interval, _) = params(after, self.config.burst);
                s.tat = s.tat.max(now) + s.unreported(now) * interval;
            }
            s.limit = n;
            s.limit_until = now + DAY_MS;
            (true, ())
        })?;
        Ok(())
    }

    /// Whether observing `header` at `now` would change nothing: it carries no usable limit, or
    /// the one on record, which stays remembered for more than half a day. The margin lets a
    /// time read before a request stand in for the time its answer came.
    pub fn limit_is_known(&self, header: Option<&str>, now: u64) -> Result<bool, KvError> {
        match reported_limit(header) {
            None => Ok(true),
            Some(n) => Ok(self.state()?.knows_limit(n, now)),
        }
    }

    /// After a 429: nobody calls before `until` (only ever moved later).
    pub fn block_until(&self, now: u64, until: u64) -> Result<(), KvError> {
        self.update(now, |s| {
            if s.blocked >= until {
                return (false, ());
            }
            s.blocked = until;
            (true, ())
        })?;
        Ok(())
    }
}

/// The limit a `RateLimit-Limit` header reports; none when it is missing, not a number, or 0.
fn reported_limit(header: Option<&str>) -> Option<u64> {
    match header?.trim().parse::<u32>() {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n.into()),
    }
}

/// When to call again after a 429: `Retry-After` bounded to [1 s, 2 min], plus up to 1 s of
/// jitter so that instances do not return in lockstep.
pub fn retry_after_block(retry_after_ms: Option<u64>, random: u64) -> u64 {
    retry_after_ms.unwrap_or(1000).clamp(1000, MAX_BLOCK_MS) + random % 1000
}

/// Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)].
pub fn backoff_ms(attempt: u32, random: u64) -> u64 {
    const BASE: u64 = 500;
    const CAP: u64 = 30_000;
    let ceiling = BASE.saturating_mul(1u64 << attempt.min(16)).min(CAP);
    random % (ceiling + 1)
}

#[cfg(test)]
mod tests;
