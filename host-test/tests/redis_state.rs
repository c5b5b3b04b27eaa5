//! The CLI with its state in Redis (`--state redis://...`): one state for every process and
//! machine pointing at it, and no request to KakaoWork while Redis cannot be reached.

use std::process::Command;

use host_test::kv::{KvStore, RedisKv};
use host_test::redis_server::RedisServer;

fn run(state_dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kakaowork-host"))
        .env_remove("KAKAOWORK_APP_KEY")
        .env_remove("KAKAOWORK_STATE")
        .env("KAKAOWORK_STATE_DIR", state_dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_processes_share_one_ledger_in_redis_and_an_outage_sends_nothing() {
    let mut redis = RedisServer::start().unwrap();
    let url = redis.url();
    let base = std::env::temp_dir().join(format!("kw-redis-cli-{}", std::process::id()));
    // Two state directories: what the processes share comes from Redis, not from SQLite.
    let (a, b) = (base.join("a"), base.join("b"));
    let send = [
        "message",
        "send",
        "--target",
        "user:10000001",
        "--message",
        "공유 상태",
        "--idempotency-key",
        "shared-1",
        "--state",
        &url,
    ];
    let (rc, out, err) = run(&a, &send);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("POST /v1/messages.send -> 200"), "{out}");

    // Another process, another directory, the same key: the ledger in Redis says it was sent.
    let (rc, out, err) = run(&b, &send);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(
        out.contains("Sent.") && out.contains("received no request"),
        "{out}"
    );
    assert!(
        !b.join("state.sqlite3").exists(),
        "no SQLite state was made"
    );

    let store = RedisKv::open(&url, "kakaowork-channel/").unwrap();
    let ledgers = store.list_keys("emulator/ledger/v1/default/", 0).unwrap();
    assert_eq!(ledgers, ["emulator/ledger/v1/default/shared-1"]);

    // Redis down: a typed error, exit 1, and the emulator never started (nothing was sent).
    redis.stop();
    let (rc, out, err) = run(&a, &send);
    assert_eq!(rc, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!("cannot use the state at {url}"))
            && err.contains("cannot be reached"),
        "{err}"
    );
    assert!(!err.contains("emulator at"), "{err}");

    let (rc, _, err) = run(&a, &["probe", "--state", "/var/lib/state"]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("redis://host:port/db"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}
