//! `kakaowork-host`: runs the KakaoWork channel component for real.
//!
//! With no app key anywhere it starts the embedded KakaoWork emulator and talks to that, so it
//! works on a fresh machine with no account and no network.

use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use clap::{Parser, Subcommand};
use cli::error::CliError;
use cli::message::MessageAction;
use cli::policy::PolicyAction;
use cli::session::{Conn, new_secret};

#[derive(Parser)]
#[command(
    name = "kakaowork-host",
    version,
    about = "Run the KakaoWork channel plugin (a WebAssembly component) on wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send messages.
    Message {
        #[command(subcommand)]
        action: MessageAction,
    },
    /// Check an account's app key with bots.info.
    Probe(Conn),
    /// Find members, conversations and departments (to use as targets).
    Directory {
        #[command(subcommand)]
        action: cli::directory::DirectoryAction,
    },
    /// Pairing requests of unknown users: list, approve, reject.
    Pairing {
        #[command(subcommand)]
        action: cli::pairing::PairingAction,
    },
    /// Access policy.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Receive KakaoWork callbacks: pass them to the plugin, print inbound events as JSON lines.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Print the URL to register as the bot's callback URL in KakaoWork, with its token (one
    /// line per account when there are several: the account id, then the URL).
    CallbackUrl {
        /// Where KakaoWork reaches this host (default: the account's callbackUrl, else
        /// http://127.0.0.1:8080, where `serve` listens by default).
        #[arg(long)]
        base: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Run the KakaoWork emulator as a standalone server (for OpenClaw or any other host).
    Emulator(cli::emulator::EmulatorArgs),
    /// Print a new random callbackSecret (256 bits, URL-safe).
    Secret,
    /// Write the plugin's component file, for loading into another host.
    Component {
        /// Where to write the .wasm file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Message { action } => cli::message::run(action),
        Command::Probe(conn) => cli::probe::run(conn),
        Command::Directory { action } => cli::directory::run(action),
        Command::Pairing { action } => cli::pairing::run(action),
        Command::Policy { action } => cli::policy::run(action),
        Command::Serve { listen, conn } => cli::serve::run(&listen, &conn),
        Command::CallbackUrl { base, conn } => cli::callback_url::run(&conn, base.as_deref()),
        Command::Emulator(args) => cli::emulator::run(args).map_err(CliError::Channel),
        Command::Secret => {
            println!("{}", new_secret());
            Ok(())
        }
        Command::Component { out } => cli::component::run(&out),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                CliError::Config(_) | CliError::Rejected(_) | CliError::Usage(_) => {
                    ExitCode::from(2)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}
