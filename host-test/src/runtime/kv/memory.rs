//! The in-memory backend: one mutex makes every operation atomic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Error, KvStore};

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

    fn purge_expired(&self, now: u64) -> Result<usize, Error> {
        let mut map = self.lock()?;
        let before = map.len();
        map.retain(|_, e| e.live(now));
        Ok(before - map.len())
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

impl MemoryKv {
    /// A copy of every live entry of `from`: lets a caller try something without changing it.
    pub fn copy_of(from: &dyn KvStore, now: u64) -> Result<Arc<Self>, Error> {
        let copy = Self::new();
        for key in from.list_keys("", now)? {
            if let Some(v) = from.get(&key, now)? {
                copy.set(&key, &v, None)?;
            }
        }
        Ok(copy)
    }
}
