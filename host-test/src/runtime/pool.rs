//! A small pool of configured plugin instances for the callback server: a callback that waits
//! on a slow KakaoWork call holds one instance, not all of them, and an instance that trapped
//! is dropped and replaced by a fresh configured one (counted and logged), so that one trap
//! does not poison the callbacks after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::runtime::Plugin;

/// Makes one configured instance.
pub type Factory = Box<dyn Fn() -> wasmtime::Result<Plugin> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("every plugin instance stayed busy for {0:?}")]
    Busy(Duration),
    #[error("the plugin trapped (a bug in the plugin or the host): {0}")]
    Trap(String),
}

pub struct Pool {
    idle: Mutex<Vec<Plugin>>,
    freed: Condvar,
    factory: Factory,
    /// Instances that exist (idle or in use); a failed replacement lowers it.
    size: Mutex<usize>,
    replaced: AtomicU64,
    /// Calls that took an instance.
    taken: AtomicU64,
}

impl Pool {
    /// `size` instances from `factory` (at least one).
    pub fn new(size: usize, factory: Factory) -> wasmtime::Result<Self> {
        let size = size.max(1);
        let idle = (0..size)
            .map(|_| factory())
            .collect::<wasmtime::Result<Vec<_>>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            freed: Condvar::new(),
            factory,
            size: Mutex::new(size),
            replaced: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        })
    }

    /// Trapped instances replaced so far.
    pub fn replaced(&self) -> u64 {
        self.replaced.load(Ordering::Relaxed)
    }

    /// Calls that took an instance so far.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Runs `f` on an idle instance, waiting at most `wait` for one. A trap drops that
    /// instance and puts a fresh one in its place.
    pub fn with<T>(
        &self,
        wait: Duration,
        f: impl FnOnce(&mut Plugin) -> wasmtime::Result<T>,
    ) -> Result<T, PoolError> {
        let mut plugin = self.take(wait)?;
        self.taken.fetch_add(1, Ordering::Relaxed);
        match f(&mut plugin) {
            Ok(v) => {
                self.give_back(plugin);
                Ok(v)
            }
            Err(trap) => {
                drop(plugin);
                let n = self.replaced.fetch_add(1, Ordering::Relaxed) + 1;
                match (self.factory)() {
                    Ok(fresh) => {
                        eprintln!(
                            "the plugin trapped; its instance was replaced ({n} so far): {trap:#}"
                        );
                        self.give_back(fresh);
                    }
                    Err(e) => {
                        eprintln!(
                            "the plugin trapped and no instance could replace it ({e:#}): {trap:#}"
                        );
                        *self.size.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                        self.freed.notify_all();
                    }
                }
                Err(PoolError::Trap(format!("{trap:#}")))
            }
        }
    }

    fn take(&self, wait: Duration) -> Result<Plugin, PoolError> {
        let deadline = Instant::now() + wait;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(p) = idle.pop() {
                return Ok(p);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || *self.size.lock().unwrap_or_else(|p| p.into_inner()) == 0 {
                return Err(PoolError::Busy(wait));
            }
            idle = self
                .freed
                .wait_timeout(idle, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn give_back(&self, plugin: Plugin) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(plugin);
        self.freed.notify_one();
    }
}
