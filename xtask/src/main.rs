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

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "The kakaowork-channel project's test command"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The repository (default: the one this xtask was built from). Tests point it at a
    /// stand-in tree.
    #[arg(long, global = true, hide = true)]
    root: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Set up Redis and Node 24 when missing, run the suites, print a summary.
    Test {
        /// `rust` (the Rust workspace), `openclaw` (the OpenClaw plugin's suites),
        /// `openclaw/<file>` (one OpenClaw test file, e.g. `openclaw/gateway`), or a test name
        /// (a substring for Rust tests, as `cargo test` takes it; the same text for OpenClaw's).
        /// Without it: everything.
        filter: Option<String>,
    },
    /// Only the set-up: find or install `redis-server` and Node 24, and say which are used.
    Setup,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli.root.unwrap_or_else(|| {
        // The workspace root: this crate's parent directory.
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .to_path_buf()
    });
    match cli.command {
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
        Command::Test { filter } => test(&root, suites::Selection::parse(filter.as_deref())),
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
