//! `kakaowork-host message batch`: a file of messages, each under its own key, so that running
//! it again sends nothing twice, and a short outage of the state store is waited out.

mod common;

use std::time::{Duration, Instant};

use common::cli::{Guarded, host, run};
use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions};
use host_test::runtime::kv::redis_server::RedisServer;

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kw-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_batch_is_sent_once_and_running_it_again_sends_nothing() {
    let dir = temp("again");
    let file = dir.join("m.jsonl");
    std::fs::write(
        &file,
        concat!(
            "{\"target\": \"user:10000001\", \"message\": \"첫째\"}\n",
            "\n",
            "{\"target\": \"conversation:3000001\", \"message\": \"**둘째**\", \"markdown\": true}\n",
            "{\"target\": \"user:10000002\", \"message\": \"셋째\", \"idempotencyKey\": \"mine-3\"}\n",
        ),
    )
    .unwrap();
    let args = ["message", "batch", "--file", file.to_str().unwrap()];
    let (rc, out, err) = run(&dir.join("state"), &args);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("line 1: sent to user:10000001"), "{out}");
    assert!(
        out.contains("line 3: sent to conversation:3000001"),
        "{out}"
    );
    assert!(out.contains("line 4: sent to user:10000002"), "{out}");
    assert!(out.contains("key mine-3"), "{out}");
    assert!(out.contains("3 sent, 0 failed."), "{out}");
    assert!(out.contains("3 of them messages.send"), "{out}");

    // The same file, the same state: every line is found in its ledger, none is posted.
    let (rc, out, err) = run(&dir.join("state"), &args);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("3 sent, 0 failed."), "{out}");
    assert!(out.contains("0 of them messages.send"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_line_stops_the_batch_before_anything_is_sent() {
    let dir = temp("bad");
    let file = dir.join("m.jsonl");
    std::fs::write(
        &file,
        concat!(
            "{\"target\": \"user:10000001\", \"message\": \"좋은 줄\", \"idempotencyKey\": \"k\"}\n",
            "{\"target\": 5, \"message\": \"x\"}\n",
            "{\"target\": \"user:10000001\", \"mesage\": \"오타\"}\n",
            "{\"target\": \"user:10000002\", \"message\": \"y\", \"idempotencyKey\": \"k\"}\n",
            "not json\n",
        ),
    )
    .unwrap();
    let (rc, out, err) = run(
        &dir.join("state"),
        &["message", "batch", "--file", file.to_str().unwrap()],
    );
    assert_eq!(rc, 2, "{out}\n{err}");
    assert!(err.contains("4 bad line(s); nothing was sent"), "{err}");
    for n in [2, 3, 4, 5] {
        assert!(err.contains(&format!("line {n}:")), "line {n}: {err}");
    }
    assert!(err.contains("unknown field `mesage`"), "{err}");
    assert!(err.contains("already used on line 1"), "{err}");
    assert!(!out.contains("sent to"), "{out}");

    let (rc, _, err) = run(
        &dir.join("state"),
        &["message", "batch", "--file", "/nonexistent/m.jsonl"],
    );
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("cannot read --file /nonexistent/m.jsonl"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batch_waits_out_a_redis_outage_and_sends_nothing_while_it_lasts() {
    let mut redis = RedisServer::start().unwrap();
    let emulator = Emulator::start(EmulatorOptions::default()).unwrap();
    let dir = temp("outage");
    // Two messages a second: the outage falls in the middle of the batch.
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"rateLimit": {"requestsPerMinute": 120, "burst": 1},
            "callbackSecret": "test-callback-secret-0123456789"}"#,
    )
    .unwrap();
    let file = dir.join("m.jsonl");
    let lines: String = (0..12)
        .map(|i| format!("{{\"target\": \"conversation:3000001\", \"message\": \"batch {i}\"}}\n"))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let url = redis.url();
    let mut child = Guarded::spawn(
        host(&dir.join("state"))
            .env("KAKAOWORK_APP_KEY", DEFAULT_APP_KEY)
            .args(["message", "batch", "--file", file.to_str().unwrap()])
            .args(["--state", &url, "--config", config.to_str().unwrap()])
            .args(["--api-base", &emulator.base_url()]),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while emulator.posted().len() < 3 {
        assert!(Instant::now() < deadline, "the batch posted too little");
        assert!(child.running(), "the batch ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Between two requests (one every 500 ms): the third message's ledger is written by now.
    // An outage between a request and its ledger write, on a Redis that comes back empty, is
    // the case the README names (persistence), not this test's.
    std::thread::sleep(Duration::from_millis(150));
    redis.stop();
    // Requests already on their way when Redis went are let through; then nothing.
    std::thread::sleep(Duration::from_millis(300));
    let at_outage = emulator.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        emulator.requests().len(),
        at_outage,
        "no request while Redis is down"
    );
    redis.restart().unwrap();

    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("storage error") && stderr.contains("trying again in 1 s"),
        "{stderr}"
    );
    assert!(stdout.contains("12 sent, 0 failed."), "{stdout}");
    let mut posted: Vec<String> = emulator.posted().into_iter().map(|p| p.text).collect();
    assert_eq!(posted.len(), 12, "{posted:?}");
    posted.sort();
    posted.dedup();
    assert_eq!(posted.len(), 12, "no message twice");
    let _ = std::fs::remove_dir_all(&dir);
}
