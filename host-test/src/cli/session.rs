//! What every command that talks to KakaoWork shares: the connection options, the
//! configuration and its credentials, the state, the runtime, and an instance configured with
//! them (against the embedded emulator when no app key is found).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use host_test::emulator::{Emulator, EmulatorOptions};
use host_test::runtime::clock::Clock;
use host_test::runtime::config::{Prepared, load_file, prepare, prepare_keyed};
use host_test::runtime::kv::{KvStore, Prefixed, REDIS_NAMESPACE, RedisKv, SqliteKv};
use host_test::runtime::{HostEnv, Plugin, Runtime, RuntimeOptions};
use host_test::serve::delivery::{MAX_CALLS, deliver};
use host_test::wit;
use kakaowork_channel::model::config::APP_KEY_ENV;
use serde_json::{Value, json};

use super::error::{CliError, trap};

#[derive(Args)]
pub struct Conn {
    /// Account id (default: defaultAccount, else the only account).
    #[arg(long)]
    pub account: Option<String>,
    /// Config file: a Moltbot/OpenClaw config (channels.kakao is used) or that section alone. JSON5.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// KakaoWork API origin (default https://api.kakaowork.com).
    #[arg(long)]
    pub api_base: Option<String>,
    /// Use the embedded emulator even if an app key is configured.
    #[arg(long)]
    pub emulator: bool,
    /// Where state (pairing, allowlist, send ledgers, caches) is kept, in a SQLite file.
    /// Default: $KAKAOWORK_STATE_DIR, else $XDG_STATE_HOME/kakaowork-channel, else
    /// ~/.local/state/kakaowork-channel.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Keep the state in Redis instead (redis://host:port/db), shared by every process and
    /// machine pointing at it; default: the config's `state`, else $KAKAOWORK_STATE, else
    /// SQLite in --state-dir.
    #[arg(long, value_name = "REDIS_URL")]
    pub state: Option<String>,
    /// The PEM file of the CA that signed a rediss:// state's server certificate; default: the
    /// config's `stateCa`, else $KAKAOWORK_STATE_CA, else the system's CAs.
    #[arg(long, value_name = "PEM_FILE")]
    pub state_ca: Option<PathBuf>,
}

/// An environment variable, trimmed; `None` if unset or blank (as the OpenClaw host reads
/// them: `spec/state.json`).
fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// The CA of a `rediss://` state: `--state-ca`, else the config's `stateCa`, else
/// `$KAKAOWORK_STATE_CA`; `None` for the system's CAs.
fn redis_ca(conn: &Conn, section: &Value) -> Option<PathBuf> {
    redis_ca_from(conn.state_ca.as_deref(), section, &env_var)
}

fn redis_ca_from(
    flag: Option<&Path>,
    section: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| {
            let ca = section.get("stateCa")?.as_str()?.trim();
            (!ca.is_empty()).then(|| PathBuf::from(ca))
        })
        .or_else(|| trimmed(env("KAKAOWORK_STATE_CA")).map(PathBuf::from))
}

/// The Redis URL the state goes to, if any: `--state`, else the config's `state`, else
/// `$KAKAOWORK_STATE` (the same order as the OpenClaw host: explicit first).
fn redis_url(conn: &Conn, section: &Value) -> Result<Option<String>, CliError> {
    redis_url_from(conn.state.as_deref(), section, &env_var)
}

fn redis_url_from(
    flag: Option<&str>,
    section: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, CliError> {
    let url = flag
        .map(str::to_owned)
        .or_else(|| section.get("state")?.as_str().map(str::to_owned))
        .or_else(|| trimmed(env("KAKAOWORK_STATE")));
    match url {
        Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => Ok(Some(u)),
        Some(u) => Err(CliError::Usage(format!(
            "--state (or the config's state, or KAKAOWORK_STATE) takes a Redis URL, \
             redis://host:port/db (rediss:// for TLS), not {}; without it the state is SQLite in --state-dir",
            host_test::runtime::kv::shown_url(&u)
        ))),
        None => Ok(None),
    }
}

pub struct Session {
    pub plugin: Plugin,
    pub emulator: Option<Emulator>,
    pub kv: Arc<dyn KvStore>,
    pub env: HostEnv,
    pub prepared: Prepared,
    pub runtime: Runtime,
}

pub fn state_dir(conn: &Conn) -> PathBuf {
    state_dir_from(conn.state_dir.as_deref(), &|k| {
        std::env::var_os(k).filter(|v| !v.is_empty())
    })
}

fn state_dir_from(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
) -> PathBuf {
    if let Some(d) = flag {
        return d.to_path_buf();
    }
    let env = |k: &str| env(k).map(PathBuf::from);
    env("KAKAOWORK_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("kakaowork-channel")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/kakaowork-channel")))
        .unwrap_or_else(|| PathBuf::from(".kakaowork-state"))
}

/// Calls the plugin until it answers without a wait hint (other processes may share the
/// budget), each wait shown on stderr; its error in the CLI's words.
pub fn call<T>(
    s: &mut Session,
    mut f: impl FnMut(&mut Session) -> wasmtime::Result<Result<T, wit::ChannelError>>,
) -> Result<T, CliError> {
    let (outcome, _, _) =
        host_test::serve::delivery::with_retries(&Clock::Real, MAX_CALLS, show_wait, || f(s))
            .map_err(trap)?;
    outcome.map_err(|e| super::error::channel_error(e, s.emulator.is_some()))
}

/// The CLI's delivery: real clock, up to 50 calls, each wait shown on stderr.
pub fn deliver_showing_progress(
    plugin: &mut Plugin,
    req: &wit::SendRequest,
) -> Result<host_test::serve::delivery::Report, CliError> {
    deliver(plugin, req, &Clock::Real, MAX_CALLS, show_wait).map_err(trap)
}

pub fn show_wait(ms: u64, reason: &str) {
    eprintln!(
        "{reason}: waiting {:.1} s before continuing…",
        ms as f64 / 1000.0
    );
}

pub fn connect(conn: &Conn) -> Result<Session, CliError> {
    connect_with(conn, true)
}

/// As [`connect`]; without `emulate_without_key` the embedded emulator starts only for
/// `--emulator` (a command about this machine's own state, not about KakaoWork).
pub fn connect_with(conn: &Conn, emulate_without_key: bool) -> Result<Session, CliError> {
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
    let dir = state_dir(conn);
    let db = dir.join("state.sqlite3");
    let redis = redis_url(conn, &section)?;
    let store: Arc<dyn KvStore> = match &redis {
        Some(url) => Arc::new(
            RedisKv::open_with(url, REDIS_NAMESPACE, redis_ca(conn, &section).as_deref()).map_err(
                |e| CliError::Store {
                    at: host_test::runtime::kv::shown_url(url),
                    message: store_error(&e),
                },
            )?,
        ),
        None => SqliteKv::open(&db).map_err(|e| CliError::State {
            path: db.clone(),
            message: format!("{e:?}"),
        })?,
    };
    // The first call to the store: an unreachable Redis stops here, before any request.
    let salt = host_test::runtime::config::state_salt(store.as_ref(), Clock::Real.now_ms())
        .map_err(|e| match &redis {
            Some(url) => CliError::Store {
                at: host_test::runtime::kv::shown_url(url),
                message: store_error(&e),
            },
            None => CliError::State {
                path: db.clone(),
                message: format!("the key-id salt: {e:?}"),
            },
        })?;
    // The embedded emulator stands in for KakaoWork only when nothing is configured at all (the
    // README's first command) or on request: a configuration without a key is a mistake to
    // report, not a reason to talk to a make-believe workspace with its settings.
    let configured = conn.config.is_some() || conn.api_base.is_some();
    if !has_key && emulate_without_key && configured && !conn.emulator {
        return Err(CliError::Usage(format!(
            "no KakaoWork app key: the configuration has none for its accounts and {APP_KEY_ENV} \
             is not set. Set appKey or keyFile (or {APP_KEY_ENV}), or pass --emulator to try \
             the embedded emulator"
        )));
    }
    let (prepared, emulator) = if conn.emulator || (!has_key && emulate_without_key) {
        let emu = Emulator::start(EmulatorOptions::default()).map_err(CliError::Emulator)?;
        eprintln!(
            "No KakaoWork app key found ({APP_KEY_ENV} or --config): using the embedded KakaoWork emulator at {}.",
            emu.base_url()
        );
        point_at_emulator(&mut section, &emu);
        (prepare_keyed(section, None, &salt)?, Some(emu))
    } else {
        (prepare_keyed(section, env_key.as_deref(), &salt)?, None)
    };
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
        compiled_cache: Some(host_test::runtime::CompiledCache::new(
            dir.join("compiled"),
            &salt,
        )),
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

fn store_error(e: &host_test::runtime::kv::Error) -> String {
    use host_test::runtime::kv::Error as E;
    match e {
        E::Unavailable(m) | E::InvalidKey(m) | E::Other(m) => m.clone(),
        E::TooLarge => "a value is too large".into(),
    }
}

/// Every account talks to the emulator, with the emulator's key.
fn point_at_emulator(section: &mut Value, emu: &Emulator) {
    let strip = |obj: &mut Value| {
        if let Value::Object(m) = obj {
            // The configured secret is the real endpoint's: the emulator's run gets its own.
            for k in ["appKey", "keyFile", "apiBase", "callbackSecret"] {
                m.remove(k);
            }
        }
    };
    if let Some(Value::Object(accounts)) = section.get_mut("accounts") {
        accounts.values_mut().for_each(strip);
    }
    strip(section);
    section["apiBase"] = json!(emu.base_url());
    section["appKey"] = json!(emu.app_key());
    // The emulator's workspace is this process's own: its callbacks are authenticated with a
    // secret made for the run.
    if section
        .get(kakaowork_channel::model::config::UNAUTHENTICATED_OPT_OUT)
        .is_none()
    {
        section["callbackSecret"] = json!(new_secret());
    }
}

/// 256 random bits, URL-safe: a `callbackSecret`.
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn configure(plugin: &mut Plugin, prepared: &Prepared) -> Result<(), CliError> {
    let result = plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .map_err(trap)?
        .map_err(CliError::Rejected)?;
    for w in result.warnings {
        eprintln!("warning: {}: {} (fix: {})", w.path, w.message, w.fix);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{redis_ca_from, redis_url_from, state_dir_from};
    use serde_json::Value;
    use std::path::Path;

    /// The cases both hosts share (`spec/state.json`): where the state lives for a
    /// configuration, an environment and (this host's) flags.
    #[test]
    fn the_state_is_where_the_shared_cases_say() {
        let spec: Value = serde_json::from_str(include_str!("../../../spec/state.json")).unwrap();
        let cases = spec["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for c in cases {
            let about = c["about"].as_str().unwrap();
            let env = |k: &str| c["env"][k].as_str().map(str::to_owned);
            let flag = |k: &str| c["flags"][k].as_str();
            let url = redis_url_from(flag("state"), &c["section"], &env);
            let ca = redis_ca_from(flag("stateCa").map(Path::new), &c["section"], &env);
            let dir = state_dir_from(flag("stateDir").map(Path::new), &|k| {
                env(k).filter(|v| !v.is_empty()).map(Into::into)
            });
            if let Some(says) = c["error"].as_array() {
                let text = url.unwrap_err().to_string();
                for w in says {
                    assert!(text.contains(w.as_str().unwrap()), "{about}: {text}");
                }
            } else if c["redis"].is_object() {
                assert_eq!(
                    url.unwrap().as_deref(),
                    c["redis"]["url"].as_str(),
                    "{about}"
                );
                let ca = ca.map(|p| p.to_str().unwrap().to_owned());
                assert_eq!(ca.as_deref(), c["redis"]["ca"].as_str(), "{about}");
            } else {
                assert_eq!(url.unwrap(), None, "{about}");
                let path = dir.join("state.sqlite3");
                assert_eq!(path.to_str(), c["sqlite"]["rust"].as_str(), "{about}");
            }
        }
    }
}
