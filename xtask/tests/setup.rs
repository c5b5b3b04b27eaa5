//! The test command as a newcomer meets it: a `PATH` without `redis-server` and without Node 24.
//! Stand-ins play apt-get, sudo, `id`, Node 24's installer (`openclaw/scripts/node24.sh` of a
//! stand-in tree), cargo, npm and node; each writes what it was asked to a log.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

struct World {
    dir: PathBuf,
}

impl World {
    /// A stand-in tree: `bin/` (the whole `PATH`), `root/openclaw/...`, and `log`.
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["bin", "root/openclaw/test", "root/openclaw/scripts"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("root/openclaw/package-lock.json"), "{}\n").unwrap();
        let w = Self { dir };
        // Node 24's installer: makes a node 24 of its own and prints its directory.
        let node24 = w.dir.join("node24");
        w.script(
            "root/openclaw/scripts/node24.sh",
            &format!(
                "echo node24.sh >> {log}\n/bin/mkdir -p {node24}\n\
                 printf '#!/bin/sh\\nexec {fake_node} \"$@\"\\n' > {node24}/node\n\
                 /bin/chmod +x {node24}/node\necho {node24}",
                log = w.log_path().display(),
                node24 = node24.display(),
                fake_node = w.dir.join("node-v24").display(),
            ),
        );
        // The Node 24 the installer gives: a version, and a test run per file.
        w.script(
            "node-v24",
            &format!(
                "echo \"node $*\" >> {log}\n\
                 case \"$*\" in\n\
                 --version) echo v24.19.0 ;;\n\
                 *fails.test.js) echo '✖ breaks (1ms)'; echo 'ℹ pass 2'; echo 'ℹ fail 1';\n\
                   echo; echo '✖ failing tests:'; echo; echo '✖ breaks (1ms)'; exit 1 ;;\n\
                 *--test*) echo '✔ works (1ms)'; echo 'ℹ pass 4'; echo 'ℹ fail 0' ;;\n\
                 esac",
                log = w.log_path().display()
            ),
        );
        w
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn script(&self, at: &str, body: &str) {
        let path = self.dir.join(at);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A program on the stand-in `PATH` that logs its arguments, then runs `then`.
    fn program(&self, name: &str, then: &str) {
        self.script(
            &format!("bin/{name}"),
            &format!(
                "echo \"{name} $*\" >> {}\n{then}",
                self.log_path().display()
            ),
        );
    }

    fn user(&self, uid: u32) {
        self.script("bin/id", &format!("echo {uid}"));
    }

    /// apt-get that installs a `redis-server` onto the stand-in `PATH`.
    fn apt_get(&self) {
        let redis = self.dir.join("bin/redis-server");
        self.program(
            "apt-get",
            &format!(
                "case \"$*\" in *install*redis-server*)\n\
                 printf '#!/bin/sh\\necho Redis server v=7.0.15 sha=0\\n' > {r}\n\
                 /bin/chmod +x {r} ;; esac",
                r = redis.display()
            ),
        );
    }

    fn xtask(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .arg("--root")
            .arg(self.dir.join("root"))
            .env("PATH", self.dir.join("bin"))
            .output()
            .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines_starting(log: &str, with: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.starts_with(with))
        .map(str::to_owned)
        .collect()
}

#[test]
fn as_root_it_installs_redis_server_with_apt_get_and_fetches_node_24() {
    let w = World::new("root");
    w.user(0);
    w.apt_get();
    let out = w.xtask(&["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let log = w.log();
    assert_eq!(
        lines_starting(&log, "apt-get"),
        ["apt-get update -qq", "apt-get install -y -qq redis-server"],
        "{log}"
    );
    assert!(lines_starting(&log, "sudo").is_empty(), "{log}");
    assert_eq!(lines_starting(&log, "node24.sh").len(), 1, "{log}");
    assert!(
        stdout.contains("redis-server 7.0.15 at ")
            && stdout.contains("(installed now by `")
            && stdout.contains("node 24.19.0 at ")
            && stdout.contains("(from `openclaw/scripts/node24.sh`)"),
        "{stdout}"
    );
}

#[test]
fn without_root_it_installs_through_sudo_that_asks_no_password() {
    let w = World::new("sudo");
    w.user(1000);
    w.apt_get();
    // sudo -n runs the command (as `sudo -n true` and `sudo -n apt-get ...`).
    w.program("sudo", "[ \"$1\" = -n ] || exit 1\nshift\n\"$@\"\nexit $?");
    let out = w.xtask(&["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let log = w.log();
    assert!(
        log.contains("sudo -n true\n")
            && log.contains("apt-get install -y -qq redis-server\n")
            && lines_starting(&log, "sudo -n ")
                .iter()
                .any(|l| l.ends_with("/bin/apt-get install -y -qq redis-server")),
        "{log}"
    );
}

#[test]
fn without_root_or_password_less_sudo_it_stops_at_once_with_the_command_to_run() {
    let w = World::new("nosudo");
    w.user(1000);
    w.apt_get();
    w.program("sudo", "exit 1");
    let out = w.xtask(&["test"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Run `sudo apt-get install -y redis-server`, then this command again"),
        "{stderr}"
    );
    let log = w.log();
    assert!(lines_starting(&log, "apt-get").is_empty(), "{log}");
    // At once: no suite ran, nothing else was set up.
    assert!(
        !log.contains("node24.sh") && !stdout.contains("==="),
        "{log}\n{stdout}"
    );
}

#[test]
fn a_failing_install_is_reported_with_its_command() {
    let w = World::new("aptfails");
    w.user(0);
    w.program("apt-get", "exit 100");
    let out = w.xtask(&["setup"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("installing redis-server failed: `")
            && stderr.contains("apt-get update -qq` exited with exit status: 100"),
        "{stderr}"
    );
}

#[test]
fn tools_already_there_are_used_as_they_are() {
    let w = World::new("present");
    w.program("redis-server", "echo Redis server v=7.0.15");
    w.program("node", "echo v24.16.0");
    let out = w.xtask(&["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("(already on PATH)").count(), 2, "{stdout}");
    let log = w.log();
    assert!(
        !log.contains("node24.sh") && !log.contains("apt-get"),
        "{log}"
    );
}

#[test]
fn a_node_older_than_24_16_is_replaced_by_node_24() {
    let w = World::new("oldnode");
    w.program("redis-server", "echo Redis server v=7.0.15");
    w.program("node", "echo v24.15.0");
    let out = w.xtask(&["setup"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("node 24.15.0 is not >= 24.16"), "{stderr}");
    assert!(stdout.contains("node 24.19.0 at "), "{stdout}");
}

#[test]
fn a_failing_suite_does_not_stop_the_others_and_fails_the_run() {
    let w = World::new("keepgoing");
    w.user(0);
    w.apt_get();
    for f in ["fails", "works"] {
        std::fs::write(w.dir.join(format!("root/openclaw/test/{f}.test.js")), "").unwrap();
    }
    // cargo whose first test binary has a failing test and exits 101, as cargo does.
    w.program(
        "cargo",
        "echo \"cargo-env:${CARGO_MANIFEST_DIR:-unset}:${CARGO_PKG_NAME:-unset}\" >> LOG\n\
         echo '     Running tests/cli.rs (target/debug/deps/cli-0a1b)'\n\
         echo 'test sends ... FAILED'\n\
         echo 'test result: FAILED. 9 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s'\n\
         echo '     Running tests/emulator.rs (target/debug/deps/emulator-0a1b)'\n\
         echo 'test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 2.00s'\n\
         exit 101",
    );
    let cargo = std::fs::read_to_string(w.dir.join("bin/cargo")).unwrap();
    w.script(
        "bin/cargo",
        &cargo
            .trim_start_matches("#!/bin/sh\n")
            .replace("LOG", &w.log_path().display().to_string()),
    );
    // npm whose type check finds a misspelt variant tag, as tsc reports one.
    w.program(
        "npm",
        "case \"$*\" in 'run typecheck')\n\
         echo 'plugin/src/http.js(9,9): error TS2820: Type timout is not a WIT tag'; exit 2 ;; esac",
    );
    // As `cargo xtask` runs it: with the variables cargo sets for the crate it runs.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["test", "--root"])
        .arg(w.dir.join("root"))
        .env("PATH", w.dir.join("bin"))
        .env("CARGO", w.dir.join("bin/cargo"))
        .env("CARGO_MANIFEST_DIR", "/somewhere/xtask")
        .env("CARGO_PKG_NAME", "xtask")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let log = w.log();
    // A nested cargo that saw them would rebuild crates whose build scripts watch them.
    assert!(log.contains("cargo-env:unset:unset\n"), "{log}");
    // Every suite ran: Rust's, then OpenClaw's set-up and both of its files.
    assert!(
        log.contains("cargo test --workspace --no-fail-fast\n")
            && log.contains("npm ci --no-audit --no-fund\n")
            && log.contains("npm run build\n")
            && log.contains("npm run typecheck\n")
            && log.contains("test/fails.test.js\n")
            && log.contains("test/works.test.js\n"),
        "{log}"
    );
    let summary = stdout.split("=== summary").nth(1).expect(&stdout);
    assert!(summary.contains("total: 20 passed, 3 failed"), "{summary}");
    // tsc's error, in the run's output and among the failures at the end.
    assert!(
        summary.contains(
            "  openclaw typecheck (tsc): plugin/src/http.js(9,9): error TS2820: Type timout"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("  rust cli (tests/cli.rs): sends"),
        "{summary}"
    );
    assert!(
        summary.contains("  openclaw fails.test.js: breaks"),
        "{summary}"
    );
    let row = |name: &str| {
        summary
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in {summary}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("works.test.js")[2..4], ["4", "0"]);
    assert_eq!(row("emulator (tests/emulator.rs)").last().unwrap(), "ok");
}

/// The README's command for the OpenClaw part, as a user types it: `cargo xtask` is the alias
/// `.cargo/config.toml` defines as `run --package xtask --`, so the words after it are the
/// xtask's own arguments, read here by the xtask itself.
#[test]
fn cargo_xtask_test_openclaw_fetches_node_24_builds_the_plugin_and_runs_only_the_openclaw_suites() {
    const COMMAND: &str = "cargo xtask test openclaw";
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains("xtask = \"run --package xtask --\""),
        "{config}"
    );
    let args: Vec<&str> = COMMAND
        .strip_prefix("cargo xtask ")
        .unwrap()
        .split_whitespace()
        .collect();

    let w = World::new("openclawonly");
    w.user(0);
    w.apt_get();
    for f in ["gateway", "works"] {
        std::fs::write(w.dir.join(format!("root/openclaw/test/{f}.test.js")), "").unwrap();
    }
    w.program("cargo", "exit 0");
    w.program("npm", "exit 0");
    let out = w.xtask(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let log = w.log();
    // No Node on PATH: the pinned Node 24 is fetched, then npm ci, the build, the type check,
    // each test file.
    assert_eq!(lines_starting(&log, "node24.sh").len(), 1, "{log}");
    assert_eq!(
        lines_starting(&log, "npm"),
        [
            "npm ci --no-audit --no-fund",
            "npm run build",
            "npm run typecheck"
        ],
        "{log}"
    );
    assert_eq!(
        lines_starting(&log, "node --test"),
        [
            "node --test --test-concurrency=1 --test-reporter=spec test/gateway.test.js",
            "node --test --test-concurrency=1 --test-reporter=spec test/works.test.js",
        ],
        "{log}"
    );
    // The OpenClaw suites only: no Rust suite.
    assert!(lines_starting(&log, "cargo").is_empty(), "{log}");
    let summary = stdout.split("=== summary").nth(1).expect(&stdout);
    assert!(
        summary.contains("gateway.test.js")
            && summary.contains("works.test.js")
            && !summary.contains("rust"),
        "{summary}"
    );
}
