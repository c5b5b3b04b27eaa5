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

    /// SIGKILL, then what it wrote: stdout, stderr.
    pub fn kill_with_output(mut self) -> (String, String) {
        let mut c = self.0.take().unwrap();
        let _ = c.kill();
        let out = c.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
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

/// `kakaowork-host emulator` taking `app_key`: the process, its API URL and its control URL.
pub fn standalone_emulator(state: &Path, app_key: &str) -> (Guarded, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = host(state)
        .args(["emulator", "--listen", "127.0.0.1:0"])
        .args(["--control-listen", "127.0.0.1:0", "--app-key", app_key])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let guard = Guarded(Some(child));
    let (mut base, mut control) = (None, None);
    // It prints its addresses at once; the loop ends at the third line or at its exit.
    for line in out.lines().take(3) {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("base url: ") {
            base = Some(u.to_owned());
        } else if let Some(u) = line.strip_prefix("control url: ") {
            control = Some(u.to_owned());
        }
    }
    (
        guard,
        base.expect("base url"),
        control.expect("control url"),
    )
}

/// What the emulator's workspace shows (`GET /posted`): every message posted, oldest first.
pub fn posted(control: &str) -> Vec<serde_json::Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let text = agent
        .get(format!("{control}/posted"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A user playing the emulator's control API (`POST /click`, `/submit`): KakaoWork's answer
/// to the callback, as `(status, body)`.
pub fn play(control: &str, what: &str, body: serde_json::Value) -> (u64, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut r = agent
        .post(format!("{control}/{what}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    (v["status"].as_u64().unwrap_or(0), v["body"].clone())
}
