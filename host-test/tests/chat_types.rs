//! DM or group through `kakaowork-host serve`, as KakaoWork says the conversation is: a reply
//! sent to `conversation:<id>` of a DM stays a DM (its turns follow the DM rules), and a group
//! stays a group (refused under `groupPolicy: "disabled"`, answered under `"open"`). The events'
//! `chatType` is read from what `serve` prints.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::cli::{Guarded, host, play, posted, standalone_emulator};
use serde_json::{Value, json};

const KEY: &str = "chat-types-app-key";
const SECRET: &str = "chat-types-callback-secret-0123456789";
const USER: u64 = 10000001;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kw-chat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `message send` with the test's config; the id of the message it posted.
fn says(state: &Path, conn: &[&str], control: &str, target: &str, text: &str) -> Value {
    let out = host(state)
        .args(["message", "send", "--target", target, "--message", text])
        .args(conn)
        .output()
        .unwrap();
    if !out.status.success() {
        let reqs = ureq::get(format!("{control}/requests"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let tail = reqs.chars().rev().take(1500).collect::<String>();
        let tail: String = tail.chars().rev().collect();
        let err = String::from_utf8_lossy(&out.stderr);
        panic!("{target}: {}\n{tail}", err.lines().last().unwrap_or(""));
    }
    posted(control)
        .into_iter()
        .rfind(|p| p["text"] == text)
        .unwrap_or_else(|| panic!("{text} was not posted"))
}

/// A user clicking Reply on `message` and typing `text`: whether the modal opened.
fn reply(control: &str, url: &str, message: &Value, text: &str) -> bool {
    let id = message["id"].as_str().unwrap();
    let (status, body) = play(
        control,
        "click",
        json!({"callbackUrl": url, "messageId": id, "label": "답장하기", "userId": USER}),
    );
    assert_eq!(status, 200, "{body}");
    if !body["view"].is_object() {
        return false;
    }
    let (status, answer) = play(
        control,
        "submit",
        json!({"callbackUrl": url, "messageId": id, "userId": USER, "view": body["view"],
            "inputs": {"reply": text}}),
    );
    assert_eq!(status, 200, "{answer}");
    true
}

fn run(group_policy: &str) -> (Vec<bool>, Vec<Value>) {
    let state = dir(group_policy);
    let (_emu, base, control) = standalone_emulator(&state, KEY);
    let config = state.join("config.json");
    std::fs::write(
        &config,
        json!({"appKey": KEY, "callbackSecret": SECRET, "dmPolicy": "allowlist",
            "allowFrom": [USER.to_string(), "10000002"], "groupPolicy": group_policy})
        .to_string(),
    )
    .unwrap();
    let conn = ["--config", config.to_str().unwrap(), "--api-base", &base];
    // A DM opened by the plugin, the agent's reply to it by conversation id, and a group.
    let first = says(
        &state,
        &conn,
        &control,
        &format!("user:{USER}"),
        "첫 메시지",
    );
    let dm = first["conversationId"].to_string();
    let again = says(
        &state,
        &conn,
        &control,
        &format!("conversation:{dm}"),
        "답장",
    );
    let group = says(&state, &conn, &control, "users:10000001,10000002", "그룹");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let serve = Guarded::spawn(host(&state).args(["serve", "--listen", &listen]).args(conn));
    let up = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(&listen).is_ok()
    });
    assert!(up, "serve did not start");
    let url = format!("http://{listen}/kakaowork/default/callback?token={SECRET}");
    let opened = vec![
        reply(&control, &url, &again, "DM by conversation id"),
        reply(&control, &url, &group, "in the group"),
    ];
    // The events are printed as they come; give the last one a moment.
    std::thread::sleep(Duration::from_millis(500));
    let (stdout, _) = serve.kill_with_output();
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let _ = std::fs::remove_dir_all(&state);
    (opened, events)
}

#[test]
fn groups_disabled_a_dm_by_conversation_id_is_answered_and_the_group_is_refused() {
    let (opened, events) = run("disabled");
    assert_eq!(opened, [true, false]);
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["chatType"].as_str().unwrap(), e["text"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [("direct", "DM by conversation id")]);
}

#[test]
fn groups_open_both_are_answered_each_as_what_it_is() {
    let (opened, events) = run("open");
    assert_eq!(opened, [true, true]);
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["chatType"].as_str().unwrap(), e["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("direct", "DM by conversation id"),
            ("group", "in the group")
        ]
    );
}
