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

/// A child process killed however the test ends, unless it was waited for.
pub struct Guarded(Option<std::process::Child>);

impl Guarded {
    pub fn spawn(cmd: &mut Command) -> Self {
        Self(Some(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// SIGKILL, then reaped: no chance to write anything down.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the end: status, stdout, stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let out = self.0.take().unwrap().wait_with_output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
    }
}
