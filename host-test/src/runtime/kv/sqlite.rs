//! The SQLite backend: one file shared by every process that opens it.

use std::sync::{Arc, Mutex};

use super::{Error, KvStore};

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

/// The schema and pragmas, the one file both hosts run (`spec/sqlite.sql`).
const SCHEMA: &str = include_str!("../../../../spec/sqlite.sql");

fn init_schema(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
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

#[cfg(test)]
mod tests {
    use super::SCHEMA;

    /// The schema comes from `spec/sqlite.sql`, the file the Node host runs too: a fresh file holds
    /// its CREATE statements as written there, in WAL mode with synchronous FULL.
    #[test]
    fn sqlite_schema_is_the_shared_file() {
        let dir = std::env::temp_dir().join(format!("kw-kv-{}-schema", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.sqlite3");
        let store = super::SqliteKv::open(&path).unwrap();
        let conn = store.conn.lock().unwrap();
        let stored: Vec<String> = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored.len(), 2, "{stored:?}");
        for sql in &stored {
            // SQLite keeps a CREATE statement's text without its IF NOT EXISTS.
            let written = sql
                .replacen("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
                .replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
            assert!(
                SCHEMA.contains(&written),
                "{sql:?} is not in spec/sqlite.sql"
            );
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        drop(conn);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
