//! The workspace rate limiter: GCRA with its state in one KV record per budget, so every
//! instance and every account of a workspace shares one budget, across restarts.
//!
//! Decisions use absolute wall-clock milliseconds and compare-and-swap; an instance keeps only
//! a hint of the record's bytes (see [`Hints`]), never a decision. A KV failure is returned as
//! an error: callers fail closed and make no request.

use std::cell::RefCell;

use crate::memo::Table;
use crate::ports::{Kv, KvError};

pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 200;
pub const DEFAULT_BURST: u32 = 5;
/// A `Retry-After` longer than this is treated as this (a broken header must not park sends).
pub const MAX_BLOCK_MS: u64 = 120_000;
const WINDOW_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 3600 * 1000;
const CAS_ATTEMPTS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    pub requests_per_minute: u32,
    pub burst: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            burst: DEFAULT_BURST,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Admit,
    /// Not now: try again after this many milliseconds.
    Wait(u64),
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

    fn encode(&self) -> Vec<u8> {
        format!(
            "{} {} {} {} {} {}",
            self.tat,
            self.blocked,
            self.limit,
            self.limit_until,
            self.unreported,
            self.unreported_until
        )
        .into_bytes()
    }

    fn reported(&self, now: u64) -> u64 {
        if now < self.limit_until {
            self.limit
        } else {
            0
        }
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

/// What one instance last read or wrote of each budget's record, kept between calls: when no
/// other instance wrote since, the next compare-and-swap needs no read before it. A stale hint
/// only costs a failed swap and a read.
pub type Hints = Table<String, Option<Vec<u8>>>;

pub struct Limiter<'a> {
    kv: &'a dyn Kv,
    key: String,
    config: RateConfig,
    /// The record as this limiter last saw it (`None`: not known, read it first).
    seen: RefCell<Option<Option<Vec<u8>>>>,
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
            key: format!("rl/v2/{key}"),
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

    fn current(&self) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(seen) = self.seen.borrow().as_ref() {
            return Ok(seen.clone());
        }
        let raw = self.kv.get(&self.key)?;
        *self.seen.borrow_mut() = Some(raw.clone());
        Ok(raw)
    }

    fn state(&self) -> Result<State, KvError> {
        Ok(State::decode(self.current()?.as_deref()))
    }

    /// Changes the record as `f` says (`f` returns whether to write, and its answer), by
    /// compare-and-swap against what was last seen; on a lost race it reads and tries again.
    /// `None`: still losing after [`CAS_ATTEMPTS`] (heavy contention).
    fn update<R>(
        &self,
        now: u64,
        mut f: impl FnMut(&mut State) -> (bool, R),
    ) -> Result<Option<R>, KvError> {
        let mut current = self.current()?;
        for _ in 0..CAS_ATTEMPTS {
            let mut s = State::decode(current.as_deref());
            let (write, answer) = f(&mut s);
            if !write {
                return Ok(Some(answer));
            }
            let bytes = s.encode();
            if self.kv.compare_and_swap(
                &self.key,
                current.as_deref(),
                Some(&bytes),
                Some(s.ttl(now)),
            )? {
                *self.seen.borrow_mut() = Some(Some(bytes));
                return Ok(Some(answer));
            }
            current = self.kv.get(&self.key)?;
            *self.seen.borrow_mut() = Some(current.clone());
        }
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
        Ok(self.state()?.blocked.saturating_sub(now))
    }

    /// May one request go now? Admission reserves its slot.
    pub fn admit(&self, now: u64) -> Result<Decision, KvError> {
        let decision = self.update(now, |s| {
            if s.blocked > now {
                return (false, Decision::Wait(s.blocked - now));
            }
            let (interval, tolerance) = params(self.effective(s.reported(now)), self.config.burst);
            if s.tat > now + tolerance {
                return (false, Decision::Wait(s.tat - tolerance - now));
            }
            s.tat = s.tat.max(now) + interval;
            Self::count_unreported(s, now);
            (true, Decision::Admit)
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
        let Some(n) = header.and_then(|h| h.trim().parse::<u32>().ok()) else {
            return Ok(());
        };
        if n == 0 {
            return Ok(());
        }
        let n = n as u64;
        self.update(now, |s| {
            let reported = s.reported(now);
            // The same limit, remembered for at least half a day more: nothing to write.
            if reported == n && s.limit_until > now + DAY_MS / 2 {
                return (false, ());
            }
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
mod tests {
    use super::*;
    use crate::fakes::MemoryKv;

    /// Run a saturated sender for `duration` ms; return the admission times.
    fn saturate(limiters: &[Limiter<'_>], duration: u64) -> Vec<u64> {
        let mut now = 0;
        let mut times = vec![];
        let mut next = vec![0u64; limiters.len()];
        while now < duration {
            let (i, t) = next
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, t)| *t)
                .unwrap();
            now = t;
            match limiters[i].admit(now).unwrap() {
                Decision::Admit => times.push(now),
                Decision::Wait(ms) => next[i] = now + ms.max(1),
            }
        }
        times
    }

    fn max_in_window(times: &[u64]) -> usize {
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi] - times[lo] >= 60_000 {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    #[test]
    fn no_window_exceeds_the_budget_and_throughput_is_high() {
        for (budget, burst) in [(200, 5), (100, 5), (60, 1), (10, 10), (200, 200)] {
            let kv = MemoryKv::default();
            let cfg = RateConfig {
                requests_per_minute: budget,
                burst,
            };
            let l = Limiter::new(&kv, "ws:1", cfg);
            let times = saturate(&[l], 600_000);
            assert!(
                max_in_window(&times) <= budget as usize,
                "{budget}/{burst}: {}",
                max_in_window(&times)
            );
            let per_min = times.len() as f64 / 10.0;
            assert!(
                per_min >= budget as f64 * 0.95 - 1.0,
                "{budget}/{burst}: {per_min}/min"
            );
        }
    }

    #[test]
    fn instances_share_one_budget_through_kv() {
        let kv = MemoryKv::default();
        let cfg = RateConfig::default();
        let ls: Vec<_> = (0..4).map(|_| Limiter::new(&kv, "ws:1", cfg)).collect();
        let times = saturate(&ls, 300_000);
        assert!(max_in_window(&times) <= 200);
        assert!(times.len() as f64 / 5.0 >= 190.0);
    }

    #[test]
    fn burst_then_spacing() {
        let kv = MemoryKv::default();
        let l = Limiter::new(
            &kv,
            "a",
            RateConfig {
                requests_per_minute: 60,
                burst: 3,
            },
        );
        for _ in 0..3 {
            assert_eq!(l.admit(0).unwrap(), Decision::Admit);
        }
        let (interval, _) = params(60, 3);
        assert_eq!(l.admit(0).unwrap(), Decision::Wait(interval));
        assert_eq!(l.admit(interval).unwrap(), Decision::Admit);
    }

    #[test]
    fn reported_limit_lowers_the_budget_but_never_above_the_configured_one() {
        let kv = MemoryKv::default();
        let l = Limiter::new(&kv, "ws:1", RateConfig::default());
        l.observe_limit(Some("100"), 0).unwrap();
        assert_eq!(l.budget(0).unwrap(), 100);
        l.observe_limit(Some("garbage"), 0).unwrap();
        assert_eq!(l.budget(0).unwrap(), 100);
        l.observe_limit(Some("500"), 0).unwrap();
        assert_eq!(l.budget(0).unwrap(), 200, "the configured budget caps it");
    }

    #[test]
    fn requests_made_before_a_lower_limit_was_known_count_against_it() {
        // Five requests go at the configured 200/min before the first answer says 100.
        let kv = MemoryKv::default();
        let l = Limiter::new(&kv, "ws:1", RateConfig::default());
        let mut admitted = vec![];
        let mut now = 0;
        while admitted.len() < 5 {
            match l.admit(now).unwrap() {
                Decision::Admit => admitted.push(now),
                Decision::Wait(ms) => now += ms,
            }
        }
        l.observe_limit(Some("100"), now).unwrap();
        // Then it runs flat out for two minutes: no 60 s window may hold more than 100.
        while now < 120_000 {
            match l.admit(now).unwrap() {
                Decision::Admit => admitted.push(now),
                Decision::Wait(ms) => now += ms,
            }
        }
        let worst = admitted
            .iter()
            .map(|&t| {
                admitted
                    .iter()
                    .filter(|&&u| u >= t && u < t + 60_000)
                    .count()
            })
            .max()
            .unwrap();
        assert!(worst <= 100, "{worst} requests in one window");
        assert!(worst >= 95, "and the budget is still used: {worst}");
        // The limit is remembered for the budget.
        assert_eq!(
            Limiter::new(&kv, "ws:1", RateConfig::default())
                .budget(now)
                .unwrap(),
            100
        );
    }

    #[test]
    fn block_until_defers_everyone_and_only_moves_later() {
        let kv = MemoryKv::default();
        let l = Limiter::new(&kv, "ws:1", RateConfig::default());
        l.block_until(0, 5_000).unwrap();
        l.block_until(0, 3_000).unwrap();
        assert_eq!(l.admit(1_000).unwrap(), Decision::Wait(4_000));
        let other = Limiter::new(&kv, "ws:1", RateConfig::default());
        assert_eq!(other.admit(2_000).unwrap(), Decision::Wait(3_000));
        assert_eq!(l.admit(5_000).unwrap(), Decision::Admit);
    }

    #[test]
    fn an_instance_that_wrote_last_admits_with_one_call_and_a_stale_hint_costs_a_read() {
        let kv = MemoryKv::default();
        let hints = Hints::new(16);
        let cfg = RateConfig::default();
        let admit = |now| {
            Limiter::with_hints(&kv, "ws:1", cfg, &hints)
                .admit(now)
                .unwrap()
        };
        assert_eq!(admit(0), Decision::Admit);
        let before = kv.calls.get();
        assert_eq!(admit(1000), Decision::Admit);
        assert_eq!(kv.calls.get() - before, 1, "only the compare-and-swap");
        // Another instance spends the rest of the burst: the hint is stale.
        let other = Limiter::new(&kv, "ws:1", cfg);
        while other.admit(1000).unwrap() == Decision::Admit {}
        let before = kv.calls.get();
        assert!(
            matches!(admit(1000), Decision::Wait(_)),
            "it sees the other's slots"
        );
        assert_eq!(kv.calls.get() - before, 2, "a failed swap, then a read");
    }

    #[test]
    fn kv_failure_fails_closed() {
        let kv = MemoryKv::default();
        kv.fail.set(true);
        let l = Limiter::new(&kv, "ws:1", RateConfig::default());
        assert!(l.admit(0).is_err());
    }

    #[test]
    fn backoff_and_retry_after_are_bounded() {
        for attempt in 0..40 {
            for r in [0, 1, 12345, u64::MAX] {
                assert!(backoff_ms(attempt, r) <= 30_000);
            }
        }
        assert!(backoff_ms(0, u64::MAX) <= 500);
        assert_eq!(retry_after_block(Some(10 * 3600 * 1000), 0), MAX_BLOCK_MS);
        assert_eq!(retry_after_block(Some(0), 999), 1999);
        assert_eq!(retry_after_block(None, 0), 1000);
    }
}
