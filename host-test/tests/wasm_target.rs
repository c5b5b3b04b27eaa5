//! The guest build adds the wasm target when a fresh toolchain lacks it (`build/wasm_target.rs`),
//! driven here with a fake `rustc` and `rustup` so that no test touches the real toolchain.
#![cfg(unix)]

#[path = "../build/wasm_target.rs"]
mod wasm_target;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use wasm_target::{Outcome, TargetError};

struct Fake {
    dir: PathBuf,
    libdir: PathBuf,
    rustc: PathBuf,
    // Writing a script while another test thread forks can leave the child holding it open
    // for writing, and executing it then fails with "Text file busy": one test at a time.
    _serial: std::sync::MutexGuard<'static, ()>,
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn fake(name: &str, with_core: bool) -> Fake {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("kw-wasm-target-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let libdir = dir.join("sysroot/lib/rustlib/wasm32-unknown-unknown/lib");
    std::fs::create_dir_all(&libdir).unwrap();
    if with_core {
        std::fs::write(libdir.join("libcore-0123abcd.rlib"), b"").unwrap();
    }
    let rustc = dir.join("rustc");
    script(&rustc, &format!("echo '{}'", libdir.display()));
    Fake {
        dir,
        libdir,
        rustc,
        _serial: serial,
    }
}

/// A rustup that logs its arguments and, when `installs`, puts `core` where rustc looks.
fn fake_rustup(f: &Fake, installs: bool) -> PathBuf {
    let bin = f.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let rustup = bin.join("rustup");
    let log = f.dir.join("rustup.log");
    let body = if installs {
        format!(
            "echo \"$@\" >> '{}'\ntouch '{}/libcore-feedbeef.rlib'",
            log.display(),
            f.libdir.display()
        )
    } else {
        format!(
            "echo \"$@\" >> '{}'\necho 'error: could not download component' >&2\nexit 1",
            log.display()
        )
    };
    script(&rustup, &body);
    rustup
}

fn rustup_calls(f: &Fake) -> Vec<String> {
    std::fs::read_to_string(f.dir.join("rustup.log"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[test]
fn a_present_target_is_left_alone() {
    let f = fake("present", true);
    let rustup = fake_rustup(&f, true);
    let got = wasm_target::ensure(&f.rustc, Some(&rustup), Some("1.95.0")).unwrap();
    assert_eq!(got, Outcome::Present);
    assert!(
        rustup_calls(&f).is_empty(),
        "rustup ran: {:?}",
        rustup_calls(&f)
    );
}

#[test]
fn a_missing_target_is_added_to_the_active_toolchain() {
    let f = fake("missing", false);
    let rustup = fake_rustup(&f, true);
    let toolchain = "1.95.0-x86_64-unknown-linux-gnu";
    let got = wasm_target::ensure(&f.rustc, Some(&rustup), Some(toolchain)).unwrap();
    assert_eq!(
        got,
        Outcome::Added(
            [
                "target",
                "add",
                "wasm32-unknown-unknown",
                "--toolchain",
                toolchain
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(
        rustup_calls(&f),
        vec![format!(
            "target add wasm32-unknown-unknown --toolchain {toolchain}"
        )]
    );
    assert!(wasm_target::has_core(&f.libdir));
}

#[test]
fn without_rustup_the_error_names_the_command_to_run() {
    let f = fake("no-rustup", false);
    let err = wasm_target::ensure(&f.rustc, None, Some("1.95.0")).unwrap_err();
    assert!(matches!(err, TargetError::NoRustup { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("rustup target add wasm32-unknown-unknown"),
        "{text}"
    );
    assert!(text.contains(&f.libdir.display().to_string()), "{text}");
}

#[test]
fn a_failing_rustup_is_reported_with_its_output() {
    let f = fake("rustup-fails", false);
    let rustup = fake_rustup(&f, false);
    let err = wasm_target::ensure(&f.rustc, Some(&rustup), None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TargetError::AddFailed { .. }), "{err:?}");
    assert!(text.contains("could not download component"), "{text}");
    // No toolchain known: rustup's own default, and no `--toolchain` argument.
    assert!(
        text.contains("`rustup target add wasm32-unknown-unknown`"),
        "{text}"
    );
    assert_eq!(rustup_calls(&f), vec!["target add wasm32-unknown-unknown"]);
}

#[test]
fn a_rustup_that_adds_nothing_is_not_taken_at_its_word() {
    let f = fake("rustup-lies", false);
    let bin = f.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let rustup = bin.join("rustup");
    script(&rustup, "exit 0");
    let err = wasm_target::ensure(&f.rustc, Some(&rustup), Some("1.95.0")).unwrap_err();
    assert!(err.to_string().contains("still holds no `core`"), "{err}");
}

#[test]
fn rustup_is_found_on_the_path_or_not_at_all() {
    let f = fake("path", false);
    let rustup = fake_rustup(&f, true);
    let empty = f.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let path = std::env::join_paths([empty.clone(), f.dir.join("bin")]).unwrap();
    assert_eq!(wasm_target::find_rustup(Some(path)), Some(rustup));
    let path = std::env::join_paths([empty]).unwrap();
    assert_eq!(wasm_target::find_rustup(Some(path)), None);
    assert_eq!(wasm_target::find_rustup(None), None);
}

#[test]
fn the_real_toolchain_has_the_target_after_the_build() {
    // This test binary exists only because the guest was built, so the build script saw (or
    // added) the target in the toolchain that runs the tests.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = wasm_target::target_libdir(Path::new(&rustc)).unwrap();
    assert!(libdir.ends_with("wasm32-unknown-unknown/lib"), "{libdir:?}");
    assert!(wasm_target::has_core(&libdir), "{libdir:?}");
}
