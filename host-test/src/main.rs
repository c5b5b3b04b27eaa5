//! `kakaowork-host`: runs the KakaoWork channel component for real.
//!
//! With no app key anywhere it starts the embedded KakaoWork emulator and talks to that, so it
//! works on a fresh machine with no account and no network.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod cli;

use clap::{Args, Parser, Subcommand};
use host_test::clock::Clock;
use host_test::config::{HostConfigError, Prepared, load_file, prepare};
use host_test::delivery::{deliver, with_retries};
use host_test::emulator::{Emulator, EmulatorOptions, FIRST_GROUP_ROOM, SEEDED_GROUP_ROOMS};
use host_test::kv::{KvStore, MemoryKv, Prefixed, SqliteKv};
use host_test::runtime::{HostEnv, Plugin, Runtime, RuntimeOptions};
use host_test::wit;
use kakaowork_channel::config::APP_KEY_ENV;
use serde_json::{Value, json};

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

#[derive(Subcommand)]
enum MessageAction {
    /// Send a text message.
    Send {
        /// conversation:<id>, a numeric conversation id, user:<id> or email:<address>.
        #[arg(long, short = 't')]
        target: String,
        /// The text to send (long text is split into several messages).
        #[arg(long, short = 'm')]
        message: String,
        /// Resume an earlier send: chunks already delivered under this key are not sent again.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Explain what the policy decides for a user (changes nothing).
    Check {
        #[arg(long)]
        user: String,
        #[arg(long, value_enum, default_value = "direct")]
        chat_type: ChatKind,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ChatKind {
    Direct,
    Group,
}

#[derive(Args)]
struct Conn {
    /// Account id (default: defaultAccount, else the only account).
    #[arg(long)]
    account: Option<String>,
    /// Config file: a Moltbot/OpenClaw config (channels.kakao is used) or that section alone. JSON5.
    #[arg(long)]
    config: Option<PathBuf>,
    /// KakaoWork API origin (default https://api.kakaowork.com).
    #[arg(long)]
    api_base: Option<String>,
    /// Use the embedded emulator even if an app key is configured.
    #[arg(long)]
    emulator: bool,
    /// Where state (pairing, allowlist, send ledgers, caches) is kept, in a SQLite file.
    /// Default: $KAKAOWORK_STATE_DIR, else $XDG_STATE_HOME/kakaowork-channel, else
    /// ~/.local/state/kakaowork-channel.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] HostConfigError),
    #[error("the plugin rejected the configuration:\n{}", .0.iter().map(|i| format!("  - {}: {} (fix: {})", i.path, i.message, i.fix)).collect::<Vec<_>>().join("\n"))]
    Rejected(Vec<wit::ConfigIssue>),
    #[error("{0}")]
    Channel(String),
    /// A bad argument found by the plugin (target, account, message): exit 2, like clap's.
    #[error("{0}")]
    Usage(String),
    #[error("could not start the embedded emulator: {0}")]
    Emulator(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the plugin trapped (a bug in the plugin or the host): {0}")]
    Trap(String),
    #[error(
        "cannot open the state in {path}: {message} (fix: pass --state-dir with a writable directory)"
    )]
    State { path: PathBuf, message: String },
}

struct Session {
    plugin: Plugin,
    emulator: Option<Emulator>,
    kv: Arc<dyn KvStore>,
    env: HostEnv,
    prepared: Prepared,
    runtime: Runtime,
}

fn state_dir(conn: &Conn) -> PathBuf {
    if let Some(d) = &conn.state_dir {
        return d.clone();
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("KAKAOWORK_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("kakaowork-channel")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/kakaowork-channel")))
        .unwrap_or_else(|| PathBuf::from(".kakaowork-state"))
}

/// The CLI's delivery: real clock, up to 50 calls, each wait shown on stderr.
fn deliver_showing_progress(
    plugin: &mut Plugin,
    req: &wit::SendRequest,
) -> Result<host_test::delivery::Report, CliError> {
    deliver(plugin, req, &Clock::Real, 50, show_wait).map_err(trap)
}

fn show_wait(ms: u64, reason: &str) {
    eprintln!(
        "{reason}: waiting {:.1} s before continuing…",
        ms as f64 / 1000.0
    );
}

fn trap(e: wasmtime::Error) -> CliError {
    CliError::Trap(format!("{e:?}"))
}

fn connect(conn: &Conn) -> Result<Session, CliError> {
    let env_key = std::env::var(APP_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty());
    let mut section = match &conn.config {
        Some(path) => load_file(path)?,
        None => json!({}),
    };
    if let Some(base) = &conn.api_base {
        section["apiBase"] = json!(base);
    }
    // Whether a key is configured decides emulator or real; the emulator gets a secret of its
    // own, so a missing callbackSecret must not decide it.
    let mut keyed = section.clone();
    if keyed.get("callbackSecret").is_none() {
        keyed["callbackSecret"] = json!(new_secret());
    }
    let has_key = prepare(keyed, env_key.as_deref())?
        .credentials
        .iter()
        .any(|c| c.source != wit::CredentialSource::None);
    let (mut prepared, emulator) = if conn.emulator || !has_key {
        let emu = Emulator::start(EmulatorOptions::default()).map_err(CliError::Emulator)?;
        eprintln!(
            "No KakaoWork app key found ({APP_KEY_ENV} or --config): using the embedded KakaoWork emulator at {}.",
            emu.base_url()
        );
        point_at_emulator(&mut section, &emu);
        (prepare(section, None)?, Some(emu))
    } else {
        (prepare(section, env_key.as_deref())?, None)
    };
    let dir = state_dir(conn);
    let db = dir.join("state.sqlite3");
    let store = SqliteKv::open(&db).map_err(|e| CliError::State {
        path: db.clone(),
        message: format!("{e:?}"),
    })?;
    let salt =
        host_test::config::state_salt(store.as_ref(), Clock::Real.now_ms()).map_err(|e| {
            CliError::State {
                path: db.clone(),
                message: format!("the key-id salt: {e:?}"),
            }
        })?;
    prepared.salt_key_ids(&salt);
    // The emulator's workspace is not the real one: keep their states apart.
    let kv: Arc<dyn KvStore> = if emulator.is_some() {
        Arc::new(Prefixed {
            inner: store,
            prefix: "emulator/".into(),
        })
    } else {
        store
    };
    // The compiled component is kept in the state directory: only the first command compiles.
    let opts = RuntimeOptions {
        compiled_cache: Some(dir.join("compiled")),
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::new(host_test::component_bytes(), opts).map_err(trap)?;
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: kv.clone(),
        clock: Clock::Real,
    };
    let mut plugin = runtime.instantiate(&env).map_err(trap)?;
    configure(&mut plugin, &prepared)?;
    Ok(Session {
        plugin,
        emulator,
        kv,
        env,
        prepared,
        runtime,
    })
}

/// Every account talks to the emulator, with the emulator's key.
fn point_at_emulator(section: &mut Value, emu: &Emulator) {
    let strip = |obj: &mut Value| {
        if let Value::Object(m) = obj {
            m.remove("appKey");
            m.remove("keyFile");
            m.remove("apiBase");
        }
    };
    if let Some(Value::Object(accounts)) = section.get_mut("accounts") {
        accounts.values_mut().for_each(strip);
    }
    strip(section);
    section["apiBase"] = json!(emu.base_url());
    section["appKey"] = json!(emu.app_key());
    // The emulator's workspace is this process's own: its callbacks are authenticated with a
    // secret made for the run, unless the config brings one.
    if section.get("callbackSecret").is_none()
        && section
            .get(kakaowork_channel::config::UNAUTHENTICATED_OPT_OUT)
            .is_none()
    {
        section["callbackSecret"] = json!(new_secret());
    }
}

/// 256 random bits, URL-safe: a `callbackSecret`.
fn new_secret() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn configure(plugin: &mut Plugin, prepared: &Prepared) -> Result<(), CliError> {
    let result = plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .map_err(trap)?
        .map_err(CliError::Rejected)?;
    for w in result.warnings {
        eprintln!("warning: {}: {} (fix: {})", w.path, w.message, w.fix);
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (civil-from-days, proleptic Gregorian).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn describe(e: &wit::ChannelError) -> String {
    use wit::ChannelError as E;
    match e {
        E::NotConfigured => "the channel is not configured".into(),
        E::UnknownAccount(m) | E::InvalidTarget(m) | E::Other(m) => m.clone(),
        E::AccountDisabled(a) => format!("account `{a}` is disabled (enabled: false)"),
        E::MissingCredential(a) => {
            format!("account `{a}` has no app key: set appKey or keyFile (or {APP_KEY_ENV})")
        }
        E::InvalidMessage(m) => format!("invalid message: {m}"),
        E::Authentication(f) => format!(
            "KakaoWork rejected the app key ({}: {}); check the App Key in the KakaoWork admin console",
            f.code, f.message
        ),
        E::RateLimited(f) => format!(
            "KakaoWork rate limit reached; retry in {} s",
            f.retry_after_ms.unwrap_or(60_000) / 1000
        ),
        E::Api(f) => format!(
            "KakaoWork error `{}` (HTTP {}): {}",
            f.code, f.http_status, f.message
        ),
        E::Deferred(ms) => format!("deferred: try again in {ms} ms"),
        E::Denied(m) => format!("the host refused the request: {m}"),
        E::Timeout => "the request to KakaoWork timed out".into(),
        E::Transport(t) => format!("could not reach KakaoWork: {}", t.message),
        E::Storage(m) => format!("storage error: {m}"),
        E::InvalidResponse(m) => format!("KakaoWork's answer could not be understood: {m}"),
    }
}

fn channel_error(e: wit::ChannelError, emulator: bool) -> CliError {
    let mut msg = describe(&e);
    if matches!(
        e,
        wit::ChannelError::InvalidTarget(_)
            | wit::ChannelError::UnknownAccount(_)
            | wit::ChannelError::InvalidMessage(_)
    ) {
        return CliError::Usage(msg);
    }
    if emulator
        && matches!(&e, wit::ChannelError::Api(f) if f.code.ends_with("_not_found") || f.code == "invalid_parameter")
    {
        msg.push_str(&format!(
            "\nhint: the emulator's workspace has conversations {FIRST_GROUP_ROOM}..{} and users 10000001..10000005 \
             (e-mails: minsu.kim@example.co.kr, yh.lee@example.co.kr, ...); try --target user:10000001",
            FIRST_GROUP_ROOM + SEEDED_GROUP_ROOMS - 1
        ));
    }
    CliError::Channel(msg)
}

fn print_emulator_log(emu: &Emulator) {
    let key = emu.app_key();
    let requests = emu.requests();
    if requests.is_empty() {
        println!("The emulator received no request.");
        return;
    }
    println!("The emulator received:");
    for r in requests {
        let auth = r
            .header("authorization")
            .map(|a| a.replace(&key, &format!("{}…", &key[..6])))
            .unwrap_or_else(|| "(no Authorization)".into());
        let q = if r.query.is_empty() {
            String::new()
        } else {
            format!("?{}", r.query)
        };
        println!(
            "  {} {}{q} -> {}  [Authorization: {auth}]",
            r.method, r.path, r.status
        );
        if !r.body.is_empty() {
            println!("      {}", String::from_utf8_lossy(&r.body));
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Message {
            action:
                MessageAction::Send {
                    target,
                    message,
                    idempotency_key,
                    conn,
                },
        } => {
            let mut s = connect(&conn)?;
            let key = idempotency_key.unwrap_or_else(new_idempotency_key);
            let req = wit::SendRequest {
                account: conn.account.clone(),
                target: target.clone(),
                text: message,
                idempotency_key: key,
            };
            let report = deliver_showing_progress(&mut s.plugin, &req)?;
            let result = report
                .outcome
                .map_err(|e| channel_error(e, s.emulator.is_some()))
                .map_err(|e| with_resume_hint(e, &req));
            if let Some(emu) = &s.emulator {
                if result.is_ok() {
                    print_receipt(result.as_ref().ok(), &target);
                }
                print_emulator_log(emu);
            } else if let Ok(r) = &result {
                print_receipt(Some(r), &target);
            }
            result.map(|_| ())
        }
        Command::Probe(conn) => {
            let mut s = connect(&conn)?;
            // Other processes on the same state share the account's rate limit: wait as told.
            let (outcome, _, _) = with_retries(&Clock::Real, 50, show_wait, || {
                s.plugin.probe(conn.account.as_deref())
            })
            .map_err(trap)?;
            let p = outcome.map_err(|e| channel_error(e, s.emulator.is_some()))?;
            println!(
                "Account {}: bot \"{}\" (id {}), status {}, answered in {} ms",
                p.account, p.title, p.bot_id, p.status, p.elapsed_ms
            );
            Ok(())
        }
        Command::Pairing { action } => cli::pairing::run(action),
        Command::Policy {
            action:
                PolicyAction::Check {
                    user,
                    chat_type,
                    conn,
                },
        } => {
            let s = connect(&conn)?;
            // Explaining must change nothing: decide on a copy of the state.
            let copy = MemoryKv::copy_of(s.kv.as_ref(), Clock::Real.now_ms())
                .map_err(|e| CliError::Channel(format!("cannot read the state: {e:?}")))?;
            let env = HostEnv {
                kv: copy,
                ..s.env.clone()
            };
            let mut dry = s.runtime.instantiate(&env).map_err(trap)?;
            configure(&mut dry, &s.prepared)?;
            let chat = match chat_type {
                ChatKind::Direct => wit::ChatType::Direct,
                ChatKind::Group => wit::ChatType::Group,
            };
            let decision = dry
                .check_policy(conn.account.as_deref(), &user, chat)
                .map_err(trap)?
                .map_err(|e| channel_error(e, false))?;
            match decision {
                wit::PolicyDecision::Allow(why) => println!("allow: {why}"),
                wit::PolicyDecision::Deny(why) => println!("deny: {why}"),
                wit::PolicyDecision::PairingRequired(p) => {
                    println!(
                        "pairing required: {user} is unknown; a message from them would {} and get this reply:",
                        if p.created {
                            "create a pairing request"
                        } else {
                            "find their pending request"
                        }
                    );
                    for line in p.reply.lines() {
                        println!("  {line}");
                    }
                }
            }
            Ok(())
        }
        Command::Serve { listen, conn } => cli::serve::run(&listen, &conn),
        Command::Emulator(args) => cli::emulator::run(args).map_err(CliError::Channel),
        Command::Secret => {
            println!("{}", new_secret());
            Ok(())
        }
        Command::Component { out } => {
            let bytes = host_test::component_bytes();
            std::fs::write(&out, bytes).map_err(|source| CliError::Write {
                path: out.clone(),
                source,
            })?;
            println!(
                "Wrote {} ({} bytes): world moltbot:channel/channel-plugin@0.2.0",
                out.display(),
                bytes.len()
            );
            Ok(())
        }
    }
}

/// A send that failed for a reason other than its arguments: how to resume it.
fn with_resume_hint(e: CliError, req: &wit::SendRequest) -> CliError {
    match e {
        CliError::Channel(msg) => CliError::Channel(format!(
            "{msg}\nidempotency key: {key}\nto resume (parts already delivered are not sent again), run the same command with --idempotency-key {key}",
            key = req.idempotency_key
        )),
        other => other,
    }
}

fn new_idempotency_key() -> String {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    format!(
        "cli-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn print_receipt(r: Option<&wit::SendReceipt>, target: &str) {
    let Some(r) = r else { return };
    if r.ambiguous {
        println!(
            "Sent, but the outcome of some parts is unknown (they were not resent, to avoid duplicates)."
        );
    } else {
        println!("Sent.");
    }
    println!("  account:         {}", r.account);
    println!("  target:          {target}");
    println!("  message id:      {}", r.message_id);
    println!("  conversation id: {}", r.conversation_id);
    println!("  send time:       {} ({})", utc(r.send_time), r.send_time);
    println!("  idempotency key: {}", r.idempotency_key);
    if r.ambiguous {
        println!(
            "  to send the unknown parts again (they may then arrive twice), set \"delivery\": \"at-least-once\" and run the same command with --idempotency-key {}",
            r.idempotency_key
        );
    }
    if r.chunks.len() > 1 {
        for c in &r.chunks {
            let state = match c.outcome {
                wit::ChunkOutcome::Sent => c.message_id.clone().unwrap_or_default(),
                wit::ChunkOutcome::Ambiguous => "unknown outcome".into(),
            };
            println!("  part {}/{}:        {state}", c.index + 1, r.chunks.len());
        }
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

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
