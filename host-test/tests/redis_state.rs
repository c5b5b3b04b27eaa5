//! The CLI with its state in Redis (`--state redis://...`): one state for every process and
//! machine pointing at it, and no request to KakaoWork while Redis cannot be reached.

mod common;

use common::cli::run;
use host_test::runtime::kv::redis_server::RedisServer;
use host_test::runtime::kv::{KvStore, RedisKv};

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

#[test]
fn while_redis_is_down_a_send_is_a_storage_error_and_makes_no_request() {
    use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions};
    use host_test::runtime::HostEnv;
    use host_test::runtime::clock::Clock;
    use host_test::wit::ChannelError;
    use std::sync::Arc;

    let mut redis = RedisServer::start().unwrap();
    let emulator = Emulator::start(EmulatorOptions::default()).unwrap();
    let prepared = host_test::runtime::config::prepare(
        common::with_secret(serde_json::json!({"apiBase": emulator.base_url()})),
        Some(DEFAULT_APP_KEY),
    )
    .unwrap();
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: Arc::new(RedisKv::open(&redis.url(), "kakaowork-channel/").unwrap()),
        clock: Clock::Real,
    };
    let mut plugin = common::runtime().instantiate(&env).unwrap();
    plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    let first = common::send_req("conversation:3000001", "첫 번째");
    plugin.send(&first).unwrap().unwrap();
    let before = emulator.requests().len();

    redis.stop();
    let during = common::send_req("conversation:3000001", "장애 중");
    let e = plugin.send(&during).unwrap().unwrap_err();
    assert!(
        matches!(&e, ChannelError::Storage(m) if m.contains("cannot be reached")),
        "{e:?}"
    );
    assert_eq!(
        emulator.requests().len(),
        before,
        "no request while Redis is down"
    );

    // Back (empty: this test's Redis keeps nothing on disk): the same send goes through, once.
    redis.restart().unwrap();
    plugin.send(&during).unwrap().unwrap();
    plugin.send(&during).unwrap().unwrap();
    let texts: Vec<_> = emulator.posted().into_iter().map(|p| p.text).collect();
    assert_eq!(texts, ["첫 번째", "장애 중"]);
}

#[test]
fn a_process_killed_mid_message_is_resumed_by_another_without_a_part_twice() {
    use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions};
    use std::time::{Duration, Instant};

    let redis = RedisServer::start().unwrap();
    let emulator = Emulator::start(EmulatorOptions::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("kw-redis-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One part a second: the process spends most of its time waiting for the budget.
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"rateLimit": {"requestsPerMinute": 60, "burst": 1}, "textChunkLimit": 100,
            "callbackSecret": "test-callback-secret-0123456789"}"#,
    )
    .unwrap();
    let words: Vec<String> = (0..120).map(|i| format!("w{i:03}")).collect();
    let text = words.join(" ");
    let url = redis.url();
    let args = [
        "message",
        "send",
        "--target",
        "conversation:3000001",
        "--message",
        &text,
        "--idempotency-key",
        "long-1",
        "--state",
        &url,
        "--config",
        config.to_str().unwrap(),
        "--api-base",
        &emulator.base_url(),
    ];
    // Each stopped however the test ends.
    let spawn = |state: &str| {
        common::cli::Guarded::spawn(
            common::cli::host(&dir.join(state))
                .env("KAKAOWORK_APP_KEY", DEFAULT_APP_KEY)
                .args(args),
        )
    };
    let mut first = spawn("a");
    let deadline = Instant::now() + Duration::from_secs(60);
    while emulator.posted().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the first process posted too little"
        );
        assert!(first.running(), "the first process ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Into its wait for the budget, then SIGKILL: no chance to write anything down.
    std::thread::sleep(Duration::from_millis(300));
    first.kill();
    let posted_before = emulator.posted().len();
    assert!(
        posted_before < 10,
        "{posted_before} parts: the first process was not stopped midway"
    );

    let (status, out, err) = spawn("b").finish();
    assert!(status.success(), "{out}\n{err}");
    let posted: Vec<String> = emulator.posted().into_iter().map(|p| p.text).collect();
    // Every part stored exactly once, in order: together they are the message.
    let arrived: Vec<&str> = posted.iter().flat_map(|p| p.split_whitespace()).collect();
    assert_eq!(arrived, words);
    assert!(
        posted.len() > posted_before,
        "the second process sent the rest"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_long_message_cut_off_by_an_outage_resumes_where_it_stopped() {
    use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions};
    use host_test::runtime::HostEnv;
    use host_test::runtime::clock::Clock;
    use host_test::wit::ChannelError;
    use std::sync::Arc;

    // Persistent, as a production Redis is: the ledger outlives the outage. (Restarted empty,
    // the first part would be posted again.)
    let mut redis = RedisServer::start_persistent().unwrap();
    let emulator = Emulator::start(EmulatorOptions::default()).unwrap();
    let prepared = host_test::runtime::config::prepare(
        common::with_secret(serde_json::json!({
            "apiBase": emulator.base_url(),
            "textChunkLimit": 20,
            "rateLimit": {"requestsPerMinute": 60, "burst": 1},
        })),
        Some(DEFAULT_APP_KEY),
    )
    .unwrap();
    let clock = Clock::fake(1_700_000_000_000);
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: Arc::new(RedisKv::open(&redis.url(), "kakaowork-channel/").unwrap()),
        clock: clock.clone(),
    };
    let mut plugin = common::runtime().instantiate(&env).unwrap();
    plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    let long = common::send_req(
        "conversation:3000001",
        "part one of three. part two of three. part three of three.",
    );
    // One request a second: the workspace lookup, then the first part; the budget defers the rest.
    let mut wait = 0;
    for _ in 0..4 {
        clock.advance(wait);
        wait = match plugin.send(&long).unwrap() {
            Err(ChannelError::Deferred(ms)) => ms,
            other => panic!("expected a deferral before the last part: {other:?}"),
        };
        if !emulator.posted().is_empty() {
            break;
        }
    }
    assert_eq!(emulator.posted().len(), 1);

    redis.stop();
    clock.advance(wait);
    let e = plugin.send(&long).unwrap().unwrap_err();
    assert!(matches!(&e, ChannelError::Storage(_)), "{e:?}");
    assert_eq!(
        emulator.posted().len(),
        1,
        "nothing sent while Redis is down"
    );

    redis.restart().unwrap();
    let receipt = host_test::serve::delivery::deliver(&mut plugin, &long, &clock, 50, |_, _| {})
        .unwrap()
        .outcome
        .unwrap();
    assert_eq!(receipt.chunks.len(), 3);
    let texts: Vec<String> = emulator.posted().into_iter().map(|p| p.text).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[0].starts_with("part one"), "{texts:?}");
    assert!(texts[2].ends_with("three."), "{texts:?}");
}

/// `rediss://` with a password and the CA given three ways; without the CA, or in clear to the
/// TLS port, a clear error and nothing sent. The password is in no output.
#[test]
fn the_state_over_tls_with_a_password_and_a_ca() {
    const PASSWORD: &str = "cli-tls-pw-0123456";
    let redis = RedisServer::start_tls(PASSWORD).unwrap();
    let url = redis.url();
    let ca = redis.ca().unwrap().to_str().unwrap().to_owned();
    let dir = std::env::temp_dir().join(format!("kw-redis-tls-cli-{}", std::process::id()));
    let send = |key: &str, state: &str, extra: &[&str], env_ca: Option<&str>| {
        let mut c = common::cli::host(&dir);
        c.args([
            "message",
            "send",
            "--target",
            "user:10000001",
            "--message",
            "TLS",
        ])
        .args(["--idempotency-key", key, "--state", state])
        .args(extra);
        if let Some(ca) = env_ca {
            c.env("KAKAOWORK_STATE_CA", ca);
        }
        let out = c.output().unwrap();
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(!o.contains(PASSWORD) && !e.contains(PASSWORD), "{o}\n{e}");
        (out.status.code().unwrap_or(-1), o, e)
    };
    let (rc, out, err) = send("tls-1", &url, &["--state-ca", &ca], None);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("POST /v1/messages.send -> 200"), "{out}");
    let (rc, out, err) = send("tls-2", &url, &[], Some(&ca));
    assert_eq!(rc, 0, "KAKAOWORK_STATE_CA: {out}\n{err}");
    // The CA in the config file.
    let cfg = dir.join("tls.json");
    std::fs::write(&cfg, serde_json::json!({"stateCa": ca}).to_string()).unwrap();
    let (rc, out, err) = send(
        "tls-3",
        &url,
        &["--emulator", "--config", cfg.to_str().unwrap()],
        None,
    );
    assert_eq!(rc, 0, "stateCa: {out}\n{err}");

    // Without the CA (the system's do not know it), and in clear to the TLS port.
    let (rc, _, err) = send("tls-4", &url, &[], None);
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("stateCa") && err.contains("certificate"),
        "{err}"
    );
    let plain = url.replace("rediss://", "redis://");
    let (rc, _, err) = send("tls-5", &plain, &[], None);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("use a rediss:// URL"), "{err}");
    // What the working sends wrote is in that Redis.
    let store = RedisKv::open_with(&url, "kakaowork-channel/", redis.ca()).unwrap();
    let ledgers = store.list_keys("emulator/ledger/v1/default/", 0).unwrap();
    assert_eq!(ledgers.len(), 3, "{ledgers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
