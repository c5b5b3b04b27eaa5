//! The `kv` interface's `Host` implementation: per-instance state over a shared store, with the
//! key and value limits and the periodic sweep of expired entries.

use super::{Error, KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES, SWEEP_EVERY_WRITES};
use crate::bindings::moltbot::channel::kv::Host;
use crate::runtime::clock::Clock;
use std::sync::Arc;

/// Per-store state of the `kv` interface.
pub struct KvState {
    store: Arc<dyn KvStore>,
    clock: Clock,
    writes: u64,
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::InvalidKey("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::InvalidKey(format!(
            "the key is {} bytes; at most {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(v: &[u8]) -> Result<(), Error> {
    if v.len() > MAX_VALUE_BYTES {
        Err(Error::TooLarge)
    } else {
        Ok(())
    }
}

impl KvState {
    pub fn new(store: Arc<dyn KvStore>, clock: Clock) -> Self {
        Self {
            store,
            clock,
            writes: 0,
        }
    }

    fn expiry(&self, ttl_ms: Option<u64>) -> Option<u64> {
        ttl_ms.map(|t| self.clock.now_ms().saturating_add(t))
    }

    /// Counts a write and sweeps expired entries every [`SWEEP_EVERY_WRITES`]. A failed sweep
    /// loses nothing (expired entries already read as absent), so it does not fail the write.
    fn wrote(&mut self) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY_WRITES) && !self.store.collects_expired() {
            let _ = self.store.purge_expired(self.clock.now_ms());
        }
    }
}

impl Host for KvState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        check_key(&key)?;
        self.store.get(&key, self.clock.now_ms())
    }

    fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), Error> {
        check_key(&key)?;
        check_value(&value)?;
        self.wrote();
        self.store.set(&key, &value, self.expiry(ttl_ms))
    }

    fn delete(&mut self, key: String) -> Result<(), Error> {
        check_key(&key)?;
        self.store.delete(&key)
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, Error> {
        check_key(&key)?;
        if let Some(v) = &new {
            check_value(v)?;
        }
        let expiry = self.expiry(ttl_ms);
        self.wrote();
        self.store.compare_and_swap(
            &key,
            expected.as_deref(),
            new.as_deref(),
            expiry,
            self.clock.now_ms(),
        )
    }

    fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, Error> {
        self.store.list_keys(&prefix, self.clock.now_ms())
    }
}
