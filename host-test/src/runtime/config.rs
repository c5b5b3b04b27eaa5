//! Loading the channel configuration on the host: JSON5 files, credential resolution
//! (`appKey`, else `keyFile`, else `KAKAOWORK_APP_KEY` for the default account), and the
//! redacted copy that is all the guest ever sees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kakaowork_channel::model::config::{self as shared, ConfigIssue, CredentialSource};
use serde_json::Value;
use thiserror::Error;

use crate::runtime::http::{AppKey, Endpoint, HttpPolicy};
use crate::wit;

#[derive(Debug, Error)]
pub enum HostConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid JSON5: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the configuration is invalid:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
    #[error(
        "{path}: cannot read keyFile {file} for account `{account}`: {reason} (fix: point keyFile at a readable file that holds the App Key)"
    )]
    KeyFile {
        account: String,
        path: String,
        file: String,
        reason: String,
    },
}

/// A configuration ready for the guest, plus the host-only parts.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The `channels.kakao` section with every `appKey` value replaced.
    pub redacted_json: String,
    pub credentials: Vec<wit::CredentialStatus>,
    pub policy: HttpPolicy,
    pub config: shared::ChannelConfig,
}

/// Read a config file: either a whole OpenClaw/Moltbot config (`channels.kakao` is used)
/// or the section itself.
pub fn load_file(path: &Path) -> Result<Value, HostConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: Value = json5::from_str(&text).map_err(|e| HostConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(match value.pointer("/channels/kakao") {
        Some(section) => section.clone(),
        None => value,
    })
}

/// A non-secret identifier of a key: the first 64 bits of HMAC-SHA-256 of the key under a
/// host secret, in hex. It lets the plugin notice a changed key without ever holding the key,
/// and, being keyed, it cannot be used to test guesses of the key without the host's salt.
pub fn key_id(salt: &[u8], key: &str) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(salt).expect("HMAC takes a key of any length");
    mac.update(key.as_bytes());
    mac.finalize().into_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A salt for this process alone: key ids from [`prepare`] are keyed even where no state
/// keeps a salt (tests, benchmarks); hosts with state use [`prepare_keyed`] with theirs.
fn process_salt() -> &'static [u8; 32] {
    static SALT: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    SALT.get_or_init(|| {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).expect("the operating system's random generator failed");
        b
    })
}

/// The state's key-id salt: made once, at random, and kept in the host's store, so that
/// every process on that state names a key the same way.
pub fn state_salt(
    kv: &dyn crate::runtime::kv::KvStore,
    now_ms: u64,
) -> Result<Vec<u8>, crate::bindings::moltbot::channel::kv::Error> {
    const KEY: &str = "host/key-id-salt";
    if let Some(s) = kv.get(KEY, now_ms)? {
        return Ok(s);
    }
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    // Two processes may race: whoever wrote first wins, and both read the winner.
    kv.compare_and_swap(KEY, None, Some(&b), None, now_ms)?;
    kv.get(KEY, now_ms)?.ok_or_else(|| {
        crate::bindings::moltbot::channel::kv::Error::Unavailable("the key-id salt vanished".into())
    })
}

fn source_to_wit(s: CredentialSource) -> wit::CredentialSource {
    match s {
        CredentialSource::Config => wit::CredentialSource::Config,
        CredentialSource::KeyFile => wit::CredentialSource::KeyFile,
        CredentialSource::Env => wit::CredentialSource::Env,
        CredentialSource::None => wit::CredentialSource::None,
    }
}

/// Resolve every account's key and build the redacted section and the HTTP policy.
/// `env_key` is the value of `KAKAOWORK_APP_KEY`, if set.
pub fn prepare(section: Value, env_key: Option<&str>) -> Result<Prepared, HostConfigError> {
    prepare_keyed(section, env_key, process_salt())
}

/// As [`prepare`], with key ids keyed by `salt` (the state's, from [`state_salt`]).
pub fn prepare_keyed(
    mut section: Value,
    env_key: Option<&str>,
    salt: &[u8],
) -> Result<Prepared, HostConfigError> {
    let env_key = env_key.map(str::trim).filter(|k| !k.is_empty());
    let report = shared::parse(&section).map_err(HostConfigError::Invalid)?;
    let mut accounts = HashMap::new();
    let mut credentials = Vec::new();
    for a in &report.config.accounts {
        let plan = a.credential_plan(env_key.is_some());
        let key = match plan {
            // Trimmed, as a key file's content is: a pasted key often ends in a line break.
            CredentialSource::Config => {
                shared::inline_app_key(&section, a).map(|k| k.trim().to_owned())
            }
            CredentialSource::KeyFile => {
                let file = a.key_file.clone().unwrap_or_default();
                let text =
                    std::fs::read_to_string(&file).map_err(|e| HostConfigError::KeyFile {
                        account: a.id.clone(),
                        path: format!("{}.keyFile", a.path),
                        file: file.clone(),
                        reason: e.to_string(),
                    })?;
                let key = text.trim().to_owned();
                if key.is_empty() {
                    return Err(HostConfigError::KeyFile {
                        account: a.id.clone(),
                        path: format!("{}.keyFile", a.path),
                        file,
                        reason: "the file is empty".into(),
                    });
                }
                Some(key)
            }
            CredentialSource::Env => env_key.map(str::to_owned),
            CredentialSource::None => None,
        };
        if let Some(why) = key.as_deref().and_then(shared::app_key_problem) {
            // Said without the key: it is a secret even when malformed.
            return Err(HostConfigError::Invalid(vec![ConfigIssue {
                path: format!("{}.appKey", a.path),
                message: format!("the App Key of account `{}` {why}", a.id),
                fix: "copy the App Key again from the KakaoWork admin console, as one line".into(),
            }]));
        }
        let source = if key.is_some() {
            plan
        } else {
            CredentialSource::None
        };
        let key_id = key.as_deref().map(|k| key_id(salt, k));
        // api_base was validated by the shared parser, so it parses here.
        let endpoint =
            Endpoint::new(&a.api_base, key.map(AppKey::new), a.proxy.clone()).map_err(|e| {
                HostConfigError::Invalid(vec![ConfigIssue {
                    path: format!("{}.apiBase", a.path),
                    message: format!("`{}` is not a URL: {e}", a.api_base),
                    fix: format!("use {}", shared::DEFAULT_API_BASE),
                }])
            })?;
        accounts.insert(a.id.clone(), endpoint);
        credentials.push(wit::CredentialStatus {
            account: a.id.clone(),
            source: source_to_wit(source),
            key_id,
        });
    }
    shared::redact_credentials(&mut section);
    Ok(Prepared {
        redacted_json: section.to_string(),
        credentials,
        policy: HttpPolicy::new(accounts),
        config: report.config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The cases both hosts share (`spec/app-keys.json`): a malformed key is refused at
    /// configuration, naming the account and what is wrong, never echoing the key.
    #[test]
    fn malformed_app_keys_are_refused_naming_the_account() {
        let spec: Value =
            serde_json::from_str(include_str!("../../../spec/app-keys.json")).unwrap();
        for key in spec["valid"].as_array().unwrap() {
            let section = json!({"accounts": {"ops": {"appKey": key}},
                "callbackSecret": "test-callback-secret-0123456789"});
            assert!(prepare(section, None).is_ok(), "{key}");
        }
        let invalid = spec["invalid"].as_array().unwrap();
        assert!(invalid.len() >= 6);
        for case in invalid {
            let key = case["key"].as_str().unwrap();
            let section = json!({"accounts": {"ops": {"appKey": key}},
                "callbackSecret": "test-callback-secret-0123456789"});
            let Err(HostConfigError::Invalid(issues)) = prepare(section, None) else {
                panic!("{key:?} was accepted");
            };
            let text = format!("{issues:?}");
            assert_eq!(
                issues[0].path, "channels.kakao.accounts.ops.appKey",
                "{text}"
            );
            assert!(issues[0].message.contains("`ops`"), "{text}");
            assert!(
                issues[0].message.contains(case["says"].as_str().unwrap()),
                "{text}"
            );
            assert!(!text.contains(key), "the key is not echoed: {text}");
        }
    }

    /// The cases both hosts share (`spec/credentials.json`): which source each account's key
    /// comes from, and the key, or the error.
    #[test]
    fn credentials_are_resolved_in_the_shared_order() {
        let spec: Value =
            serde_json::from_str(include_str!("../../../spec/credentials.json")).unwrap();
        let cases = spec["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for (i, c) in cases.iter().enumerate() {
            let about = c["about"].as_str().unwrap();
            let dir = std::env::temp_dir().join(format!("kw-cred-{}-{i}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in c["files"].as_object().unwrap() {
                std::fs::write(dir.join(name), text.as_str().unwrap()).unwrap();
            }
            let section = c["section"]
                .to_string()
                .replace("$DIR", dir.to_str().unwrap());
            let env_key = c["env"]["KAKAOWORK_APP_KEY"].as_str();
            let result = prepare(serde_json::from_str(&section).unwrap(), env_key);
            let _ = std::fs::remove_dir_all(&dir);
            match (result, c["error"].as_array()) {
                (Ok(p), None) => {
                    let got: serde_json::Map<String, Value> = p
                        .credentials
                        .iter()
                        .map(|cred| {
                            let source = match cred.source {
                                wit::CredentialSource::Config => "config",
                                wit::CredentialSource::KeyFile => "key-file",
                                wit::CredentialSource::Env => "env",
                                wit::CredentialSource::None => "none",
                            };
                            let key = p.policy.accounts[&cred.account]
                                .key
                                .as_ref()
                                .map(|k| k.expose().to_owned());
                            (cred.account.clone(), json!({"source": source, "key": key}))
                        })
                        .collect();
                    assert_eq!(Value::Object(got), c["accounts"], "{about}");
                }
                (Err(e), Some(says)) => {
                    let text = e.to_string();
                    for word in says {
                        assert!(text.contains(word.as_str().unwrap()), "{about}: {text}");
                    }
                }
                (r, _) => panic!("{about}: {:?}", r.map(|p| p.credentials)),
            }
        }
    }

    #[test]
    fn keys_are_resolved_host_side_and_redacted() {
        let dir = std::env::temp_dir().join(format!("kw-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("b.key");
        std::fs::write(&key_file, "  file-secret\n").unwrap();
        let section = json!({
            "accounts": {
                "a": {"appKey": "inline-secret"},
                "b": {"keyFile": key_file.to_str().unwrap()},
                "c": {}
            },
            "defaultAccount": "c",
            "callbackSecret": "test-callback-secret-0123456789"
        });
        let p = prepare(section, Some("env-secret")).unwrap();
        for secret in ["inline-secret", "file-secret", "env-secret"] {
            assert!(!p.redacted_json.contains(secret), "{}", p.redacted_json);
        }
        let key = |id: &str| {
            p.policy.accounts[id]
                .key
                .as_ref()
                .map(|k| k.expose().to_owned())
        };
        assert_eq!(key("a").as_deref(), Some("inline-secret"));
        assert_eq!(key("b").as_deref(), Some("file-secret"));
        assert_eq!(key("c").as_deref(), Some("env-secret"));
        let sources: Vec<_> = p
            .credentials
            .iter()
            .map(|c| (c.account.as_str(), c.source))
            .collect();
        assert_eq!(
            sources,
            [
                ("a", wit::CredentialSource::Config),
                ("b", wit::CredentialSource::KeyFile),
                ("c", wit::CredentialSource::Env)
            ]
        );
        assert_eq!(
            format!("{:?}", p.policy.accounts["a"].key),
            "Some(AppKey(***))"
        );
    }

    #[test]
    fn key_ids_are_keyed_by_the_state_salt() {
        let kv = crate::runtime::kv::MemoryKv::default();
        let salt = state_salt(&kv, 0).unwrap();
        assert_eq!(salt.len(), 32);
        assert_eq!(state_salt(&kv, 0).unwrap(), salt, "made once, then kept");
        let other = state_salt(&crate::runtime::kv::MemoryKv::default(), 0).unwrap();
        assert_ne!(other, salt, "each state has its own");

        let p = prepare_keyed(
            json!({"appKey": "the-app-key", "replyButton": false}),
            None,
            &salt,
        )
        .unwrap();
        let id = p.credentials[0].key_id.clone().unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(id, key_id(&salt, "the-app-key"));
        // Not the plain hash a guess could be checked against, and not the same for another salt.
        use sha2::Digest;
        let plain: String = sha2::Sha256::digest(b"the-app-key")[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(id, plain);
        assert_ne!(id, key_id(&other, "the-app-key"));
        assert_ne!(
            id,
            key_id(&salt, "another-key"),
            "a changed key changes its id"
        );
    }

    #[test]
    fn unreadable_key_file_is_a_clear_error() {
        let err = prepare(
            json!({"keyFile": "/nonexistent/kw.key", "replyButton": false}),
            None,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("channels.kakao.keyFile") && msg.contains("/nonexistent/kw.key"),
            "{msg}"
        );
    }

    #[test]
    fn whole_config_files_and_json5_are_accepted() {
        let dir = std::env::temp_dir().join(format!("kw-cfg5-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("moltbot.json");
        std::fs::write(
            &f,
            "{\n // comment\n channels: { kakao: { appKey: 'k', dmPolicy: 'pairing', }, },\n}",
        )
        .unwrap();
        let v = load_file(&f).unwrap();
        assert_eq!(v, json!({"appKey": "k", "dmPolicy": "pairing"}));
        std::fs::write(&f, "{ nope").unwrap();
        assert!(matches!(load_file(&f), Err(HostConfigError::Parse { .. })));
    }
}
