//! The CLI binary as a user runs it: no app key and no Redis state from the environment, and a
//! state directory of the test's choosing.

use std::path::Path;
use std::process::Command;

pub fn host(state_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kakaowork-host"));
    c.env_remove("KAKAOWORK_APP_KEY");
    c.env_remove("KAKAOWORK_STATE");
    c.env("KAKAOWORK_STATE_DIR", state_dir);
    c
}

/// Runs it to the end: exit code, stdout, stderr.
pub fn run(state_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = host(state_dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
