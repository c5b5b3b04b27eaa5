//! The main job as a user runs it: the binary, with no app key anywhere.

mod common;

use std::process::Command;

fn state() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kw-cli-state-{}", std::process::id()))
}

fn host() -> Command {
    common::cli::host(&state())
}

fn run(args: &[&str]) -> (i32, String, String) {
    common::cli::run(&state(), args)
}

#[test]
fn pairing_from_a_serving_process_is_approved_from_the_command_line() {
    use host_test::runtime::kv::{KvStore, Prefixed, SqliteKv};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("kw-cli-pairing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    // The "serving process": the same state file, in emulator mode (the CLI's prefix).
    let kv: Arc<dyn KvStore> = Arc::new(Prefixed {
        inner: SqliteKv::open(&dir.join("state.sqlite3")).unwrap(),
        prefix: "emulator/".into(),
    });
    let prepared = host_test::runtime::config::prepare(
        serde_json::json!({"callbackSecret": "test-callback-secret-0123456789"}),
        Some("k"),
    )
    .unwrap();
    let env = host_test::runtime::HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv,
        clock: host_test::runtime::clock::Clock::Real,
    };
    let rt =
        host_test::runtime::Runtime::new(host_test::component_bytes(), Default::default()).unwrap();
    let mut server = rt.instantiate(&env).unwrap();
    server
        .configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    let code = match server
        .check_policy(None, "10000004", host_test::wit::ChatType::Direct)
        .unwrap()
        .unwrap()
    {
        host_test::wit::PolicyDecision::PairingRequired(p) => p.code,
        other => panic!("{other:?}"),
    };

    // Explaining a decision changes nothing.
    let (rc, out, _) = run(&[
        "policy",
        "check",
        "--user",
        "10000005",
        "--state-dir",
        dir_s,
    ]);
    assert_eq!(rc, 0);
    assert!(out.contains("pairing required"), "{out}");
    let (_, out, _) = run(&["pairing", "list", "--state-dir", dir_s]);
    assert!(out.contains(&code) && out.contains("10000004"), "{out}");
    assert!(
        !out.contains("10000005"),
        "policy check created a request: {out}"
    );

    let (rc, out, err) = run(&[
        "pairing",
        "approve",
        &code.to_lowercase(),
        "--notify",
        "--state-dir",
        dir_s,
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("Approved user 10000004"), "{out}");
    assert!(out.contains("Told the user"), "{out}{err}");
    let (_, out, _) = run(&[
        "policy",
        "check",
        "--user",
        "10000004",
        "--state-dir",
        dir_s,
    ]);
    assert!(out.starts_with("allow:"), "{out}");
    // The serving process sees the approval at once.
    assert!(matches!(
        server
            .check_policy(None, "10000004", host_test::wit::ChatType::Direct)
            .unwrap()
            .unwrap(),
        host_test::wit::PolicyDecision::Allow(_)
    ));
    let (rc, _, err) = run(&["pairing", "approve", &code, "--state-dir", dir_s]);
    assert_eq!(rc, 1);
    assert!(err.contains("no pending pairing request"), "{err}");
    let (rc, _, err) = run(&["pairing", "reject", "NOPE2345", "--state-dir", dir_s]);
    assert_eq!(rc, 1);
    assert!(err.contains("NOPE2345"), "{err}");
}

#[test]
fn resuming_a_send_with_its_key_posts_nothing_twice() {
    let send = [
        "message",
        "send",
        "--target",
        "user:10000002",
        "--message",
        "once",
        "--idempotency-key",
        "cli-resume-1",
    ];
    let (rc, out, err) = run(&send);
    assert_eq!(rc, 0, "{out}{err}");
    let id = out
        .lines()
        .find(|l| l.contains("message id:"))
        .unwrap()
        .to_owned();
    // Same key again: the ledger in the state directory says it was sent; nothing is posted.
    let (rc, out2, err2) = run(&send);
    assert_eq!(rc, 0, "{out2}{err2}");
    assert!(out2.contains(&id), "{out2}");
    assert!(!out2.contains("POST /v1/messages.send"), "{out2}");
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
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad argument, as the README says"
    );
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

#[test]
fn secret_makes_an_accepted_callback_secret() {
    let (rc, out, _) = run(&["secret"]);
    assert_eq!(rc, 0);
    let secret = out.trim();
    assert_eq!(secret.len(), 43, "{secret}");
    let r = kakaowork_channel::model::config::parse(&serde_json::json!({"callbackSecret": secret}))
        .unwrap();
    assert_eq!(
        r.config.accounts[0].callback_secret.as_deref(),
        Some(secret)
    );
    let (_, again, _) = run(&["secret"]);
    assert_ne!(again.trim(), secret);
}

#[test]
fn serve_answers_callbacks_over_http() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("kw-cli-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.json");
    std::fs::write(
        &cfg,
        // A key and an origin nothing listens on: serving needs no request to KakaoWork.
        r#"{"callbackSecret": "abcdefghijklmnopqrstuvwxyz0123456789",
            "appKey": "test-app-key-never-used", "apiBase": "http://127.0.0.1:9"}"#,
    )
    .unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut child = host()
        .args([
            "serve",
            "--listen",
            &listen,
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into();
    let base = format!("http://{listen}/kakaowork/default/callback");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(up, "serve did not start");
        let post = |url: &str, ctype: &str, body: &str| {
            agent
                .post(url)
                .header("Content-Type", ctype)
                .send(body)
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(
            post(&format!("{base}?token=wrong"), "application/json", "{}"),
            401
        );
        assert_eq!(
            post(
                &format!("{base}?token=abcdefghijklmnopqrstuvwxyz0123456789"),
                "text/plain",
                "{}"
            ),
            415
        );
        assert_eq!(
            post(
                &format!("{base}?token=abcdefghijklmnopqrstuvwxyz0123456789"),
                "application/json",
                "{nope"
            ),
            400
        );
        assert_eq!(
            post(
                &format!("http://{listen}/elsewhere"),
                "application/json",
                "{}"
            ),
            404
        );
        // Without the token even a GET is refused by the host before it takes an instance;
        // with it, the plugin answers that callbacks are POST requests.
        assert_eq!(agent.get(&base).call().unwrap().status().as_u16(), 401);
        let with_token = format!("{base}?token=abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(
            agent.get(&with_token).call().unwrap().status().as_u16(),
            405
        );
    }));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The banner shows where to register, never a token: `callback-url` shows it on request.
    assert!(
        stderr.contains("/kakaowork/default/callback?token=…")
            && stderr.contains("kakaowork-host callback-url"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("abcdefghijklmnopqrstuvwxyz0123456789"),
        "{stderr}"
    );
    result.unwrap();
}

#[test]
fn the_compiled_component_is_kept_and_a_damaged_copy_is_replaced() {
    let dir = std::env::temp_dir().join(format!("kw-cli-compiled-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    let send = |text: &str| {
        let (rc, _, err) = run(&[
            "message",
            "send",
            "--target",
            "conversation:3000001",
            "--message",
            text,
            "--state-dir",
            dir_s,
        ]);
        assert_eq!(rc, 0, "{err}");
    };
    // Every file but the MACs beside the compiled ones.
    let compiled = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.join("compiled"))
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| !p.to_string_lossy().ends_with(".mac"))
                    .collect()
            })
            .unwrap_or_default()
    };
    send("first");
    let files = compiled();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().ends_with(".cwasm"));
    let good = std::fs::read(&files[0]).unwrap();
    // A damaged file (a crash in the middle of a write elsewhere, a disk error) is not trusted:
    // the next command compiles again and puts a good copy back.
    std::fs::write(&files[0], b"not a compiled component").unwrap();
    send("second");
    assert_eq!(std::fs::read(&files[0]).unwrap(), good);
    assert_eq!(compiled().len(), 1, "no stray temporary files");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loading compiled code runs it: a cached file is loaded only when it is this user's own,
/// private, and unchanged since this user's state signed it. Anything else is compiled again
/// and replaced.
#[test]
fn a_changed_or_foreign_compiled_file_is_not_loaded() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = std::env::temp_dir().join(format!("kw-cli-trusted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    let send = || {
        let (rc, _, err) = run(&[
            "message",
            "send",
            "--target",
            "conversation:3000001",
            "--message",
            "cache",
            "--state-dir",
            dir_s,
        ]);
        assert_eq!(rc, 0, "{err}");
    };
    send();
    let file = std::fs::read_dir(dir.join("compiled"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mac = file.with_extension("cwasm.mac");
    for p in [&file, &mac] {
        assert_eq!(
            std::fs::metadata(p).unwrap().mode() & 0o777,
            0o600,
            "{}",
            p.display()
        );
    }
    let good = std::fs::read(&file).unwrap();
    let restored = |what: &str| {
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "{what}: compiled again"
        );
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600, "{what}");
    };
    // One byte changed in the middle (wasmtime's own header check passes: it is past it).
    let mut changed = good.clone();
    let mid = changed.len() / 2;
    changed[mid] ^= 0x5a;
    std::fs::write(&file, &changed).unwrap();
    send();
    restored("a changed byte");
    // A MAC made under another key.
    std::fs::write(&mac, [0u8; 32]).unwrap();
    send();
    restored("another MAC");
    // Readable and writable by others.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    send();
    restored("a file others may write");
    // Another user's (root can make one; others skip this part).
    if std::process::Command::new("chown")
        .args(["65534", file.to_str().unwrap()])
        .status()
        .is_ok_and(|s| s.success())
    {
        send();
        restored("another user's file");
        assert_ne!(std::fs::metadata(&file).unwrap().uid(), 65534);
    } else {
        eprintln!("not root: the other-user case is not run");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_main_job_works_again_when_the_cached_dm_is_gone() {
    // Each run starts a fresh emulator, so the DM id cached by the first run names a
    // conversation the second emulator does not have, as a deleted DM would be for the real API.
    let dir = std::env::temp_dir().join(format!("kw-cli-rerun-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for attempt in ["first", "second", "third", "fourth", "fifth"] {
        let (rc, out, err) = run(&[
            "message",
            "send",
            "--target",
            "user:10000001",
            "--message",
            attempt,
            "--state-dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{attempt} run: {out}\n{err}");
        assert!(out.contains("Sent."), "{out}");
    }
    // The state holds the signing key, pairing data and message texts: the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "state directory");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
        assert!(dir.join("state.sqlite3").is_file());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_send_prints_its_key_and_how_to_resume() {
    let (rc, out, err) = run(&[
        "message",
        "send",
        "--target",
        "user:99999999",
        "--message",
        "to nobody",
    ]);
    assert_eq!(rc, 1, "{out}\n{err}");
    let key = err
        .lines()
        .find_map(|l| l.strip_prefix("idempotency key: "))
        .unwrap_or_else(|| panic!("no key in: {err}"));
    assert!(key.starts_with("cli-"), "{err}");
    assert!(err.contains(&format!("--idempotency-key {key}")), "{err}");
}

#[test]
fn the_unauthenticated_opt_out_is_accepted_and_warned_about() {
    let dir = std::env::temp_dir().join(format!("kw-cli-noauth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.json");
    // A real key (so no emulator), an API nobody listens on.
    std::fs::write(
        &cfg,
        r#"{"appKey": "k", "apiBase": "http://127.0.0.1:9", "dangerouslyAcceptUnauthenticatedCallbacks": true}"#,
    )
    .unwrap();
    // `policy check` makes no request: the configuration alone decides.
    let out = host()
        .args([
            "policy",
            "check",
            "--user",
            "10000001",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the opt-out is accepted: {stderr}"
    );
    assert!(
        stderr.contains("dangerouslyAcceptUnauthenticatedCallbacks") && stderr.contains("warning"),
        "and warned about: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
