//! The faults the emulator can inject, and which request gets which.

use std::collections::VecDeque;

/// A fault the emulator can inject into an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this 5xx status without doing anything.
    Status(u16),
    /// Do the work (a message is posted), then answer with this 5xx status anyway, as a
    /// failing proxy or a load balancer's timeout would.
    StatusAfterWork(u16),
    /// Close the connection before reading the request body: nothing happens.
    DropBeforeBody,
    /// Do the work (a message is posted), then close the connection without answering.
    DropAfterBody,
    /// Do the work, then answer only after this many real milliseconds.
    Delay(u64),
}

/// Which requests faults apply to, and how.
#[derive(Clone, Debug)]
pub(super) enum FaultRule {
    /// The next request to `path` (any path when `None`) gets this fault.
    Once(Option<String>, Fault),
    /// After `skip` more requests to `path` pass untouched, the next one gets this fault.
    After(Option<String>, u32, Fault),
    /// Every request to `path` gets one of `faults` with probability `per_mille / 1000`.
    Random {
        path: Option<String>,
        per_mille: u32,
        faults: Vec<Fault>,
        state: u64,
    },
}

/// The fault for the next request to `path`, if a rule gives it one.
pub(super) fn take(rules: &mut VecDeque<FaultRule>, path: &str) -> Option<Fault> {
    let matches = |p: &Option<String>| p.as_deref().is_none_or(|p| p == path);
    let idx = rules.iter().position(|r| match r {
        FaultRule::Once(p, _) | FaultRule::After(p, _, _) => matches(p),
        FaultRule::Random { path: p, .. } => matches(p),
    })?;
    match &mut rules[idx] {
        FaultRule::After(_, skip, _) if *skip > 0 => {
            *skip -= 1;
            None
        }
        FaultRule::After(..) => match rules.remove(idx) {
            Some(FaultRule::After(_, _, f)) => Some(f),
            _ => None,
        },
        FaultRule::Once(..) => match rules.remove(idx) {
            Some(FaultRule::Once(_, f)) => Some(f),
            _ => None,
        },
        FaultRule::Random {
            per_mille,
            faults,
            state,
            ..
        } => {
            // xorshift64: reproducible for a seed.
            let mut next = || {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state
            };
            let hit = next() % 1000 < u64::from(*per_mille);
            let pick = next() as usize;
            (hit && !faults.is_empty()).then(|| faults[pick % faults.len()])
        }
    }
}
