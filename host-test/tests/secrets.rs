//! No secret in any output: everything the CLI and `serve` print across a run (sends, lookups,
//! callbacks, and the errors of a wrong Redis password, an unreachable Redis, a malformed state
//! URL and a configuration without a key) holds none of the app key, the callback secret or the
//! Redis password. `callback-url`, whose job is to show the token, is the one exception.

mod common;

use std::time::Duration;

use common::cli::{Guarded, host, play, posted, run, standalone_emulator};
use host_test::runtime::kv::redis_server::RedisServer;
use serde_json::json;

const APP_KEY: &str = "appkey-SECRET-7f3a9c21d4e8";
const CALLBACK_SECRET: &str = "cbsecret-SECRET-0123456789abcdef";
const REDIS_PASSWORD: &str = "redispw-SECRET-55aa66bb";
const WRONG_PASSWORD: &str = "wrongpw-SECRET-0c0c0c";
const OTHER_URL_PASSWORD: &str = "pgpw-SECRET-1d1d1d";
const USER: u64 = 10000001;

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kw-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A free loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn nothing_the_cli_and_serve_print_holds_a_secret() {
    let state = dir();
    let (_emu, base, control) = standalone_emulator(&state, APP_KEY);
    let redis = RedisServer::start_with_password(REDIS_PASSWORD).unwrap();
    let config = state.join("config.json");
    let section = json!({"appKey": APP_KEY, "apiBase": base, "callbackSecret": CALLBACK_SECRET,
        "dmPolicy": "open", "state": redis.url()});
    std::fs::write(&config, section.to_string()).unwrap();
    let cfg = config.to_str().unwrap();
    let mut printed = String::new();
    let mut keep = |(code, out, err): (i32, String, String)| {
        printed.push_str(&out);
        printed.push_str(&err);
        code
    };

    // Daily use: a send, a probe, lookups, the policy, pairing.
    let target = format!("user:{USER}");
    let ok = |args: &[&str]| run(&state, args);
    assert_eq!(
        keep(ok(&[
            "message",
            "send",
            "--config",
            cfg,
            "--target",
            &target,
            "--message",
            "안녕하세요"
        ])),
        0
    );
    for args in [
        vec!["probe", "--config", cfg],
        vec!["directory", "users", "--config", cfg, "--query", "김"],
        vec!["policy", "check", "--config", cfg, "--user", "10000001"],
        vec!["pairing", "list", "--config", cfg],
    ] {
        keep(ok(&args));
    }

    // `serve`, with a user answering through the Reply button.
    let port = closed_port();
    let listen = format!("127.0.0.1:{port}");
    let server = Guarded::spawn(host(&state).args(["serve", "--listen", &listen, "--config", cfg]));
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "serve did not start");
    // The URL with its token, from the one command meant to show it (not collected).
    let (code, url, _) = run(
        &state,
        &[
            "callback-url",
            "--config",
            cfg,
            "--base",
            &format!("http://{listen}"),
        ],
    );
    assert_eq!(code, 0);
    let url = url.trim().to_owned();
    assert!(url.contains(CALLBACK_SECRET), "{url}");
    let message = posted(&control)
        .into_iter()
        .rfind(|p| p["text"] == "안녕하세요")
        .unwrap();
    let id = message["id"].as_str().unwrap();
    let (status, body) = play(
        &control,
        "click",
        json!({"callbackUrl": url, "messageId": id, "label": "답장하기", "userId": USER}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = play(
        &control,
        "submit",
        json!({"callbackUrl": url, "messageId": id, "userId": USER, "view": body["view"],
            "inputs": {"reply": "답장입니다"}}),
    );
    assert_eq!(status, 200);
    // A forged call and a wrong token make log lines too.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let wrong = url.replace(CALLBACK_SECRET, "wrong-token-0000000000000000000");
    let _ = agent
        .post(&wrong)
        .header("Content-Type", "application/json")
        .send("{}");
    let _ = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send("{nope");
    std::thread::sleep(Duration::from_millis(500));
    let (out, err) = server.kill_with_output();
    assert!(
        out.contains("답장입니다"),
        "serve printed the event: {out}\n{err}"
    );
    keep((0, out, err));

    // Failures that name the state: each must say what is wrong without the password.
    let wrong_password = redis.url().replace(REDIS_PASSWORD, WRONG_PASSWORD);
    let unreachable = format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}/0", closed_port());
    let not_redis = format!("postgres://admin:{OTHER_URL_PASSWORD}@db.example/app");
    for (state_url, says) in [
        (wrong_password.as_str(), "Redis"),
        (unreachable.as_str(), "cannot be reached"),
        (not_redis.as_str(), "takes a Redis URL"),
    ] {
        let (code, out, err) = run(
            &state,
            &[
                "message",
                "send",
                "--config",
                cfg,
                "--state",
                state_url,
                "--target",
                &target,
                "--message",
                "x",
            ],
        );
        assert_ne!(code, 0, "{state_url}");
        assert!(err.contains(says), "{err}");
        keep((code, out, err));
    }
    // A configuration without a key is refused (not run against the embedded emulator with the
    // configured secret), and `--emulator` makes a secret of its own.
    let keyless = state.join("keyless.json");
    std::fs::write(
        &keyless,
        json!({"callbackSecret": CALLBACK_SECRET}).to_string(),
    )
    .unwrap();
    let keyless = keyless.to_str().unwrap();
    let (code, out, err) = run(
        &state,
        &[
            "message",
            "send",
            "--config",
            keyless,
            "--target",
            &target,
            "--message",
            "x",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("--emulator"), "{err}");
    keep((code, out, err));
    let emulated = run(
        &state,
        &[
            "message",
            "send",
            "--emulator",
            "--config",
            keyless,
            "--target",
            &target,
            "--message",
            "x",
        ],
    );
    assert_eq!(keep(emulated), 0);

    for secret in [
        APP_KEY,
        CALLBACK_SECRET,
        REDIS_PASSWORD,
        WRONG_PASSWORD,
        OTHER_URL_PASSWORD,
    ] {
        assert!(
            !printed.contains(secret),
            "`{secret}` was printed:\n{printed}"
        );
    }
    assert!(printed.len() > 1000, "the run printed what it does");
    drop(redis);
    let _ = std::fs::remove_dir_all(&state);
}
