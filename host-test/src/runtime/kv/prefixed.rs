//! A view of another store under a key prefix.

use std::sync::Arc;

use super::{Error, KvStore};

/// Keys under a prefix of another store: keeps separate states (e.g. the emulator's and the
/// real API's) apart in one database.
pub struct Prefixed {
    pub inner: Arc<dyn KvStore>,
    pub prefix: String,
}

impl KvStore for Prefixed {
    fn get(&self, key: &str, now: u64) -> Result<Option<Vec<u8>>, Error> {
        self.inner.get(&format!("{}{key}", self.prefix), now)
    }
    fn set(&self, key: &str, value: &[u8], expires_at: Option<u64>) -> Result<(), Error> {
        self.inner
            .set(&format!("{}{key}", self.prefix), value, expires_at)
    }
    fn delete(&self, key: &str) -> Result<(), Error> {
        self.inner.delete(&format!("{}{key}", self.prefix))
    }
    // Expired is expired under every prefix: sweeping the whole store is fine.
    fn purge_expired(&self, now: u64) -> Result<usize, Error> {
        self.inner.purge_expired(now)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool, Error> {
        self.inner.compare_and_swap(
            &format!("{}{key}", self.prefix),
            expected,
            new,
            expires_at,
            now,
        )
    }
    fn list_keys(&self, prefix: &str, now: u64) -> Result<Vec<String>, Error> {
        Ok(self
            .inner
            .list_keys(&format!("{}{prefix}", self.prefix), now)?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }
}
