//! The main job as a user runs it: the binary, with no app key anywhere.

use std::process::Command;

fn host() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kakaowork-host"));
    c.env_remove("KAKAOWORK_APP_KEY");
    c
}

#[test]
fn message_send_with_no_account_uses_the_emulator_and_prints_a_receipt() {
    let out = host()
        .args([
            "message",
            "send",
            "--target",
            "user:10000001",
            "--message",
            "안녕하세요, Moltbot입니다",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("embedded KakaoWork emulator"), "{stderr}");
    assert!(stdout.contains("Sent."), "{stdout}");
    assert!(stdout.contains("message id:"), "{stdout}");
    assert!(
        stdout.contains("POST /v1/conversations.open -> 200"),
        "{stdout}"
    );
    assert!(stdout.contains("POST /v1/messages.send -> 200"), "{stdout}");
    assert!(stdout.contains("안녕하세요, Moltbot입니다"), "{stdout}");
    // The emulator's key is not printed in full.
    assert!(
        !stdout.contains(host_test::emulator::DEFAULT_APP_KEY),
        "{stdout}"
    );
}

#[test]
fn bad_target_fails_with_a_clear_message_and_no_request() {
    let out = host()
        .args(["message", "send", "--target", "#general", "--message", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid target `#general`"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no request"));
}

#[test]
fn invalid_config_exits_2_with_paths() {
    let dir = std::env::temp_dir().join(format!("kw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("config.json5");
    std::fs::write(
        &f,
        "{ channels: { kakao: { dmPolicy: 'everyone', allowFrom: 5 } } }",
    )
    .unwrap();
    let out = host()
        .args(["probe", "--config", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channels.kakao.dmPolicy"), "{stderr}");
    assert!(stderr.contains("channels.kakao.allowFrom"), "{stderr}");
}

#[test]
fn probe_and_component_commands() {
    let out = host().arg("probe").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("status activated"));

    let path = std::env::temp_dir().join(format!("kw-component-{}.wasm", std::process::id()));
    let out = host()
        .args(["component", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let written = std::fs::read(&path).unwrap();
    assert_eq!(written, host_test::component_bytes());
    // A component, not a core module: layer 1 in the preamble.
    assert_eq!(&written[..8], b"\0asm\x0d\0\x01\0");
}

#[test]
fn unknown_arguments_are_rejected_by_clap() {
    let out = host()
        .args(["message", "send", "--to", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
