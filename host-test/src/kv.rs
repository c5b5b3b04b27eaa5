//! `moltbot:channel/kv`: key-value storage shared by every instance of the plugin, with
//! time-to-live on the host's clock and an atomic compare-and-swap.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::bindings::moltbot::channel::kv::{Error, Host};
use crate::clock::Clock;

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

/// A store in a SQLite file (WAL mode), shared by every process that opens the same file:
/// a serving process and an admin's `pairing approve` see one state. Compare-and-swap runs in
/// an immediate transaction, so it is atomic across connections and processes.
pub struct SqliteKv {
    conn: Mutex<rusqlite::Connection>,
}

fn sql(e: rusqlite::Error) -> Error {
    Error::Unavailable(format!("SQLite: {e}"))
}

impl SqliteKv {
    pub fn open(path: &std::path::Path) -> Result<Arc<Self>, Error> {
        if let Some(dir) = path.parent() {
            private_dir(dir).map_err(|e| {
                Error::Unavailable(format!(
                    "cannot create the state directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        // The file holds the signing key, pairing data and message texts: the owner's only.
        // SQLite gives its -wal and -shm files the database file's mode.
        private_file(path).map_err(|e| {
            Error::Unavailable(format!(
                "cannot create the state file {} for its owner only: {e}",
                path.display()
            ))
        })?;
        let conn = rusqlite::Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        // While the last connection of another process closes (its checkpoint removes the WAL
        // file) or recovers the WAL, SQLite answers "busy" here without waiting: try again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match init_schema(&conn) {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                r => break r.map_err(sql)?,
            }
        }
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
        }))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, Error> {
        self.conn
            .lock()
            .map_err(|_| Error::Unavailable("the database lock is poisoned".into()))
    }
}

fn init_schema(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a claim that guards against sending twice is on disk before the request leaves.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kv (
             key TEXT PRIMARY KEY NOT NULL,
             value BLOB NOT NULL,
             expires_at INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at)
             WHERE expires_at IS NOT NULL;",
    )
}

/// Creates `dir` (and its parents) as needed; a directory created here is the owner's only.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `path` if absent, and makes it readable and writable by its owner only.
fn private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o.open(path)?;
    #[cfg(unix)]
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    drop(f);
    Ok(())
}

const LIVE: &str = "(expires_at IS NULL OR expires_at > ?2)";

impl KvStore for SqliteKv {
    fn get(&self, key: &str, now: u64) -> Result<Option<Vec<u8>>, Error> {
        use rusqlite::OptionalExtension;
        self.lock()?
            .query_row(
                &format!("SELECT value FROM kv WHERE key = ?1 AND {LIVE}"),
                rusqlite::params![key, now as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)
    }

    fn set(&self, key: &str, value: &[u8], expires_at: Option<u64>) -> Result<(), Error> {
        self.lock()?
            .execute(
                "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![key, value, expires_at.map(|t| t as i64)],
            )
            .map(|_| ())
            .map_err(sql)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.lock()?
            .execute("DELETE FROM kv WHERE key = ?1", [key])
            .map(|_| ())
            .map_err(sql)
    }

    fn purge_expired(&self, now: u64) -> Result<usize, Error> {
        self.lock()?
            .execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                [now as i64],
            )
            .map_err(sql)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool, Error> {
        use rusqlite::OptionalExtension;
        let mut conn = self.lock()?;
        // IMMEDIATE takes the write lock first, so no other connection changes the row between
        // the read and the write.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let current: Option<Vec<u8>> = tx
            .query_row(
                &format!("SELECT value FROM kv WHERE key = ?1 AND {LIVE}"),
                rusqlite::params![key, now as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if current.as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(v) => tx.execute(
                "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![key, v, expires_at.map(|t| t as i64)],
            ),
            None => tx.execute("DELETE FROM kv WHERE key = ?1", [key]),
        }
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(true)
    }

    fn list_keys(&self, prefix: &str, now: u64) -> Result<Vec<String>, Error> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT key FROM kv WHERE substr(key, 1, length(?1)) = ?1 AND {LIVE} ORDER BY key"
            ))
            .map_err(sql)?;
        let rows = stmt
            .query_map(rusqlite::params![prefix, now as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }
}

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
        if self.writes.is_multiple_of(SWEEP_EVERY_WRITES) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> (KvState, Clock) {
        let clock = Clock::fake(1_000);
        (KvState::new(MemoryKv::new(), clock.clone()), clock)
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
    fn expired_entries_are_swept_from_both_stores() {
        let path = temp_db("sweep");
        let stores: [Arc<dyn KvStore>; 2] = [MemoryKv::new(), SqliteKv::open(&path).unwrap()];
        for store in stores {
            let clock = Clock::fake(1_000);
            let mut kv = KvState::new(store.clone(), clock.clone());
            kv.set("keep".into(), b"k".to_vec(), None).unwrap();
            // Replay markers with a 10-minute life, one a minute for two days.
            let total = SWEEP_EVERY_WRITES * 3;
            for i in 0..total {
                kv.set(format!("seen/{i}"), b"1".to_vec(), Some(600_000))
                    .unwrap();
                clock.advance(60_000);
            }
            // Listing at time 0 shows every stored entry, expired or not.
            let stored = store.list_keys("", 0).unwrap().len();
            assert!(
                stored <= SWEEP_EVERY_WRITES as usize + 11,
                "{stored} of {} entries still stored",
                total + 1
            );
            let now = clock.now_ms();
            assert_eq!(store.get("keep", now).unwrap(), Some(b"k".to_vec()));
            assert!(
                store
                    .get(&format!("seen/{}", total - 1), now)
                    .unwrap()
                    .is_some()
            );
            // A sweep now leaves exactly the live entries.
            let live = store.list_keys("", now).unwrap();
            assert_eq!(store.purge_expired(now).unwrap(), stored - live.len());
            assert_eq!(store.list_keys("", 0).unwrap(), live);
        }
    }

    /// Add one to the counter at `n` by compare-and-swap, retrying on conflict.
    fn cas_increment(store: &dyn KvStore) {
        loop {
            let cur = store.get("n", 0).unwrap();
            let n: u64 = cur
                .as_deref()
                .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
            let next = (n + 1).to_string();
            if store
                .compare_and_swap("n", cur.as_deref(), Some(next.as_bytes()), None, 0)
                .unwrap()
            {
                return;
            }
        }
    }

    #[test]
    fn concurrent_increments_through_cas_lose_nothing() {
        let store = MemoryKv::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || (0..250).for_each(|_| cas_increment(store.as_ref())))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.get("n", 0).unwrap(), Some(b"1000".to_vec()));
    }

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kw-kv-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("state.sqlite3")
    }

    #[test]
    fn sqlite_honours_ttl_and_cas_across_connections() {
        let path = temp_db("ttl");
        let a = SqliteKv::open(&path).unwrap();
        let b = SqliteKv::open(&path).unwrap();
        a.set("k", b"1", Some(1000)).unwrap();
        assert_eq!(b.get("k", 999).unwrap(), Some(b"1".to_vec()));
        assert_eq!(b.get("k", 1000).unwrap(), None);
        assert!(
            b.compare_and_swap("k", None, Some(b"2"), None, 1000)
                .unwrap(),
            "expired counts as absent"
        );
        assert!(
            !a.compare_and_swap("k", Some(b"1"), Some(b"3"), None, 1000)
                .unwrap()
        );
        assert!(
            a.compare_and_swap("k", Some(b"2"), None, None, 1000)
                .unwrap()
        );
        assert_eq!(b.get("k", 0).unwrap(), None);
        for k in ["p/2", "p/1", "q"] {
            a.set(k, b"", None).unwrap();
        }
        assert_eq!(b.list_keys("p/", 0).unwrap(), ["p/1", "p/2"]);
    }

    #[test]
    fn sqlite_concurrent_cas_from_separate_connections_loses_nothing() {
        let path = temp_db("cas");
        SqliteKv::open(&path).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = SqliteKv::open(&path).unwrap();
                    (0..50).for_each(|_| cas_increment(store.as_ref()));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            SqliteKv::open(&path).unwrap().get("n", 0).unwrap(),
            Some(b"200".to_vec())
        );
    }

    #[test]
    fn prefixed_stores_are_separate() {
        let base = MemoryKv::new();
        let a = Prefixed {
            inner: base.clone(),
            prefix: "emulator/".into(),
        };
        a.set("x", b"1", None).unwrap();
        assert_eq!(base.get("x", 0).unwrap(), None);
        assert_eq!(a.list_keys("", 0).unwrap(), ["x"]);
        let copy = MemoryKv::copy_of(&a, 0).unwrap();
        copy.set("x", b"2", None).unwrap();
        assert_eq!(
            a.get("x", 0).unwrap(),
            Some(b"1".to_vec()),
            "the copy is independent"
        );
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
