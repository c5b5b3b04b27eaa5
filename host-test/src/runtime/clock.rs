//! `wasi:clocks/wall-clock`: the real clock, or a fake one that tests advance by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bindings::wasi::clocks::wall_clock::{Datetime, Host};

#[derive(Clone, Debug)]
pub enum Clock {
    Real,
    Fake(Arc<AtomicU64>),
}

impl Clock {
    pub fn fake(start_ms: u64) -> Self {
        Self::Fake(Arc::new(AtomicU64::new(start_ms)))
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            Self::Real => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            Self::Fake(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Move a fake clock forward; a real clock cannot be moved.
    pub fn advance(&self, ms: u64) {
        if let Self::Fake(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }

    /// Move a fake clock to `ms` unless it is already later.
    pub fn advance_to(&self, ms: u64) {
        if let Self::Fake(t) = self {
            t.fetch_max(ms, Ordering::SeqCst);
        }
    }

    /// Wait: really on the real clock, instantly (by advancing it) on a fake one.
    pub fn sleep(&self, ms: u64) {
        match self {
            Self::Real => std::thread::sleep(std::time::Duration::from_millis(ms)),
            Self::Fake(_) => self.advance(ms),
        }
    }
}

pub struct ClockState {
    pub clock: Clock,
}

impl Host for ClockState {
    fn now(&mut self) -> Datetime {
        let ms = self.clock.now_ms();
        Datetime {
            seconds: ms / 1000,
            nanoseconds: (ms % 1000) as u32 * 1_000_000,
        }
    }

    fn resolution(&mut self) -> Datetime {
        Datetime {
            seconds: 0,
            nanoseconds: 1_000_000,
        }
    }
}
