//! The seed's configuration examples, written as its docs write them, against a standalone
//! emulator that takes their app key: every command works, with no callbackSecret anywhere,
//! and callbacks need the token `callback-url` shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SEED_KEY: &str = "your-app-key-here";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kw-seed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `kakaowork-host emulator` with the seed's app key.
fn emulator(state: &Path) -> (common::cli::Guarded, String, String) {
    common::cli::standalone_emulator(state, SEED_KEY)
}

/// The CLI with only the environment the test gives it.
fn cli(state: &Path, env_key: bool) -> Command {
    let mut c = common::cli::host(state);
    if env_key {
        c.env("KAKAOWORK_APP_KEY", SEED_KEY);
    }
    c
}

fn run(mut c: Command, args: &[&str]) -> (i32, String, String) {
    let out = c.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The seed's examples: (name, config file or none, whether the key is in the environment).
fn seeds() -> Vec<(&'static str, Option<&'static str>, bool)> {
    vec![
        ("environment variable only", None, true),
        (
            "config file",
            Some(
                r#"{
  "channels": {
    "kakao": {
      "enabled": true,
      "appKey": "your-app-key-here",
      "dmPolicy": "pairing"
    }
  }
}"#,
            ),
            false,
        ),
        (
            "multiple accounts",
            Some(
                r#"{
  "channels": {
    "kakao": {
      "enabled": true,
      "accounts": {
        "support": {
          "appKey": "your-app-key-here",
          "dmPolicy": "open"
        },
        "internal": {
          "appKey": "INTERNAL_BOT_APP_KEY",
          "dmPolicy": "allowlist",
          "allowFrom": ["12345", "67890"]
        }
      },
      "defaultAccount": "support"
    }
  }
}"#,
            ),
            false,
        ),
        (
            "callback URL",
            Some(
                r#"{
  "channels": {
    "kakao": {
      "callbackUrl": "https://your-domain.com/kakao/callback",
      "callbackPath": "/kakao/callback"
    }
  }
}"#,
            ),
            true,
        ),
    ]
}

#[test]
fn every_seed_example_sends_probes_and_lists_without_a_callback_secret() {
    let emu_state = dir("emu");
    let (_emu, base, _) = emulator(&emu_state);
    for (name, config, env_key) in seeds() {
        let state = dir(&name.replace(' ', "-"));
        let mut conn = vec!["--api-base".to_owned(), base.clone()];
        if let Some(text) = config {
            let file = state.join("config.jsonc");
            std::fs::write(&file, text).unwrap();
            conn.extend(["--config".to_owned(), file.display().to_string()]);
        }
        let conn: Vec<&str> = conn.iter().map(String::as_str).collect();
        for command in [
            &[
                "message",
                "send",
                "--target",
                "user:10000001",
                "--message",
                "안녕하세요",
            ][..],
            &["probe"][..],
            &["directory", "users"][..],
        ] {
            let args: Vec<&str> = command.iter().chain(&conn).copied().collect();
            let (rc, out, err) = run(cli(&state, env_key), &args);
            assert_eq!(rc, 0, "{name}: {command:?}\n{out}\n{err}");
            assert!(
                !err.contains("embedded KakaoWork emulator"),
                "{name}: the configured key is used: {err}"
            );
        }
        let _ = std::fs::remove_dir_all(&state);
    }
    let _ = std::fs::remove_dir_all(&emu_state);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn callbacks_need_the_token_callback_url_shows_and_serve_never_prints_it() {
    let emu_state = dir("cb-emu");
    let (_emu, base, control) = emulator(&emu_state);
    let state = dir("cb");
    let (_, config, env_key) = seeds().pop().unwrap();
    let file = state.join("config.jsonc");
    std::fs::write(&file, config.unwrap()).unwrap();
    let conn = ["--config", file.to_str().unwrap(), "--api-base", &base];

    // The URL to register: the configured public URL with the plugin's own token.
    let (rc, out, err) = run(
        cli(&state, env_key),
        &[&["callback-url"][..], &conn].concat(),
    );
    assert_eq!(rc, 0, "{err}");
    let public = out.trim();
    let token = public
        .strip_prefix("https://your-domain.com/kakao/callback?token=")
        .unwrap_or_else(|| panic!("{public}"));
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    // Asked again (another process on the same state): the same token.
    let (_, again, _) = run(
        cli(&state, env_key),
        &[&["callback-url"][..], &conn].concat(),
    );
    assert_eq!(again.trim(), public);

    // A message with a Reply button to click.
    let (rc, _, err) = run(
        cli(&state, env_key),
        &[
            &[
                "message",
                "send",
                "--target",
                "user:10000001",
                "--message",
                "hi",
            ][..],
            &conn,
        ]
        .concat(),
    );
    assert_eq!(rc, 0, "{err}");
    let message = common::cli::posted(&control).last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listen = format!("127.0.0.1:{}", free_port());
    let mut serve = cli(&state, env_key);
    serve.args([&["serve", "--listen", &listen][..], &conn].concat());
    let serve = common::cli::Guarded::spawn(&mut serve);
    let local = format!("http://{listen}/kakao/callback");
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "serve did not start");
    let click = |url: &str| {
        common::cli::play(
            &control,
            "click",
            serde_json::json!({"callbackUrl": url, "messageId": message,
                "label": "답장하기", "userId": 10000001}),
        )
    };
    // Without the token, or with a wrong one: 401.
    assert_eq!(click(&local).0, 401);
    assert_eq!(click(&format!("{local}?token={}", "0".repeat(64))).0, 401);
    // With it: accepted. Under the seed's default dmPolicy ("pairing") an unknown user is
    // sent a pairing code first; once approved, the same click opens the Reply modal.
    let with_token = format!("{local}?token={token}");
    let (status, body) = click(&with_token);
    assert_eq!((status, body.clone()), (200, serde_json::json!({})));
    let (rc, out, err) = run(
        cli(&state, env_key),
        &[&["pairing", "approve", "10000001"][..], &conn].concat(),
    );
    assert_eq!(rc, 0, "{out}{err}");
    let (status, body) = click(&with_token);
    assert_eq!(status, 200, "{body}");
    assert!(body["view"]["value"].is_string(), "{body}");

    let (_, out) = serve.kill_with_output();
    assert!(!out.contains(token), "serve printed the token: {out}");
    assert!(out.contains("kakaowork-host callback-url"), "{out}");
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&emu_state);
}
