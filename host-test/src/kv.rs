//! `moltbot:channel/kv`: key-value storage shared by every instance of the plugin, with
//! time-to-live on the host's clock and an atomic compare-and-swap.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::bindings::moltbot::channel::kv::{Error, Host};
use crate::clock::Clock;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// A backing store. Implementations must make `compare_and_swap` atomic across every handle.
pub trait KvStore: Send + Sync {
    fn get(&self, key: &str, now_ms: u64) -> Result<Option<Vec<u8>>, Error>;
    fn set(&self, key: &str, value: &[u8], expires_at: Option<u64>) -> Result<(), Error>;
    fn delete(&self, key: &str) -> Result<(), Error>;
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<u64>,
        now_ms: u64,
    ) -> Result<bool, Error>;
    fn list_keys(&self, prefix: &str, now_ms: u64) -> Result<Vec<String>, Error>;
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at: Option<u64>,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// In-memory store: one mutex makes every operation atomic.
#[derive(Default)]
pub struct MemoryKv {
    map: Mutex<BTreeMap<String, Entry>>,
}

impl MemoryKv {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Entry>>, Error> {
        self.map
            .lock()
            .map_err(|_| Error::Unavailable("the store's lock is poisoned".into()))
    }

    /// Every live key and value, for tests.
    pub fn snapshot(&self, now_ms: u64) -> BTreeMap<String, Vec<u8>> {
        self.map
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, e)| e.live(now_ms))
                    .map(|(k, e)| (k.clone(), e.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl KvStore for MemoryKv {
    fn get(&self, key: &str, now: u64) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .lock()?
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    fn set(&self, key: &str, value: &[u8], expires_at: Option<u64>) -> Result<(), Error> {
        self.lock()?.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at,
            },
        );
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.lock()?.remove(key);
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool, Error> {
        let mut map = self.lock()?;
        let current = map
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.as_slice());
        if current != expected {
            return Ok(false);
        }
        match new {
            Some(v) => {
                map.insert(
                    key.to_owned(),
                    Entry {
                        value: v.to_vec(),
                        expires_at,
                    },
                );
            }
            None => {
                map.remove(key);
            }
        }
        Ok(true)
    }

    fn list_keys(&self, prefix: &str, now: u64) -> Result<Vec<String>, Error> {
        Ok(self
            .lock()?
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, e)| e.live(now))
            .map(|(k, _)| k.clone())
            .collect())
    }
}

/// Per-store state of the `kv` interface.
pub struct KvState {
    pub store: Arc<dyn KvStore>,
    pub clock: Clock,
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
    fn expiry(&self, ttl_ms: Option<u64>) -> Option<u64> {
        ttl_ms.map(|t| self.clock.now_ms().saturating_add(t))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (KvState, Clock) {
        let clock = Clock::fake(1_000);
        (
            KvState {
                store: MemoryKv::new(),
                clock: clock.clone(),
            },
            clock,
        )
    }

    #[test]
    fn ttl_expires_on_the_host_clock() {
        let (mut kv, clock) = state();
        kv.set("a".into(), b"1".to_vec(), Some(500)).unwrap();
        clock.advance(499);
        assert_eq!(kv.get("a".into()).unwrap(), Some(b"1".to_vec()));
        clock.advance(1);
        assert_eq!(kv.get("a".into()).unwrap(), None);
        assert!(kv.list_keys("".into()).unwrap().is_empty());
    }

    #[test]
    fn compare_and_swap_semantics() {
        let (mut kv, clock) = state();
        assert!(
            kv.compare_and_swap("k".into(), None, Some(b"1".to_vec()), None)
                .unwrap()
        );
        assert!(
            !kv.compare_and_swap("k".into(), None, Some(b"2".to_vec()), None)
                .unwrap()
        );
        assert!(
            !kv.compare_and_swap("k".into(), Some(b"9".to_vec()), Some(b"2".to_vec()), None)
                .unwrap()
        );
        assert!(
            kv.compare_and_swap(
                "k".into(),
                Some(b"1".to_vec()),
                Some(b"2".to_vec()),
                Some(10)
            )
            .unwrap()
        );
        clock.advance(10);
        // An expired value counts as absent.
        assert!(
            kv.compare_and_swap("k".into(), None, Some(b"3".to_vec()), None)
                .unwrap()
        );
        assert!(
            kv.compare_and_swap("k".into(), Some(b"3".to_vec()), None, None)
                .unwrap()
        );
        assert_eq!(kv.get("k".into()).unwrap(), None);
    }

    #[test]
    fn concurrent_increments_through_cas_lose_nothing() {
        let store = MemoryKv::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        loop {
                            let cur = store.get("n", 0).unwrap();
                            let n: u64 = cur
                                .as_deref()
                                .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                            let next = (n + 1).to_string();
                            if store
                                .compare_and_swap(
                                    "n",
                                    cur.as_deref(),
                                    Some(next.as_bytes()),
                                    None,
                                    0,
                                )
                                .unwrap()
                            {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.get("n", 0).unwrap(), Some(b"1000".to_vec()));
    }

    #[test]
    fn list_keys_by_prefix_in_order_and_limits() {
        let (mut kv, _) = state();
        for k in ["b/2", "a/1", "b/1", "c"] {
            kv.set(k.into(), vec![], None).unwrap();
        }
        assert_eq!(kv.list_keys("b/".into()).unwrap(), ["b/1", "b/2"]);
        assert!(matches!(kv.get(String::new()), Err(Error::InvalidKey(_))));
        assert!(matches!(
            kv.get("x".repeat(MAX_KEY_BYTES + 1)),
            Err(Error::InvalidKey(_))
        ));
        assert!(matches!(
            kv.set("v".into(), vec![0; MAX_VALUE_BYTES + 1], None),
            Err(Error::TooLarge)
        ));
    }
}
