//! The suites: the Rust workspace (`cargo test --workspace --no-fail-fast`, one suite per test
//! binary) and the OpenClaw plugin (`npm ci` when the lockfile changed, `npm run build`, the
//! type check of its JS host against the WIT's generated declarations (`npm run typecheck`),
//! then each `openclaw/test/*.test.js` file as a suite, run as `npm test` runs them). Every
//! output line is shown as it comes and read for the counts.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::setup::Tools;

/// What `cargo xtask test <filter>` runs.
#[derive(Debug, PartialEq)]
pub enum Selection {
    All,
    Rust,
    OpenClaw,
    /// One OpenClaw test file, by its name without `.test.js`.
    OpenClawFile(String),
    /// Tests whose name contains this text, in every suite.
    Name(String),
}

impl Selection {
    pub fn parse(filter: Option<&str>) -> Self {
        match filter.map(str::trim) {
            None | Some("") => Self::All,
            Some("rust") => Self::Rust,
            Some("openclaw") => Self::OpenClaw,
            Some(f) => match f.strip_prefix("openclaw/") {
                Some(file) => Self::OpenClawFile(file.trim_end_matches(".test.js").to_owned()),
                None => Self::Name(f.to_owned()),
            },
        }
    }

    pub fn wants_rust(&self) -> bool {
        matches!(self, Self::All | Self::Rust | Self::Name(_))
    }

    pub fn wants_openclaw(&self) -> bool {
        !matches!(self, Self::Rust)
    }

    /// The guest's lints have no test names: they run with all of the Rust suites.
    pub fn wants_guest_shape(&self) -> bool {
        matches!(self, Self::All | Self::Rust)
    }

    /// The type check is no test file and has no test names: it runs with all of OpenClaw.
    pub fn wants_typecheck(&self) -> bool {
        matches!(self, Self::All | Self::OpenClaw)
    }

    fn name(&self) -> Option<&str> {
        match self {
            Self::Name(name) => Some(name),
            _ => None,
        }
    }
}

/// One suite's outcome.
#[derive(Debug, Default, PartialEq)]
pub struct SuiteResult {
    pub group: &'static str,
    pub name: String,
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
    pub time: Duration,
    /// The failing tests' names.
    pub failures: Vec<String>,
    /// Where known, why a failing test failed (the first line of its error), by its name in
    /// `failures`: the summary is often all of a run's log a reader gets.
    pub why: BTreeMap<String, String>,
    /// Why the suite failed without (or besides) a failing test: it did not build, it
    /// crashed, it was not run because its set-up failed.
    pub problem: Option<String>,
    /// Whether it reported its counts (a filter can leave a suite with no test to run).
    pub reported: bool,
    /// A set-up step or a line of totals (all of `cargo test`, building included): shown even
    /// though it runs no test of its own.
    pub aggregate: bool,
}

impl SuiteResult {
    fn new(group: &'static str, name: impl Into<String>) -> Self {
        Self {
            group,
            name: name.into(),
            ..Self::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.failed == 0 && self.problem.is_none()
    }

    fn problem(group: &'static str, name: &str, problem: String) -> Self {
        Self {
            problem: Some(problem),
            ..Self::new(group, name)
        }
    }
}

/// Runs `cmd` with its stdout and stderr in one pipe (so their lines keep their order), shows
/// each line and hands it to `on_line`.
fn run_streamed(mut cmd: Command, mut on_line: impl FnMut(&str)) -> std::io::Result<ExitStatus> {
    let (reader, writer) = std::io::pipe()?;
    cmd.stdout(writer.try_clone()?).stderr(writer);
    let mut child = cmd.spawn()?;
    // The command keeps its copies of the pipe's writing end: without this the read below
    // would wait for ever after the child exits.
    drop(cmd);
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(reader).split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        let _ = writeln!(out, "{text}");
        on_line(text);
    }
    child.wait()
}

/// A command for a suite, without the variables `cargo run` set for this xtask
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...): build scripts such as ring's ask cargo to
/// rerun when those change, so a nested cargo that saw them would compile those crates again.
fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_crate_variable) {
            cmd.env_remove(&name);
        }
    }
    cmd
}

/// The variables cargo sets for the crate it runs (its reference's "Environment variables Cargo
/// sets for crates"), but `CARGO` itself, which says which cargo to use.
fn is_crate_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

fn cargo() -> std::ffi::OsString {
    // `cargo xtask` runs under cargo, which says where it is; the same cargo runs the tests.
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The Rust workspace: unit tests, the wasmtime end-to-end suites, Redis, CLI, xtask.
pub fn rust(root: &Path, tools: &Tools, selection: &Selection) -> Vec<SuiteResult> {
    banner("Rust workspace: cargo test --workspace --no-fail-fast");
    let started = Instant::now();
    let mut cmd = command(cargo());
    cmd.current_dir(root)
        .env("PATH", &tools.path)
        .args(["test", "--workspace", "--no-fail-fast"]);
    if let Some(name) = selection.name() {
        cmd.args(["--", name]);
    }
    let mut parser = RustParser::default();
    let status = run_streamed(cmd, |line| parser.line(line));
    let mut results = parser.finish(status, started.elapsed());
    if selection.wants_guest_shape() {
        results.push(guest_shape(root, tools));
    }
    results
}

/// The guest's lints, its function length among them (`clippy::too_many_lines` at the
/// threshold in `clippy.toml`, switched on in `src/lib.rs`): quiet, so that it prints only what
/// it finds, and checks nothing the test build did not compile already.
fn guest_shape(root: &Path, tools: &Tools) -> SuiteResult {
    banner("Rust guest: cargo clippy -q -p kakaowork-channel --lib (function length and lints)");
    let started = Instant::now();
    let mut cmd = command(cargo());
    cmd.current_dir(root).env("PATH", &tools.path).args([
        "clippy",
        "-q",
        "--locked",
        "-p",
        "kakaowork-channel",
        "--lib",
        "--",
        "-D",
        "warnings",
    ]);
    let mut parser = LintParser::default();
    let status = run_streamed(cmd, |line| parser.line(line));
    parser.finish(status, started.elapsed())
}

const GUEST_SHAPE: &str = "guest lints (clippy, functions of at most 80 lines)";

/// Reads clippy's output: each finding (`error: ...` then its `--> file:line`) is a failure.
#[derive(Default)]
pub struct LintParser {
    findings: Vec<String>,
    pending: Option<String>,
}

impl LintParser {
    pub fn line(&mut self, line: &str) {
        let t = line.trim();
        if let Some(what) = t.strip_prefix("error: ") {
            if !what.starts_with("could not compile") && !what.starts_with("aborting") {
                self.pending = Some(what.to_owned());
            }
        } else if let Some(at) = t.strip_prefix("--> ")
            && let Some(what) = self.pending.take()
        {
            self.findings.push(format!("{at}: {what}"));
        }
    }

    pub fn finish(mut self, status: std::io::Result<ExitStatus>, time: Duration) -> SuiteResult {
        self.findings.extend(self.pending.take());
        let mut r = SuiteResult::new("rust", GUEST_SHAPE);
        r.time = time;
        match status {
            Err(e) => r.problem = Some(format!("could not start cargo clippy: {e}")),
            Ok(_) if !self.findings.is_empty() => {
                r.failed = u32::try_from(self.findings.len()).unwrap_or(u32::MAX);
                r.failures = self.findings;
                r.reported = true;
            }
            Ok(s) if s.success() => (r.passed, r.reported) = (1, true),
            Ok(s) => r.problem = Some(format!("{s} without a finding (see its output above)")),
        }
        r
    }
}

/// Reads `cargo test`'s output: a suite per `Running` or `Doc-tests` header, closed by its
/// `test result:` line.
#[derive(Default)]
pub struct RustParser {
    done: Vec<SuiteResult>,
    current: Option<SuiteResult>,
    /// The failing test whose `---- name stdout ----` block is being read, and whether its
    /// panic line was seen (the line after it is the message).
    reading: Option<(String, bool)>,
}

impl RustParser {
    pub fn line(&mut self, line: &str) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            self.close();
            self.current = Some(SuiteResult::new("rust", suite_name(rest)));
        } else if let Some(krate) = t.strip_prefix("Doc-tests ") {
            self.close();
            self.current = Some(SuiteResult::new("rust", format!("{krate} (doc-tests)")));
        } else if let Some(result) = t.strip_prefix("test result: ") {
            if let Some(suite) = &mut self.current {
                read_counts(result, suite);
                suite.reported = true;
            }
            self.close();
        } else if let Some(test) = t.strip_prefix("test ")
            && let Some(name) = test.strip_suffix(" ... FAILED")
            && let Some(suite) = &mut self.current
        {
            suite.failures.push(name.to_owned());
        } else if let Some(name) = t.strip_prefix("---- ")
            && let Some(name) = name.strip_suffix(" stdout ----")
        {
            self.reading = Some((name.to_owned(), false));
        } else if let Some((_, panicked)) = &mut self.reading
            && !*panicked
            && t.starts_with("thread '")
            && t.contains("panicked at")
        {
            *panicked = true;
        } else if matches!(self.reading, Some((_, true)))
            && !t.is_empty()
            && let (Some((name, _)), Some(suite)) = (self.reading.take(), &mut self.current)
        {
            suite.why.insert(name, shorten(t, WHY_CHARS));
        }
    }

    fn close(&mut self) {
        if let Some(mut suite) = self.current.take() {
            if !suite.reported {
                suite.problem = Some(
                    "stopped before its `test result` line (crashed or killed; see its \
                     output above)"
                        .to_owned(),
                );
            }
            self.done.push(suite);
        }
    }

    pub fn finish(
        mut self,
        status: std::io::Result<ExitStatus>,
        elapsed: Duration,
    ) -> Vec<SuiteResult> {
        self.close();
        let mut done = self.done;
        let explained = done.iter().any(|s| !s.ok());
        match status {
            Ok(s) if s.success() => {}
            // A failing suite explains cargo's failure; else it is a build error or the like.
            Ok(s) if explained => {
                let _ = s;
            }
            Ok(s) => done.push(SuiteResult::problem(
                "rust",
                "cargo test",
                format!("cargo {s} (a build error? see the output above)"),
            )),
            Err(e) => done.push(SuiteResult::problem(
                "rust",
                "cargo test",
                format!("could not run cargo: {e}"),
            )),
        }
        done.push(SuiteResult {
            reported: true,
            aggregate: true,
            time: elapsed,
            ..SuiteResult::new("rust", "(cargo test in all, with building)")
        });
        done
    }
}

/// `unittests src/lib.rs (target/debug/deps/kakaowork_channel-0a1b)` -> `kakaowork_channel
/// (src/lib.rs)`; `tests/cli.rs (target/debug/deps/cli-0a1b)` -> `cli (tests/cli.rs)`.
fn suite_name(running: &str) -> String {
    let running = running.strip_prefix("unittests ").unwrap_or(running);
    let (source, binary) = running
        .split_once(" (")
        .map_or((running, ""), |(s, b)| (s, b.trim_end_matches(')')));
    let stem = Path::new(binary)
        .file_name()
        .and_then(OsStr::to_str)
        .map(|f| f.rsplit_once('-').map_or(f, |(name, _hash)| name))
        .unwrap_or("");
    if stem.is_empty() {
        source.to_owned()
    } else {
        format!("{stem} ({source})")
    }
}

/// `ok. 21 passed; 1 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.52s`
fn read_counts(result: &str, suite: &mut SuiteResult) {
    let counts = result.split_once(". ").map_or(result, |(_, rest)| rest);
    for part in counts.split("; ") {
        if let Some(secs) = part.strip_prefix("finished in ") {
            if let Ok(s) = secs.trim_end_matches('s').parse::<f64>() {
                suite.time = Duration::from_secs_f64(s);
            }
            continue;
        }
        let Some((n, what)) = part.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        match what {
            "passed" => suite.passed = n,
            "failed" => suite.failed = n,
            "ignored" => suite.ignored = n,
            _ => {}
        }
    }
}

/// The OpenClaw plugin: its packages, its build from this repository's component, its suites
/// inside the pinned `openclaw`.
pub fn openclaw(root: &Path, tools: &Tools, selection: &Selection) -> Vec<SuiteResult> {
    let dir = root.join("openclaw");
    let files = match test_files(&dir.join("test"), selection) {
        Ok(files) if !files.is_empty() => files,
        Ok(_) => {
            return vec![SuiteResult::problem(
                "openclaw",
                "test files",
                format!("no test file matches {selection:?} in openclaw/test"),
            )];
        }
        Err(e) => {
            return vec![SuiteResult::problem(
                "openclaw",
                "test files",
                format!("cannot list openclaw/test: {e}"),
            )];
        }
    };
    let mut results = Vec::new();
    let npm = |args: &[&str]| {
        let mut cmd = command("npm");
        cmd.current_dir(&dir).env("PATH", &tools.path).args(args);
        cmd
    };
    let stamp = dir.join("node_modules/.xtask-installed");
    let want = install_stamp(&dir, tools);
    if std::fs::read_to_string(&stamp).ok() == want {
        println!("openclaw: node_modules is current for package-lock.json (no npm ci)");
    } else {
        banner("OpenClaw: npm ci (from package-lock.json)");
        let r = step("npm ci", npm(&["ci", "--no-audit", "--no-fund"]));
        let ok = r.ok();
        results.push(r);
        if !ok {
            return not_run(results, files, selection, "npm ci failed");
        }
        if let Some(want) = want {
            let _ = std::fs::write(&stamp, want);
        }
    }
    banner("OpenClaw: npm run build (the component from this repository, through jco)");
    let r = step("npm run build", npm(&["run", "build"]));
    let ok = r.ok();
    results.push(r);
    if !ok {
        return not_run(results, files, selection, "npm run build failed");
    }
    if selection.wants_typecheck() {
        banner("OpenClaw: npm run typecheck (the JS host against jco's declarations of the WIT)");
        let started = Instant::now();
        let mut parser = TscParser::default();
        let status = run_streamed(npm(&["run", "typecheck"]), |line| parser.line(line));
        results.push(parser.finish(status, started.elapsed()));
    }
    for file in files {
        let name = file_name(&file);
        banner(&format!("OpenClaw: test/{name}"));
        let started = Instant::now();
        let mut cmd = command("node");
        cmd.current_dir(&dir).env("PATH", &tools.path).args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
        ]);
        if let Some(pattern) = selection.name() {
            cmd.arg(format!("--test-name-pattern={}", regex_escape(pattern)));
        }
        cmd.arg(Path::new("test").join(&name));
        let mut parser = NodeParser::new(&name);
        let status = run_streamed(cmd, |line| parser.line(line));
        results.push(parser.finish(status, started.elapsed()));
    }
    results
}

fn banner(what: &str) {
    println!("\n=== {what}");
}

/// What `node_modules` was installed from: the lockfile and the Node version.
fn install_stamp(dir: &Path, tools: &Tools) -> Option<String> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let lock = std::fs::read(dir.join("package-lock.json")).ok()?;
    let mut h = DefaultHasher::new();
    lock.hash(&mut h);
    let node = tools.node.as_ref().and_then(|n| n.version.clone());
    Some(format!(
        "{:016x} node {}\n",
        h.finish(),
        node.unwrap_or_default()
    ))
}

fn step(name: &str, cmd: Command) -> SuiteResult {
    let started = Instant::now();
    let status = run_streamed(cmd, |_| {});
    let mut r = SuiteResult::new("openclaw", name);
    r.aggregate = true;
    r.time = started.elapsed();
    match status {
        Ok(s) if s.success() => r.reported = true,
        Ok(s) => r.problem = Some(format!("{s} (see its output above)")),
        Err(e) => r.problem = Some(format!("could not start: {e}")),
    }
    r
}

fn not_run(
    mut results: Vec<SuiteResult>,
    files: Vec<PathBuf>,
    selection: &Selection,
    why: &str,
) -> Vec<SuiteResult> {
    if selection.wants_typecheck() {
        results.push(SuiteResult::problem(
            "openclaw",
            TYPECHECK,
            format!("not run: {why}"),
        ));
    }
    for file in files {
        results.push(SuiteResult::problem(
            "openclaw",
            &file_name(&file),
            format!("not run: {why}"),
        ));
    }
    results
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn test_files(dir: &Path, selection: &Selection) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| file_name(p).ends_with(".test.js"))
        .filter(|p| match selection {
            Selection::OpenClawFile(stem) => file_name(p) == format!("{stem}.test.js"),
            _ => true,
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The name filter as a literal for `--test-name-pattern`, which takes a regular expression.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\^$.|?*+()[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

const TYPECHECK: &str = "typecheck (tsc)";

/// Reads `tsc --pretty false`: each `file(line,col): error TS…` line is a failure, named by
/// that line; a clean exit is one passed check.
#[derive(Default)]
pub struct TscParser {
    errors: Vec<String>,
}

impl TscParser {
    pub fn line(&mut self, line: &str) {
        let t = line.trim();
        if t.contains("): error TS") || t.starts_with("error TS") {
            self.errors.push(t.to_owned());
        }
    }

    pub fn finish(self, status: std::io::Result<ExitStatus>, time: Duration) -> SuiteResult {
        let mut r = SuiteResult::new("openclaw", TYPECHECK);
        r.time = time;
        match status {
            Err(e) => r.problem = Some(format!("could not start npm: {e}")),
            // An error line fails the check whatever the exit status says.
            Ok(_) if !self.errors.is_empty() => {
                r.failed = u32::try_from(self.errors.len()).unwrap_or(u32::MAX);
                r.failures = self.errors;
                r.reported = true;
            }
            Ok(s) if s.success() => (r.passed, r.reported) = (1, true),
            Ok(s) => r.problem = Some(format!("{s} without a type error (see its output above)")),
        }
        r
    }
}

/// How much of a failing test's error the summary repeats.
const WHY_CHARS: usize = 400;

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Reads the summary of Node's `spec` reporter (`ℹ pass 12`, `ℹ fail 1`, ...) and the names
/// under `✖ failing tests:`.
pub struct NodeParser {
    suite: SuiteResult,
    in_failing: bool,
    /// The failing test whose error is still to be read.
    awaiting_why: bool,
}

impl NodeParser {
    pub fn new(name: &str) -> Self {
        Self {
            suite: SuiteResult::new("openclaw", name),
            in_failing: false,
            awaiting_why: false,
        }
    }

    pub fn line(&mut self, line: &str) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("ℹ ").or_else(|| t.strip_prefix("# ")) {
            let Some((what, n)) = rest.split_once(' ') else {
                return;
            };
            let Ok(n) = n.trim().parse::<u32>() else {
                return;
            };
            let s = &mut self.suite;
            match what {
                "pass" => (s.passed, s.reported) = (n, true),
                // A cancelled test is one that did not finish: a failure.
                "fail" | "cancelled" => (s.failed, s.reported) = (s.failed + n, true),
                "skipped" | "todo" => s.ignored += n,
                _ => {}
            }
        } else if t == "✖ failing tests:" {
            self.in_failing = true;
        } else if self.in_failing
            && !line.starts_with(' ')
            && let Some(name) = t.strip_prefix("✖ ")
        {
            let name = match name.rfind(" (") {
                Some(i) if name.ends_with("ms)") => &name[..i],
                _ => name,
            };
            self.suite.failures.push(name.to_owned());
            self.awaiting_why = true;
        } else if self.awaiting_why && line.starts_with(' ') && !t.is_empty() {
            // The first indented line under a failing test's name is its error.
            self.awaiting_why = false;
            if let Some(name) = self.suite.failures.last() {
                self.suite.why.insert(name.clone(), shorten(t, WHY_CHARS));
            }
        }
    }

    pub fn finish(mut self, status: std::io::Result<ExitStatus>, time: Duration) -> SuiteResult {
        self.suite.time = time;
        match status {
            Ok(s) if s.success() => {}
            Ok(_) if self.suite.failed > 0 => {}
            Ok(s) => {
                self.suite.problem = Some(format!("node {s} (see its output above)"));
            }
            Err(e) => self.suite.problem = Some(format!("could not start node: {e}")),
        }
        if !self.suite.reported && self.suite.problem.is_none() {
            self.suite.problem = Some("no summary in its output".to_owned());
        }
        self.suite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exit(code: i32) -> std::io::Result<ExitStatus> {
        Ok(ExitStatus::from_raw(code << 8))
    }

    const CARGO_OUT: &str = "\
   Compiling xtask v0.1.0 (/w/xtask)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.20s
     Running unittests src/lib.rs (target/debug/deps/kakaowork_channel-0a1b2c3d)

running 3 tests
test a::one ... ok
test a::two ... FAILED
test a::three ... ignored

failures:

---- a::two stdout ----

thread 'a::two' panicked at src/a.rs:10:5:
assertion `left == right` failed: the second turn is answered
  left: 1
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    a::two

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.52s

     Running tests/cli.rs (target/debug/deps/cli-99aa)

running 2 tests
test shows_help ... ok
test sends ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 12.25s

     Running tests/redis_state.rs (target/debug/deps/redis_state-77)

running 1 test
error: test failed, to rerun pass `-p host-test --test redis_state`

Caused by:
  process didn't exit successfully: (signal: 9, SIGKILL: kill)
   Doc-tests kakaowork_channel

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: 2 targets failed:
";

    #[test]
    fn cargo_output_gives_one_suite_per_test_binary_with_counts_and_failures() {
        let mut p = RustParser::default();
        CARGO_OUT.lines().for_each(|l| p.line(l));
        let r = p.finish(exit(101), Duration::from_secs(70));
        let names: Vec<&str> = r.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kakaowork_channel (src/lib.rs)",
                "cli (tests/cli.rs)",
                "redis_state (tests/redis_state.rs)",
                "kakaowork_channel (doc-tests)",
                "(cargo test in all, with building)",
            ]
        );
        assert_eq!((r[0].passed, r[0].failed, r[0].ignored), (1, 1, 1));
        assert_eq!(r[0].failures, ["a::two"]);
        assert_eq!(
            r[0].why["a::two"],
            "assertion `left == right` failed: the second turn is answered"
        );
        assert_eq!(r[0].time, Duration::from_millis(520));
        assert!(!r[0].ok());
        assert!(r[1].ok() && r[1].passed == 2);
        // A binary killed before its result line is a failure, never a silent pass.
        assert!(r[2].problem.as_deref().unwrap().contains("crashed"));
        assert!(r[3].ok() && r[3].reported);
        assert!(r[4].ok() && r[4].time == Duration::from_secs(70));
    }

    #[test]
    fn a_cargo_failure_that_no_suite_explains_is_a_failing_entry() {
        let mut p = RustParser::default();
        "   Compiling host-test v0.1.0\nerror[E0425]: cannot find value `x`\n"
            .lines()
            .for_each(|l| p.line(l));
        let r = p.finish(exit(101), Duration::from_secs(3));
        assert_eq!(r[0].name, "cargo test");
        assert!(r[0].problem.as_deref().unwrap().contains("build error"));
        let mut p = RustParser::default();
        CARGO_OUT.lines().take(20).for_each(|l| p.line(l));
        assert!(
            p.finish(exit(0), Duration::ZERO)
                .iter()
                .all(|s| s.name != "cargo test")
        );
    }

    const NODE_OUT: &str = "\
✔ passes (2.1ms)
✖ fails here (1.8ms)
﹣ skipped one (0.4ms) # SKIP
ℹ tests 3
ℹ suites 0
ℹ pass 1
ℹ fail 1
ℹ cancelled 0
ℹ skipped 1
ℹ todo 0
ℹ duration_ms 253.1

✖ failing tests:

test at test/a.test.js:4:1
✖ fails here (1.834903ms)
  AssertionError [ERR_ASSERTION]: 1 == 2
  ✖ not a name (3ms)
";

    #[test]
    fn node_spec_summary_gives_counts_and_failing_names() {
        let mut p = NodeParser::new("a.test.js");
        NODE_OUT.lines().for_each(|l| p.line(l));
        let r = p.finish(exit(1), Duration::from_secs(2));
        assert_eq!((r.passed, r.failed, r.ignored), (1, 1, 1));
        assert_eq!(r.failures, ["fails here"]);
        assert_eq!(
            r.why["fails here"],
            "AssertionError [ERR_ASSERTION]: 1 == 2"
        );
        assert!(!r.ok() && r.problem.is_none());
    }

    #[test]
    fn a_long_error_is_cut_on_a_character_boundary() {
        let mut p = NodeParser::new("d.test.js");
        for l in [
            "✖ failing tests:",
            "✖ long (1ms)",
            &format!("  Error: {}", "가".repeat(1000)),
        ] {
            p.line(l);
        }
        let why = &p.suite.why["long"];
        assert_eq!(why.chars().count(), WHY_CHARS + 3);
        assert!(why.ends_with("가..."));
    }

    #[test]
    fn node_that_dies_without_a_summary_fails() {
        let mut p = NodeParser::new("b.test.js");
        p.line("✔ one (1ms)");
        let r = p.finish(exit(0), Duration::ZERO);
        assert!(!r.ok(), "no summary is not a pass");
        let r = NodeParser::new("c.test.js").finish(exit(1), Duration::ZERO);
        assert!(r.problem.unwrap().contains("exit status: 1"));
    }

    #[test]
    fn tsc_errors_are_failures_and_a_clean_exit_one_pass() {
        let mut p = TscParser::default();
        for l in [
            "> tsc -p . --pretty false",
            "plugin/src/http.js(140,45): error TS2820: Type '\"timout\"' is not assignable to type \
             'TextFormat'. Did you mean '\"timeout\"'?",
            "  Type 'string' is not assignable to type '\"unresolved\"'.",
            "error TS5083: Cannot read file 'tsconfig.json'.",
        ] {
            p.line(l);
        }
        let r = p.finish(exit(2), Duration::from_secs(1));
        assert_eq!((r.passed, r.failed), (0, 2));
        assert!(r.failures[0].starts_with("plugin/src/http.js(140,45): error TS2820"));
        assert!(!r.ok() && r.problem.is_none());
        let r = TscParser::default().finish(exit(0), Duration::ZERO);
        assert!(r.ok() && r.passed == 1 && r.reported);
        // tsc (or npm) failing without a type error, e.g. not installed: never a pass.
        let mut p = TscParser::default();
        p.line("sh: 1: tsc: not found");
        let r = p.finish(exit(127), Duration::ZERO);
        assert!(!r.ok() && r.problem.unwrap().contains("127"));
    }

    #[test]
    fn clippy_findings_are_failures_and_a_clean_run_one_pass() {
        let mut p = LintParser::default();
        for l in [
            "error: this function has too many lines (91/80)",
            "   --> src/render/chunk.rs:147:1",
            "    |",
            "error: could not compile `kakaowork-channel` (lib) due to 1 previous error",
        ] {
            p.line(l);
        }
        let r = p.finish(exit(101), Duration::ZERO);
        assert_eq!((r.passed, r.failed), (0, 1));
        assert_eq!(
            r.failures,
            ["src/render/chunk.rs:147:1: this function has too many lines (91/80)"]
        );
        let r = LintParser::default().finish(exit(0), Duration::ZERO);
        assert!(r.ok() && r.passed == 1 && r.reported);
        // clippy missing or cargo failing for another reason: never a pass.
        let r = LintParser::default().finish(exit(1), Duration::ZERO);
        assert!(!r.ok() && r.problem.is_some());
    }

    #[test]
    fn filters() {
        assert_eq!(Selection::parse(None), Selection::All);
        assert_eq!(Selection::parse(Some("rust")), Selection::Rust);
        assert_eq!(Selection::parse(Some("openclaw")), Selection::OpenClaw);
        assert_eq!(
            Selection::parse(Some("openclaw/gateway.test.js")),
            Selection::OpenClawFile("gateway".into())
        );
        assert_eq!(
            Selection::parse(Some("dedup")),
            Selection::Name("dedup".into())
        );
        assert!(!Selection::Rust.wants_openclaw());
        assert!(!Selection::OpenClawFile("x".into()).wants_rust());
        assert!(Selection::Name("x".into()).wants_rust());
        assert!(Selection::All.wants_guest_shape() && Selection::Rust.wants_guest_shape());
        assert!(!Selection::OpenClaw.wants_guest_shape());
        assert!(!Selection::Name("x".into()).wants_guest_shape());
        assert!(Selection::All.wants_typecheck() && Selection::OpenClaw.wants_typecheck());
        assert!(!Selection::OpenClawFile("x".into()).wants_typecheck());
        assert!(!Selection::Name("x".into()).wants_typecheck());
        assert_eq!(regex_escape("a.b(c)"), r"a\.b\(c\)");
    }

    #[test]
    fn the_variables_cargo_run_sets_are_not_passed_on() {
        for v in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "OUT_DIR",
        ] {
            assert!(is_crate_variable(v), "{v}");
        }
        for v in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "PATH",
        ] {
            assert!(!is_crate_variable(v), "{v}");
        }
    }
}
