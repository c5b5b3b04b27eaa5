use super::*;
use crate::fakes::MemoryKv;

/// The sender due first, and when.
fn earliest(next: &[u64]) -> (usize, u64) {
    next.iter()
        .copied()
        .enumerate()
        .min_by_key(|(_, t)| *t)
        .expect("at least one sender")
}

/// Run a saturated sender for `duration` ms; return the admission times.
fn saturate(limiters: &[Limiter<'_>], duration: u64) -> Vec<u64> {
    let mut now = 0;
    let mut times = vec![];
    let mut next = vec![0u64; limiters.len()];
    while now < duration {
        let (i, t) = earliest(&next);
        now = t;
        match limiters[i].admit(now).unwrap() {
            Decision::Admit => times.push(now),
            Decision::Wait(ms) => next[i] = now + ms.max(1),
            Decision::Reserved(_) => unreachable!("admit reserves nothing"),
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
fn a_limit_on_record_with_half_a_day_left_is_known_and_anything_else_is_observed() {
    let kv = MemoryKv::default();
    let l = Limiter::new(&kv, "ws:1", RateConfig::default());
    // Nothing usable in the header: observing it would change nothing.
    for header in [None, Some("garbage"), Some("0"), Some("-5")] {
        assert!(l.limit_is_known(header, 0).unwrap(), "{header:?}");
    }
    assert!(
        !l.limit_is_known(Some("100"), 0).unwrap(),
        "no limit on record yet"
    );
    l.observe_limit(Some("100"), 0).unwrap();
    assert!(l.limit_is_known(Some(" 100 "), 1_000).unwrap());
    assert!(!l.limit_is_known(Some("90"), 1_000).unwrap(), "a new limit");
    // Within half a day of being forgotten, it is written again (an earlier time read stands
    // in for the answer's only that far).
    assert!(l.limit_is_known(Some("100"), DAY_MS / 2 - 1).unwrap());
    assert!(!l.limit_is_known(Some("100"), DAY_MS / 2).unwrap());
    // `limit_is_known` only reads: the record is the one the first observation wrote.
    let written = kv.get("ws:1").unwrap();
    l.limit_is_known(Some("90"), 1_000).unwrap();
    assert_eq!(kv.get("ws:1").unwrap(), written);
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
            Decision::Reserved(_) => unreachable!("admit reserves nothing"),
        }
    }
    l.observe_limit(Some("100"), now).unwrap();
    // Then it runs flat out for two minutes: no 60 s window may hold more than 100.
    while now < 120_000 {
        match l.admit(now).unwrap() {
            Decision::Admit => admitted.push(now),
            Decision::Wait(ms) => now += ms,
            Decision::Reserved(_) => unreachable!("admit reserves nothing"),
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

/// Saturated callers, caller `i` taking `latency[i]` ms to come back after each answer, for
/// `duration` ms: the times each one's requests went out.
fn contend(reserving: bool, latency: &[u64], duration: u64) -> Vec<Vec<u64>> {
    let kv = MemoryKv::default();
    let limiters: Vec<Limiter<'_>> = latency
        .iter()
        .map(|_| Limiter::new(&kv, "ws:1", RateConfig::default()))
        .collect();
    let mut sent = vec![Vec::new(); latency.len()];
    let mut next = vec![0u64; latency.len()];
    let mut held: Vec<Option<u64>> = vec![None; latency.len()];
    loop {
        let (i, now) = earliest(&next);
        if now >= duration {
            return sent;
        }
        if let Some(at) = held[i].take() {
            // Back for its own slot (it was counted when reserved).
            assert!(now >= at);
            sent[i].push(now);
            next[i] = now + latency[i];
            continue;
        }
        let d = if reserving {
            limiters[i].reserve(now)
        } else {
            limiters[i].admit(now)
        };
        match d.unwrap() {
            Decision::Admit => {
                sent[i].push(now);
                next[i] = now + latency[i];
            }
            Decision::Wait(ms) => next[i] = now + ms.max(1) + latency[i],
            Decision::Reserved(at) => {
                held[i] = Some(at);
                next[i] = at + latency[i];
            }
        }
    }
}

#[test]
fn waiting_callers_are_served_in_turn_however_quick_each_one_is() {
    // Four instances sharing a budget, one much slower to come back (a host whose store is
    // farther away): racing for each freed slot, the quickest wins nearly all of them.
    let latency = [0, 1, 3, 25];
    let racing = contend(false, &latency, 600_000);
    let total: usize = racing.iter().map(Vec::len).sum();
    assert!(
        racing[3].len() * 10 < total,
        "racing: the slow caller got {} of {total}",
        racing[3].len()
    );

    // With slots of their own, each gets its turn, the budget holds and is used.
    let fair = contend(true, &latency, 600_000);
    let total: usize = fair.iter().map(Vec::len).sum();
    for (i, times) in fair.iter().enumerate() {
        assert!(
            times.len() * 100 >= total * 23,
            "caller {i} (latency {} ms) got {} of {total}",
            latency[i],
            times.len()
        );
    }
    let mut all: Vec<u64> = fair.concat();
    all.sort_unstable();
    assert!(max_in_window(&all) <= 200, "{}", max_in_window(&all));
    let per_min = total as f64 / 10.0;
    assert!(per_min >= 190.0, "{per_min}/min");
}

#[test]
fn a_reservation_is_counted_when_made_and_a_block_reserves_nothing() {
    let kv = MemoryKv::default();
    let cfg = RateConfig {
        requests_per_minute: 60,
        burst: 1,
    };
    let l = Limiter::new(&kv, "ws:1", cfg);
    assert_eq!(l.reserve(0).unwrap(), Decision::Admit);
    assert_eq!(l.reserve(0).unwrap(), Decision::Reserved(1000));
    assert_eq!(l.reserve(10).unwrap(), Decision::Reserved(2000));
    // The plain admission sees the reserved slots taken.
    assert_eq!(l.admit(500).unwrap(), Decision::Wait(2500));
    l.block_until(600, 30_000).unwrap();
    assert_eq!(l.reserve(700).unwrap(), Decision::Wait(29_300));
    assert_eq!(l.reserve(30_000).unwrap(), Decision::Admit);
}

#[test]
fn the_record_reads_back_what_was_written_and_anything_else_reads_as_empty() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::with_cases(512),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    runner
        .run(&proptest::array::uniform6(any::<u64>()), |f| {
            let s = State {
                tat: f[0],
                blocked: f[1],
                limit: f[2],
                limit_until: f[3],
                unreported: f[4],
                unreported_until: f[5],
            };
            prop_assert_eq!(State::decode(Some(&s.encode())), s);
            Ok(())
        })
        .unwrap();
    let full = State {
        tat: 1,
        blocked: 2,
        limit: 3,
        limit_until: 4,
        unreported: 5,
        unreported_until: 6,
    };
    assert_eq!(State::decode(Some(b"1 2 3 4 5 6 a later field")), full);
    for bad in [
        &b""[..],
        b"1 2 3 4 5",
        b"1 2 3 4 5 ",
        b"1 2 3 4 5 x",
        b"1  2 3 4 5 6",
        b" 1 2 3 4 5 6",
        b"1 2 3 4 5 -6",
        b"1 2 3 4 5 18446744073709551616",
        b"1\t2 3 4 5 6",
    ] {
        assert_eq!(
            State::decode(Some(bad)),
            State::default(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(State::decode(None), State::default());
}

#[test]
fn a_hint_saves_the_read_and_a_stale_one_costs_one_failed_swap() {
    let kv = MemoryKv::default();
    let hints = Hints::new(4);
    let cfg = RateConfig {
        requests_per_minute: 60,
        burst: 1,
    };
    // The first admission reads the record; the ones after start from this instance's hint.
    for (i, now) in [0u64, 1000, 2000].into_iter().enumerate() {
        let l = Limiter::with_hints(&kv, "ws:1", cfg, &hints);
        assert_eq!(l.admit(now).unwrap(), Decision::Admit);
        l.observe_limit(Some("200"), now).unwrap();
        assert_eq!(kv.gets.get(), 1, "admission {i}");
    }
    // Only the first report of the limit is written: the same limit later changes nothing.
    assert_eq!(kv.swaps.get(), 4);
    // Another instance admits meanwhile: this one's hint is stale, its swap fails, it reads,
    // and it still sees the other's admission.
    let other = Limiter::new(&kv, "ws:1", cfg);
    assert_eq!(other.admit(3000).unwrap(), Decision::Admit);
    let (gets, swaps) = (kv.gets.get(), kv.swaps.get());
    let l = Limiter::with_hints(&kv, "ws:1", cfg, &hints);
    assert_eq!(l.admit(4000).unwrap(), Decision::Admit);
    assert_eq!((kv.gets.get() - gets, kv.swaps.get() - swaps), (1, 2));
    assert_eq!(l.admit(4000).unwrap(), Decision::Wait(1000));
}

/// A host whose clock runs 10 minutes ahead writes the shared record in its own time: another
/// host waits at most [`MAX_AHEAD_MS`] for a slot, and at most a `Retry-After`'s longest block
/// after that host's 429, not ten minutes.
#[test]
fn a_host_with_its_clock_ahead_holds_the_others_back_a_bounded_time() {
    let kv = MemoryKv::default();
    let config = RateConfig::default();
    let (fast, right) = (
        Limiter::new(&kv, "ws:1", config),
        Limiter::new(&kv, "ws:1", config),
    );
    let real = 1_700_000_000_000;
    let ahead = real + 10 * 60_000;
    // The fast host sends a burst and more (its slots run into its own future).
    for _ in 0..20 {
        let _ = fast.reserve(ahead).unwrap();
    }
    let wait = match right.admit(real).unwrap() {
        Decision::Wait(ms) => ms,
        d => panic!("{d:?}"),
    };
    assert!(wait <= MAX_AHEAD_MS, "{wait} ms");
    match right.reserve(real).unwrap() {
        Decision::Reserved(at) => assert!(at - real <= MAX_AHEAD_MS + 1000, "{}", at - real),
        d => panic!("{d:?}"),
    }
    // Its 429 block, in its own time.
    fast.block_until(ahead, ahead + retry_after_block(Some(120_000), 999))
        .unwrap();
    // Read afresh, as a later call of that host does.
    let right = Limiter::new(&kv, "ws:1", config);
    let blocked = right.blocked_for(real).unwrap();
    assert!(blocked <= MAX_BLOCK_MS + 1000, "{blocked} ms");
    assert!(blocked > 0, "a block is still honoured");
    match right.admit(real).unwrap() {
        Decision::Wait(ms) => assert!(ms <= MAX_BLOCK_MS + 1000, "{ms} ms"),
        d => panic!("{d:?}"),
    }
}
