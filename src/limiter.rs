//! The workspace rate limiter: GCRA with its one timestamp per key kept in KV, so every
//! instance and every account of a workspace shares one budget, across restarts.
//!
//! Decisions use absolute wall-clock milliseconds and compare-and-swap, never instance state.
//! A KV failure is returned as an error: callers fail closed and make no request.

use crate::ports::{Kv, KvError};

pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 200;
pub const DEFAULT_BURST: u32 = 5;
/// A `Retry-After` longer than this is treated as this (a broken header must not park sends).
pub const MAX_BLOCK_MS: u64 = 120_000;
const WINDOW_MS: u64 = 60_000;
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

fn parse_u64(v: Option<&[u8]>) -> u64 {
    v.and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub struct Limiter<'a> {
    kv: &'a dyn Kv,
    key: String,
    config: RateConfig,
}

impl<'a> Limiter<'a> {
    /// `key` names the budget: `ws:<workspace id>`, or `acct:<account>` until that is known.
    pub fn new(kv: &'a dyn Kv, key: &str, config: RateConfig) -> Self {
        Self {
            kv,
            key: key.to_owned(),
            config,
        }
    }

    fn k(&self, part: &str) -> String {
        format!("rl/v1/{}/{part}", self.key)
    }

    /// The budget in force: the configured one, lowered by what KakaoWork reported.
    pub fn budget(&self) -> Result<u32, KvError> {
        Ok(self.effective(self.reported()?))
    }

    fn effective(&self, reported: u64) -> u32 {
        let configured = self.config.requests_per_minute.max(1);
        match reported {
            0 => configured,
            r => configured.min(r.min(u32::MAX as u64) as u32),
        }
    }

    fn reported(&self) -> Result<u64, KvError> {
        Ok(parse_u64(self.kv.get(&self.k("limit"))?.as_deref()))
    }

    /// Sets the number under `part` to what `next` makes of it (`None`: leave it), with its
    /// TTL, by compare-and-swap; under heavy contention it gives up, as every caller may.
    fn update(&self, part: &str, next: impl Fn(u64) -> Option<(u64, u64)>) -> Result<(), KvError> {
        let key = self.k(part);
        for _ in 0..CAS_ATTEMPTS {
            let current = self.kv.get(&key)?;
            let Some((value, ttl)) = next(parse_u64(current.as_deref())) else {
                return Ok(());
            };
            let bytes = value.to_string();
            if self.kv.compare_and_swap(
                &key,
                current.as_deref(),
                Some(bytes.as_bytes()),
                Some(ttl),
            )? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Moves the theoretical arrival time `by` ms past the later of itself and `now`.
    fn push_tat(&self, now: u64, by: u64) -> Result<(), KvError> {
        self.update("tat", |tat| {
            let next = tat.max(now) + by;
            Some((next, next - now + WINDOW_MS))
        })
    }

    /// Until KakaoWork has reported its limit (`reported` is 0), requests are counted (for a
    /// minute after the last one): a lower limit learned later must count them too.
    fn count_unreported(&self, reported: u64) -> Result<(), KvError> {
        if reported != 0 {
            return Ok(());
        }
        self.update("unreported", |n| Some((n + 1, WINDOW_MS)))
    }

    /// Milliseconds until a recorded 429 block ends (0 when none).
    pub fn blocked_for(&self, now: u64) -> Result<u64, KvError> {
        Ok(parse_u64(self.kv.get(&self.k("blocked"))?.as_deref()).saturating_sub(now))
    }

    /// May one request go now? Admission reserves its slot.
    pub fn admit(&self, now: u64) -> Result<Decision, KvError> {
        let blocked = parse_u64(self.kv.get(&self.k("blocked"))?.as_deref());
        if blocked > now {
            return Ok(Decision::Wait(blocked - now));
        }
        let reported = self.reported()?;
        let (interval, tolerance) = params(self.effective(reported), self.config.burst);
        let key = self.k("tat");
        for _ in 0..CAS_ATTEMPTS {
            let current = self.kv.get(&key)?;
            let tat = parse_u64(current.as_deref());
            if tat > now + tolerance {
                return Ok(Decision::Wait(tat - tolerance - now));
            }
            let next = tat.max(now) + interval;
            let ttl = next - now + WINDOW_MS;
            if self.kv.compare_and_swap(
                &key,
                current.as_deref(),
                Some(next.to_string().as_bytes()),
                Some(ttl),
            )? {
                self.count_unreported(reported)?;
                return Ok(Decision::Admit);
            }
        }
        // Heavy contention: back off one interval rather than spin.
        Ok(Decision::Wait(interval))
    }

    /// Count a request that was made outside this budget (e.g. before the workspace was known).
    pub fn charge(&self, now: u64) -> Result<(), KvError> {
        let reported = self.reported()?;
        let (interval, _) = params(self.effective(reported), self.config.burst);
        self.push_tat(now, interval)?;
        self.count_unreported(reported)
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
        let reported = self.reported()?;
        if reported == n as u64 {
            return Ok(());
        }
        let before = self.effective(reported);
        self.kv.set(
            &self.k("limit"),
            n.to_string().as_bytes(),
            Some(24 * 3600 * 1000),
        )?;
        let after = self.effective(n as u64);
        if after >= before {
            return Ok(());
        }
        let unreported = parse_u64(self.kv.get(&self.k("unreported"))?.as_deref());
        let (interval, _) = params(after, self.config.burst);
        self.push_tat(now, unreported * interval)
    }

    /// After a 429: nobody calls before `until` (only ever moved later).
    pub fn block_until(&self, now: u64, until: u64) -> Result<(), KvError> {
        self.update("blocked", |blocked| {
            (blocked < until).then(|| (until, until.saturating_sub(now) + 1000))
        })
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
        assert_eq!(l.budget().unwrap(), 100);
        l.observe_limit(Some("garbage"), 0).unwrap();
        assert_eq!(l.budget().unwrap(), 100);
        l.observe_limit(Some("500"), 0).unwrap();
        assert_eq!(l.budget().unwrap(), 200, "the configured budget caps it");
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
        // Once the limit is known, nothing more is counted.
        assert!(kv.get("rl/v1/ws:1/limit").unwrap().is_some());
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
