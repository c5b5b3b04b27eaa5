//! `kakaowork-host emulator`: the KakaoWork emulator as a standalone server, so that any host
//! (OpenClaw included) can be run against it, with its control API beside it.

use std::sync::Arc;

use clap::Args;
use host_test::emulator::control::ControlServer;
use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions, Seed};

#[derive(Args)]
pub struct EmulatorArgs {
    /// Address of the KakaoWork API (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Address of the control API (what was received, play a user, inject faults).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub control_listen: String,
    /// The app key the emulator accepts.
    #[arg(long, default_value = DEFAULT_APP_KEY)]
    pub app_key: String,
    /// Members and departments from a JSON file (`{"users": [{"id", "name", "email",
    /// "department"?, "nickname"?, "emails"?, "position"?}], "departments": [{"id", "name",
    /// "code"?, "parent_id"?, "leader_ids"?}]}`) instead of the built-in 255 members.
    #[arg(long)]
    pub seed: Option<std::path::PathBuf>,
    /// The workspace's rate budget.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub requests_per_minute: u32,
}

/// Starts both servers, prints where they are, and serves until the process is stopped.
pub fn run(args: EmulatorArgs) -> Result<(), String> {
    if args.app_key.trim().is_empty() {
        return Err("--app-key must not be empty".into());
    }
    let seed = match &args.seed {
        Some(path) => Seed::load(path)?,
        None => Seed::default(),
    };
    let users = seed.users.len();
    let opts = EmulatorOptions {
        seed,
        app_key: args.app_key,
        requests_per_minute: args.requests_per_minute,
        ..EmulatorOptions::default()
    };
    let emulator = Arc::new(Emulator::start_on(&args.listen, opts).map_err(|e| {
        format!(
            "cannot listen on {}: {e} (fix: pass another --listen)",
            args.listen
        )
    })?);
    let control = ControlServer::start(&args.control_listen, emulator.clone()).map_err(|e| {
        format!(
            "cannot listen on {}: {e} (fix: pass another --control-listen)",
            args.control_listen
        )
    })?;
    // Machine-readable first lines: hosts' tests read them to find the servers.
    println!("base url: {}", emulator.base_url());
    println!("app key: {}", emulator.app_key());
    println!("control url: {}", control.base_url());
    eprintln!(
        "KakaoWork emulator serving its seeded workspace ({users} members, group \
         conversations 3000001-3000023); stop it with Ctrl-C."
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
