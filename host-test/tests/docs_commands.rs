//! The `kakaowork-host` commands README.md and docs/ show, run as written (`xtask/tests/docs.rs`
//! finds each line here). `cargo run -p host-test --` is the CLI binary cargo built for this
//! test; each command runs in a directory and a state of its own, against the embedded emulator.

mod common;

use std::path::{Path, PathBuf};

use common::cli::host;
use host_test::runtime::kv::redis_server::RedisServer;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kw-docs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command line split as a POSIX shell splits it (quotes, backslashes, a leading `~/` as
/// `home`), without the prefix that names the CLI.
fn argv(line: &str, home: &Path) -> Vec<String> {
    let (mut words, mut word, mut in_word) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '`' | '$')) => {
                            word.push(chars.next().unwrap())
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '~' if !in_word && chars.peek() == Some(&'/') => {
                in_word = true;
                word.push_str(home.to_str().unwrap());
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    for prefix in [
        &["cargo", "run", "-p", "host-test", "--"][..],
        &["cargo", "run", "-q", "-p", "host-test", "--"],
        &["kakaowork-host"],
    ] {
        if words.starts_with(&prefix.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
            return words.split_off(prefix.len());
        }
    }
    panic!("not a kakaowork-host command: {line}");
}

/// Runs `line` in `dir` (also its HOME and, below it, its state): exit code, stdout, stderr.
fn run_in(dir: &Path, line: &str, state: Option<(&str, &str)>) -> (i32, String, String) {
    let mut args = argv(line, dir);
    if let Some((shown, real)) = state {
        // The documented Redis, served by a redis-server of the test's own on a free port.
        for a in &mut args {
            *a = a.replace(shown, real);
        }
    }
    let out = host(&dir.join("state"))
        .current_dir(dir)
        .env("HOME", dir)
        .args(&args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(name: &str, line: &str) -> (i32, String, String) {
    run_in(&temp(name), line, None)
}

#[test]
fn the_split_is_the_shells() {
    let home = Path::new("/h");
    assert_eq!(
        argv(
            r#"cargo run -q -p host-test -- a "b \"c\" \`d\`" 'e "f"' g\ h ~/i j~/k"#,
            home
        ),
        ["a", "b \"c\" `d`", "e \"f\"", "g h", "/h/i", "j~/k"]
    );
}

#[test]
fn a_markdown_message_with_a_button() {
    let (rc, out, err) = run(
        "markdown",
        r#"cargo run -p host-test -- message send --target user:10000001 --markdown --message "**배포** 완료: [로그](https://ci.example.com/7)" --button 확인=ack:deploy-7"#,
    );
    assert_eq!(rc, 0, "{out}\n{err}");
    // What docs/cli.md shows the emulator received, up to the signed values.
    for shown in [
        "Sent.",
        "POST /v1/conversations.open -> 200",
        r#"{"user_id":10000001}"#,
        "POST /v1/messages.send -> 200",
        r#"{"conversation_id":"2090001","text":"배포 완료: 로그","blocks":[{"inlines":[{"bold":true,"text":"배포","type":"styled"},{"text":" 완료: ","type":"styled"},{"text":"로그","type":"link","url":"https://ci.example.com/7"}],"text":"배포 완료: 로그","type":"text"},{"elements":[{"action_name":"ack","action_type":"submit_action","style":"default","text":"확인","type":"button","value":"kw2|l:ack:확인:deploy-7|default|2090001|10000001|"#,
        r#"{"elements":[{"action_type":"call_modal","style":"default","text":"답장하기","type":"button","value":"kw2|reply|default|2090001|10000001|"#,
    ] {
        assert!(out.contains(shown), "missing {shown}\n{out}");
    }
}

#[test]
fn the_directory_commands() {
    let (rc, out, err) = run(
        "dir-users",
        "cargo run -p host-test -- directory users --query minsu.kim@example.co.kr",
    );
    assert_eq!(rc, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "10000001",
            "김민수",
            "minsu.kim@example.co.kr",
            "플랫폼개발팀"
        ],
        "{out}"
    );

    let (rc, out, err) = run(
        "dir-departments",
        "cargo run -p host-test -- directory departments",
    );
    assert_eq!(rc, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["400002", "ROOT01", "0", "Example", "Corp."],
            vec!["400010", "DEV-PLT", "67", "플랫폼개발팀"],
            vec!["400011", "DESIGN", "62", "디자인팀"],
            vec!["400012", "SALES", "63", "영업팀"],
            vec!["400013", "HR", "63", "인사팀"],
        ],
        "{out}"
    );

    let (rc, out, err) = run(
        "dir-user",
        "cargo run -p host-test -- directory user yh.lee@example.co.kr --json",
    );
    assert_eq!(rc, 0, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        got,
        serde_json::json!([{"department":"플랫폼개발팀","display_name":"이영희","email":"yh.lee@example.co.kr","id":"10000002","name":"이영희","nickname":null,"other_emails":[],"position":null,"responsibility":"팀원","status":"activated"}])
    );
}

#[test]
fn the_component_command_writes_the_component() {
    let dir = temp("component");
    let (rc, _, err) = run_in(
        &dir,
        "cargo run -p host-test -- component --out kakaowork_channel.component.wasm",
        None,
    );
    assert_eq!(rc, 0, "{err}");
    let written = std::fs::read(dir.join("kakaowork_channel.component.wasm")).unwrap();
    assert_eq!(written, host_test::component_bytes());
}

#[test]
fn callback_url_prints_the_url_to_register() {
    let dir = temp("callback-url");
    std::fs::write(
        dir.join("config.jsonc"),
        r#"{"channels": {"kakao": {"appKey": "your-app-key-here",
            "callbackUrl": "https://your-domain.com/kakao/callback"}}}"#,
    )
    .unwrap();
    let (rc, out, err) = run_in(
        &dir,
        "kakaowork-host callback-url --config config.jsonc",
        None,
    );
    assert_eq!(rc, 0, "{err}");
    let token = out
        .trim()
        .strip_prefix("https://your-domain.com/kakao/callback?token=")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(token.len() >= 22, "{out}");
    // The same token on every run: it is kept in the state.
    let (_, again, _) = run_in(
        &dir,
        "kakaowork-host callback-url --config config.jsonc",
        None,
    );
    assert_eq!(again, out);
}

#[test]
fn callback_url_from_an_openclaw_home() {
    let dir = temp("callback-url-openclaw");
    std::fs::create_dir_all(dir.join(".openclaw")).unwrap();
    std::fs::write(
        dir.join(".openclaw/openclaw.json"),
        r#"{"channels": {"kakao": {"appKey": "your-app-key-here", "dmPolicy": "pairing"}}}"#,
    )
    .unwrap();
    let (rc, out, err) = run_in(
        &dir,
        "cargo run -q -p host-test -- callback-url --config ~/.openclaw/openclaw.json --state-dir ~/.openclaw/kakaowork --base https://your-gateway.example.com",
        None,
    );
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.trim()
            .starts_with("https://your-gateway.example.com/kakaowork/default/callback?token="),
        "{out}"
    );
    // Kept where OpenClaw's plugin keeps its state.
    assert!(dir.join(".openclaw/kakaowork/state.sqlite3").exists());
}

#[test]
fn sending_with_the_state_on_redis() {
    let redis = RedisServer::start().unwrap();
    let url = redis.url();
    let shown = "redis://127.0.0.1:6379/0";
    let dir = temp("redis");
    let (rc, out, err) = run_in(
        &dir,
        r#"cargo run -p host-test -- message send --target user:10000001 --message "공유 상태" --state redis://127.0.0.1:6379/0"#,
        Some((shown, &url)),
    );
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("공유 상태"), "{out}");
    // Nothing in the SQLite default: the state went to Redis.
    assert!(!dir.join("state/state.sqlite3").exists());

    std::fs::write(
        dir.join("messages.jsonl"),
        "{\"target\": \"user:10000001\", \"message\": \"첫째\"}\n\
         {\"target\": \"conversation:3000001\", \"message\": \"**둘째**\", \"markdown\": true}\n",
    )
    .unwrap();
    let batch = "cargo run -p host-test -- message batch --file messages.jsonl --state redis://127.0.0.1:6379/0";
    let (rc, out, err) = run_in(&dir, batch, Some((shown, &url)));
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("2 sent, 0 failed."), "{out}");
    // Run again, the same file posts nothing: each line's key is in the shared ledger.
    let (rc, again, err) = run_in(&dir, batch, Some((shown, &url)));
    assert_eq!(rc, 0, "{again}\n{err}");
    assert!(again.contains("0 of them messages.send"), "{again}");
    assert!(!dir.join("state/state.sqlite3").exists());
}
