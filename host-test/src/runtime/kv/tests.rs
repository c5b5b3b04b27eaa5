use super::*;
use crate::bindings::moltbot::channel::kv::Host;
use crate::runtime::clock::Clock;
use crate::runtime::kv::redis_server::RedisServer;
use std::sync::Arc;

type Backends = Vec<(&'static str, Arc<dyn KvStore>)>;

/// The password of the TLS Redis of the contract tests.
const TLS_PASSWORD: &str = "contract-pw-0123";

/// A fresh store of each backend, for the contract every backend keeps, and the test's own
/// Redis servers (stopped when the test drops them): one in clear, one over TLS with a
/// password and a CA of its own.
fn backends(test: &str) -> (Backends, Vec<RedisServer>) {
    let server = RedisServer::start().expect("redis-server");
    let tls = RedisServer::start_tls(TLS_PASSWORD).expect("redis-server with TLS");
    let redis = RedisKv::open(&server.url(), &format!("kw-test/{test}/")).unwrap();
    let over_tls = RedisKv::open_with(&tls.url(), &format!("kw-test/{test}/"), tls.ca()).unwrap();
    let stores = vec![
        ("memory", MemoryKv::new() as Arc<dyn KvStore>),
        ("sqlite", SqliteKv::open(&temp_db(test)).unwrap()),
        ("redis", Arc::new(redis) as Arc<dyn KvStore>),
        ("rediss", Arc::new(over_tls) as Arc<dyn KvStore>),
    ];
    (stores, vec![server, tls])
}

/// Over TLS, the two mistakes a user makes get errors that say what to do: a plain `redis://`
/// URL for a TLS port, and a CA that did not sign the server's certificate. The password is
/// never in them.
#[test]
fn redis_over_tls_and_its_two_mistakes() {
    let tls = RedisServer::start_tls(TLS_PASSWORD).unwrap();
    let now = 1_000;
    let ok = RedisKv::open_with(&tls.url(), "kw-test/tls/", tls.ca()).unwrap();
    ok.set("k", b"v", None).unwrap();
    assert_eq!(ok.get("k", now).unwrap(), Some(b"v".to_vec()));
    // Plain text to the TLS port.
    let plain = RedisKv::open(&tls.url().replace("rediss://", "redis://"), "kw-test/tls/").unwrap();
    let e = format!("{:?}", plain.get("k", now).unwrap_err());
    assert!(e.contains("rediss://"), "{e}");
    // Another CA.
    let dir = std::env::temp_dir().join(format!("kw-other-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let other = crate::runtime::kv::redis_server::TestCerts::generate(&dir, "other").unwrap();
    let wrong = RedisKv::open_with(&tls.url(), "kw-test/tls/", Some(&other.ca)).unwrap();
    let e = format!("{:?}", wrong.get("k", now).unwrap_err());
    assert!(e.contains("stateCa") && e.contains("certificate"), "{e}");
    // A CA file that is not there.
    let missing = RedisKv::open_with(&tls.url(), "kw-test/tls/", Some(&dir.join("nope.pem")));
    let e = format!("{:?}", missing.err().unwrap());
    assert!(e.contains("CA file"), "{e}");
    // A wrong password.
    let bad_pw = tls.url().replace(TLS_PASSWORD, "not-the-password");
    let denied = RedisKv::open_with(&bad_pw, "kw-test/tls/", tls.ca()).unwrap();
    let e = format!("{:?}", denied.get("k", now).unwrap_err());
    assert!(
        !e.contains(TLS_PASSWORD) && !e.contains("not-the-password"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn states(test: &str) -> (Vec<(&'static str, KvState, Clock)>, Vec<RedisServer>) {
    let (stores, server) = backends(test);
    let states = stores
        .into_iter()
        .map(|(name, store)| {
            let clock = Clock::fake(1_000);
            (name, KvState::new(store, clock.clone()), clock)
        })
        .collect();
    (states, server)
}

#[test]
fn ttl_expires_on_the_host_clock() {
    let (states, _redis) = states("ttl");
    for (name, mut kv, clock) in states {
        kv.set("a".into(), b"1".to_vec(), Some(500)).unwrap();
        clock.advance(499);
        assert_eq!(kv.get("a".into()).unwrap(), Some(b"1".to_vec()), "{name}");
        clock.advance(1);
        assert_eq!(kv.get("a".into()).unwrap(), None, "{name}");
        assert!(kv.list_keys("".into()).unwrap().is_empty(), "{name}");
    }
}

#[test]
fn compare_and_swap_semantics() {
    let (states, _redis) = states("cas");
    for (name, mut kv, clock) in states {
        let mut cas = |expected: Option<&[u8]>, new: Option<&[u8]>, ttl: Option<u64>| {
            kv.compare_and_swap(
                "k".into(),
                expected.map(<[u8]>::to_vec),
                new.map(<[u8]>::to_vec),
                ttl,
            )
            .unwrap()
        };
        assert!(cas(None, Some(b"1"), None), "{name}");
        assert!(!cas(None, Some(b"2"), None), "{name}");
        assert!(!cas(Some(b"9"), Some(b"2"), None), "{name}");
        assert!(cas(Some(b"1"), Some(b"2"), Some(10)), "{name}");
        clock.advance(10);
        // An expired value counts as absent.
        assert!(cas(None, Some(b"3"), None), "{name}");
        assert!(cas(Some(b"3"), None, None), "{name}");
        assert_eq!(kv.get("k".into()).unwrap(), None, "{name}");
        // Binary values, a line end and an empty value included.
        let odd = b"\n\0\xff|x".to_vec();
        kv.set("b".into(), odd.clone(), None).unwrap();
        assert_eq!(kv.get("b".into()).unwrap(), Some(odd.clone()), "{name}");
        assert!(
            kv.compare_and_swap("b".into(), Some(odd), Some(vec![]), None)
                .unwrap()
        );
        assert_eq!(kv.get("b".into()).unwrap(), Some(vec![]), "{name}");
    }
}

#[test]
fn expired_entries_are_swept_from_every_store() {
    let (stores, _redis) = backends("sweep");
    for (name, store) in stores {
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
        if store.collects_expired() {
            // Redis drops them itself, on its own clock: the host scans no key for it.
            assert_eq!(stored, total as usize + 1, "{name}: the host swept");
        } else {
            assert!(
                stored <= SWEEP_EVERY_WRITES as usize + 11,
                "{name}: {stored} of {} entries still stored",
                total + 1
            );
        }
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

#[test]
fn redis_concurrent_cas_from_separate_connections_loses_nothing() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let store = RedisKv::open(&url, "kw-test/concurrent/").unwrap();
                (0..250).for_each(|_| cas_increment(&store));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = RedisKv::open(&url, "kw-test/concurrent/").unwrap();
    assert_eq!(store.get("n", 0).unwrap(), Some(b"1000".to_vec()));
}

#[test]
fn redis_unavailable_is_a_storage_error_and_it_recovers() {
    let mut server = RedisServer::start().unwrap();
    let store = RedisKv::open(&server.url(), "kw-test/outage/").unwrap();
    store.set("k", b"1", None).unwrap();
    server.stop();
    for r in [store.get("k", 0).map(|_| ()), store.set("k", b"2", None)] {
        let e = r.unwrap_err();
        assert!(
            matches!(&e, Error::Unavailable(m) if m.contains("cannot be reached")),
            "{e:?}"
        );
    }
    server.restart().unwrap();
    // The same handle connects again (the restarted server is empty).
    assert_eq!(store.get("k", 0).unwrap(), None);
    store.set("k", b"3", None).unwrap();
    assert_eq!(store.get("k", 0).unwrap(), Some(b"3".to_vec()));
    assert!(matches!(
        RedisKv::open("http://nope", "x"),
        Err(Error::Other(m)) if m.contains("redis://host:port/db")
    ));
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

/// A file made by the statements the hosts ran before `spec/sqlite.sql` still opens and reads.
#[test]
fn sqlite_opens_a_file_made_before_the_shared_schema() {
    let path = temp_db("old");
    private_dir(path.parent().unwrap()).unwrap();
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE IF NOT EXISTS kv (
             key TEXT PRIMARY KEY NOT NULL,
             value BLOB NOT NULL,
             expires_at INTEGER
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at)
             WHERE expires_at IS NOT NULL;
         INSERT INTO kv VALUES ('k', x'76', NULL);",
    )
    .unwrap();
    drop(old);
    let store = SqliteKv::open(&path).unwrap();
    assert_eq!(store.get("k", 0).unwrap(), Some(b"v".to_vec()));
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
    let (states, _redis) = states("list");
    for (name, mut kv, _) in states {
        for k in ["b/2", "a/1", "b/1", "c", "b*/x", "b[1]"] {
            kv.set(k.into(), vec![], None).unwrap();
        }
        assert_eq!(kv.list_keys("b/".into()).unwrap(), ["b/1", "b/2"], "{name}");
        assert_eq!(kv.list_keys("b*".into()).unwrap(), ["b*/x"], "{name}");
        assert_eq!(kv.list_keys("b[".into()).unwrap(), ["b[1]"], "{name}");
    }
    let clock = Clock::fake(1_000);
    let mut kv = KvState::new(MemoryKv::new(), clock);
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

#[test]
fn redis_collects_what_expires_an_hour_later_and_keeps_what_never_does() {
    let server = RedisServer::start().expect("redis-server");
    let store = RedisKv::open(&server.url(), "kw-test/px/").unwrap();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    store.set("ttl", b"v", Some(wall + 10_000)).unwrap();
    store.set("forever", b"v", None).unwrap();
    assert!(
        store
            .compare_and_swap("cas", None, Some(b"v"), Some(wall + 10_000), wall)
            .unwrap()
    );
    let mut c = ::redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let pttl = |c: &mut ::redis::Connection, k: &str| -> i64 {
        ::redis::cmd("PTTL")
            .arg(format!("kw-test/px/{k}"))
            .query(c)
            .unwrap()
    };
    for k in ["ttl", "cas"] {
        let ms = pttl(&mut c, k);
        assert!(
            (3_600_000..=3_610_000).contains(&ms),
            "{k}: Redis drops it in {ms} ms"
        );
    }
    assert_eq!(pttl(&mut c, "forever"), -1, "no Redis expiry");
    assert!(store.collects_expired());
}
