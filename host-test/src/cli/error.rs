//! The CLI's errors, and the words for the plugin's: what went wrong and what to do.

use std::path::PathBuf;

use host_test::emulator::{FIRST_GROUP_ROOM, SEEDED_GROUP_ROOMS};
use host_test::runtime::config::HostConfigError;
use host_test::wit;
use kakaowork_channel::model::config::APP_KEY_ENV;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
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
    /// The shared state store (Redis) cannot be used; nothing was sent.
    #[error("cannot use the state at {at}: {message}")]
    Store { at: String, message: String },
}

pub fn trap(e: wasmtime::Error) -> CliError {
    CliError::Trap(format!("{e:?}"))
}

pub fn describe(e: &wit::ChannelError) -> String {
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

pub fn channel_error(e: wit::ChannelError, emulator: bool) -> CliError {
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
            "\nhint: the emulator's workspace has conversations {FIRST_GROUP_ROOM}..{} and users 10000001..10000255 \
             (e-mails: minsu.kim@example.co.kr, yh.lee@example.co.kr, ...); try --target user:10000001, or find \
             one with `kakaowork-host directory users --query <name or e-mail>`",
            FIRST_GROUP_ROOM + SEEDED_GROUP_ROOMS - 1
        ));
    }
    CliError::Channel(msg)
}
