//! `moltbot:channel/kv`: key-value storage shared by every instance of the plugin, with
//! time-to-live on the host's clock and an atomic compare-and-swap. One trait, [`KvStore`],
//! with its backends in their own files (memory, SQLite, Redis, and the prefixing view) and the
//! interface's `Host` implementation over any of them.

mod memory;
mod prefixed;
mod redis;
pub mod redis_server;
mod sqlite;
mod state;

pub use self::redis::{REDIS_NAMESPACE, RedisKv, shown_url};
pub use crate::bindings::moltbot::channel::kv::Error;
pub use memory::MemoryKv;
pub use prefixed::Prefixed;
pub use sqlite::{SqliteKv, private_dir};
pub use state::KvState;

#[cfg(test)]
mod tests;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Expired entries are swept once every this many writes of one instance, so stores that live
/// for days (replay markers, caches) do not grow without end.
pub const SWEEP_EVERY_WRITES: u64 = 1024;

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
    /// Removes every entry expired at `now_ms`; returns how many went.
    fn purge_expired(&self, now_ms: u64) -> Result<usize, Error>;
    /// Whether the store drops expired entries by itself, so that the periodic sweep would
    /// only cost a scan of every key (Redis, with its own expiry).
    fn collects_expired(&self) -> bool {
        false
    }
}
