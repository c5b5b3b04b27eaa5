//! `cargo xtask test`: the project's one test command. It sets up what the suites need
//! (Debian's `redis-server`, Node 24 for OpenClaw), runs every suite (the Rust workspace, then
//! the OpenClaw plugin's tests inside the pinned `openclaw`), keeps going after a failing suite,
//! and ends with a summary: each suite, its passed and failed counts, its time.
//!
//! `cargo xtask setup` does only the set-up and says what it found or installed.

mod report;
mod setup;
mod suites;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask test [FILTER]   set up Redis and Node 24 when missing, run the suites, print a summary
       cargo xtask setup           only the set-up: find or install redis-server and Node 24

FILTER: `rust` (the Rust workspace), `openclaw` (the OpenClaw plugin's suites),
`openclaw/<file>` (one OpenClaw test file, e.g. openclaw/gateway), or a test name (a
substring for Rust tests, as `cargo test` takes it; the same text for OpenClaw's).";

enum Command {
    Test(Option<String>),
    Setup,
}

/// The arguments: a command, its filter, and `--root <dir>` (the repository; tests point it
/// at a stand-in tree). Hand-read: a crate like clap would be compiled again by the test
/// command (see Cargo.toml).
fn parse(args: impl IntoIterator<Item = String>) -> Result<(Command, Option<PathBuf>), String> {
    let mut root = None;
    let mut words = Vec::new();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => {
                root = Some(PathBuf::from(
                    args.next().ok_or("--root needs a directory")?,
                ))
            }
            "-h" | "--help" | "help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            _ => words.push(a),
        }
    }
    let mut words = words.into_iter();
    let command = match words.next().as_deref() {
        Some("test") => Command::Test(words.next()),
        Some("setup") => Command::Setup,
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("a command is needed".into()),
    };
    match words.next() {
        Some(extra) => Err(format!(
            "unexpected argument `{extra}` (one filter at most)"
        )),
        None => Ok((command, root)),
    }
}

fn main() -> ExitCode {
    let (command, root) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = root.unwrap_or_else(|| {
        // The workspace root: this crate's parent directory.
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .to_path_buf()
    });
    match command {
        Command::Setup => match setup::prepare(&root, true) {
            Ok(tools) => {
                println!("{}", tools.describe());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Test(filter) => test(&root, suites::Selection::parse(filter.as_deref())),
    }
}

fn test(root: &std::path::Path, selection: suites::Selection) -> ExitCode {
    let started = Instant::now();
    // Redis first and at once: without it a third of the suites cannot run, and the one
    // command that fixes it is better seen now than after twenty minutes of tests.
    let tools = match setup::prepare(root, selection.wants_openclaw()) {
        Ok(tools) => tools,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", tools.describe());
    let mut results = Vec::new();
    if selection.wants_rust() {
        results.extend(suites::rust(root, &tools, &selection));
    }
    if selection.wants_openclaw() {
        results.extend(suites::openclaw(root, &tools, &selection));
    }
    let summary = report::Summary {
        results: &results,
        setup: tools.describe(),
        elapsed: started.elapsed(),
    };
    print!("{summary}");
    if summary.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<(Command, Option<PathBuf>), String> {
        parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        assert!(matches!(args(&["test"]), Ok((Command::Test(None), None))));
        assert!(
            matches!(args(&["test", "rust", "--root", "/r"]), Ok((Command::Test(Some(f)), Some(r))) if f == "rust" && r == std::path::Path::new("/r"))
        );
        assert!(matches!(args(&["setup"]), Ok((Command::Setup, None))));
        assert_eq!(args(&["--help"]).err().as_deref(), Some(""));
        for bad in [
            &["tset"][..],
            &[],
            &["test", "a", "b"],
            &["test", "--fast"],
            &["test", "--root"],
        ] {
            assert!(args(bad).err().is_some_and(|e| !e.is_empty()), "{bad:?}");
        }
    }
}
