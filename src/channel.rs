//! The channel service behind the `channel` export: configure, send, probe; plus the typed
//! "not implemented" answers of the exports that later work fills in.

use std::collections::BTreeMap;

use crate::api::{ApiError, Client};
use crate::config::{self, Account, ChannelConfig, ConfigIssue, CredentialSource, DmPolicy};
use crate::envelope::ErrorCode;
use crate::error::ChannelError;
use crate::ports::Ports;
use crate::target::{self, Target};

/// KakaoWork's reported cap on `text` (reference notes, section 4.3).
pub const MAX_TEXT_CHARS: usize = 3000;
/// How long a user's DM conversation id stays cached.
const DM_CACHE_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub account: String,
    pub source: CredentialSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub id: String,
    pub enabled: bool,
    pub configured: bool,
    pub credential_source: CredentialSource,
    pub dm_policy: DmPolicy,
    pub api_base: String,
    pub callback_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureResult {
    pub accounts: Vec<AccountInfo>,
    pub default_account: String,
    pub warnings: Vec<ConfigIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub account: Option<String>,
    pub target: String,
    pub text: String,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub account: String,
    pub message_id: String,
    pub conversation_id: String,
    pub send_time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub account: String,
    pub bot_id: String,
    pub title: String,
    pub status: String,
    pub elapsed_ms: u64,
}

struct Configured {
    config: ChannelConfig,
    sources: BTreeMap<String, CredentialSource>,
}

/// One instance's state: the validated configuration, nothing else (shared state lives in KV).
#[derive(Default)]
pub struct Channel {
    state: Option<Configured>,
}

fn dm_cache_key(account: &str, user_id: &str) -> String {
    format!("dm/v1/{account}/{user_id}")
}

impl Channel {
    pub fn configure(
        &mut self,
        json: &str,
        credentials: &[CredentialStatus],
    ) -> Result<ConfigureResult, Vec<ConfigIssue>> {
        let report = config::parse_str(json)?;
        let mut warnings = report.warnings;
        let mut sources = BTreeMap::new();
        for c in credentials {
            let id = config::normalize_account_id(&c.account);
            if report.config.accounts.iter().all(|a| a.id != id) {
                warnings.push(ConfigIssue {
                    path: config::SECTION_PATH.into(),
                    message: format!(
                        "the host reported a credential for unknown account `{}`",
                        c.account
                    ),
                    fix: "check that the host and the plugin read the same configuration".into(),
                });
                continue;
            }
            sources.insert(id, c.source);
        }
        let accounts = report
            .config
            .accounts
            .iter()
            .map(|a| {
                let source = sources
                    .get(&a.id)
                    .copied()
                    .unwrap_or(CredentialSource::None);
                if source == CredentialSource::None && a.enabled {
                    warnings.push(ConfigIssue {
                        path: a.path.clone(),
                        message: format!("account `{}` has no app key, so it cannot send", a.id),
                        fix: if a.is_default {
                            "set appKey or keyFile, or export KAKAOWORK_APP_KEY".into()
                        } else {
                            "set appKey or keyFile for this account".into()
                        },
                    });
                }
                AccountInfo {
                    id: a.id.clone(),
                    enabled: a.enabled,
                    configured: source != CredentialSource::None,
                    credential_source: source,
                    dm_policy: a.dm_policy,
                    api_base: a.api_base.clone(),
                    callback_path: a.callback_path.clone(),
                }
            })
            .collect();
        let default_account = report.config.default_account.clone();
        self.state = Some(Configured {
            config: report.config,
            sources,
        });
        Ok(ConfigureResult {
            accounts,
            default_account,
            warnings,
        })
    }

    /// The account a call uses, checked to be usable.
    fn account(&self, id: Option<&str>) -> Result<&Account, ChannelError> {
        let state = self.state.as_ref().ok_or(ChannelError::NotConfigured)?;
        let account = state
            .config
            .account(id)
            .map_err(|e| ChannelError::UnknownAccount(e.to_string()))?;
        if !account.enabled {
            return Err(ChannelError::AccountDisabled(account.id.clone()));
        }
        if state
            .sources
            .get(&account.id)
            .copied()
            .unwrap_or(CredentialSource::None)
            == CredentialSource::None
        {
            return Err(ChannelError::MissingCredential(account.id.clone()));
        }
        Ok(account)
    }

    pub fn send(&self, ports: &Ports<'_>, req: &SendRequest) -> Result<SendReceipt, ChannelError> {
        let account = self.account(req.account.as_deref())?;
        let target =
            target::parse(&req.target).map_err(|e| ChannelError::InvalidTarget(e.to_string()))?;
        let chars = req.text.chars().count();
        if req.text.trim().is_empty() {
            return Err(ChannelError::InvalidMessage("the text is empty".into()));
        }
        if chars > MAX_TEXT_CHARS {
            return Err(ChannelError::InvalidMessage(format!(
                "the text is {chars} characters; KakaoWork accepts at most {MAX_TEXT_CHARS} per message"
            )));
        }
        let client = Client::new(ports.http, &account.id, &account.api_base);
        let message = match &target {
            Target::Conversation(id) => client.messages_send(id, &req.text)?,
            Target::Email(addr) => client.messages_send_by_email(addr, &req.text)?,
            Target::User(user) => {
                let key = dm_cache_key(&account.id, user);
                // The cache only saves a request; a KV outage must not stop delivery.
                let cached = ports
                    .kv
                    .get(&key)
                    .ok()
                    .flatten()
                    .and_then(|v| String::from_utf8(v).ok());
                let sent = match cached {
                    Some(conv) => match client.messages_send(&conv, &req.text) {
                        // A stale cache entry (room gone): forget it and open again.
                        Err(ApiError::Envelope(e))
                            if e.code() == Some(&ErrorCode::ConversationNotFound) =>
                        {
                            let _ = ports.kv.delete(&key);
                            None
                        }
                        other => Some(other?),
                    },
                    None => None,
                };
                match sent {
                    Some(m) => m,
                    None => {
                        let conv = client.conversations_open(user)?;
                        let _ =
                            ports
                                .kv
                                .set(&key, conv.id.as_str().as_bytes(), Some(DM_CACHE_TTL_MS));
                        client.messages_send(conv.id.as_str(), &req.text)?
                    }
                }
            }
        };
        Ok(SendReceipt {
            account: account.id.clone(),
            message_id: message.id.0,
            conversation_id: message.conversation_id.0,
            send_time: message.send_time.unwrap_or(ports.clock.now_ms() / 1000),
        })
    }

    pub fn probe(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<ProbeResult, ChannelError> {
        let account = self.account(account)?;
        let started = ports.clock.now_ms();
        let bot = Client::new(ports.http, &account.id, &account.api_base).bots_info()?;
        Ok(ProbeResult {
            account: account.id.clone(),
            bot_id: bot.bot_id.0,
            title: bot.title,
            status: bot.status,
            elapsed_ms: ports.clock.now_ms().saturating_sub(started),
        })
    }

    /// Designed in the WIT; built by the inbound-callbacks work.
    pub fn handle_callback(&self) -> Result<(), ChannelError> {
        Err(ChannelError::NotImplemented("handle-callback".into()))
    }

    /// Designed in the WIT; built by the access-control work.
    pub fn check_policy(&self) -> Result<(), ChannelError> {
        Err(ChannelError::NotImplemented("check-policy".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FixedClock, MemoryKv, ScriptedHttp};
    use crate::ports::Kv;
    use std::cell::Cell;

    fn configured(json: &str, sources: &[(&str, CredentialSource)]) -> Channel {
        let mut ch = Channel::default();
        let creds: Vec<_> = sources
            .iter()
            .map(|(a, s)| CredentialStatus {
                account: (*a).into(),
                source: *s,
            })
            .collect();
        ch.configure(json, &creds).unwrap();
        ch
    }

    fn req(target: &str) -> SendRequest {
        SendRequest {
            account: None,
            target: target.into(),
            text: "hello".into(),
            idempotency_key: None,
        }
    }

    const OPEN: &str = r#"{"success":true,"conversation":{"id":"77","type":"dm"}}"#;
    const SENT: &str = r#"{"success":true,"message":{"id":"9007199254740993","conversation_id":77,"send_time":1700000000}}"#;

    #[test]
    fn user_target_opens_once_then_uses_the_cache() {
        let ch = configured("{}", &[("default", CredentialSource::Env)]);
        let kv = MemoryKv::default();
        let clock = FixedClock(Cell::new(0));
        let http = ScriptedHttp::new(vec![(200, OPEN), (200, SENT), (200, SENT)]);
        let ports = Ports {
            http: &http,
            kv: &kv,
            clock: &clock,
        };
        let r = ch.send(&ports, &req("user:10000003")).unwrap();
        assert_eq!(r.message_id, "9007199254740993");
        assert_eq!(r.conversation_id, "77");
        assert_eq!(r.send_time, 1700000000);
        ch.send(&ports, &req("kakaowork:user:10000003")).unwrap();
        let urls: Vec<_> = http
            .requests()
            .iter()
            .map(|r| r.url.rsplit('/').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            urls,
            ["conversations.open", "messages.send", "messages.send"]
        );
    }

    #[test]
    fn stale_dm_cache_reopens() {
        let ch = configured("{}", &[("default", CredentialSource::Env)]);
        let kv = MemoryKv::default();
        kv.set("dm/v1/default/5", b"666", None).unwrap();
        let http = ScriptedHttp::new(vec![
            (
                404,
                r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#,
            ),
            (200, OPEN),
            (200, SENT),
        ]);
        let clock = FixedClock(Cell::new(0));
        let ports = Ports {
            http: &http,
            kv: &kv,
            clock: &clock,
        };
        ch.send(&ports, &req("user:5")).unwrap();
        assert_eq!(
            kv.get("dm/v1/default/5").unwrap().as_deref(),
            Some(&b"77"[..])
        );
    }

    #[test]
    fn kv_outage_does_not_stop_a_dm() {
        let ch = configured("{}", &[("default", CredentialSource::Env)]);
        let kv = MemoryKv::default();
        kv.fail.set(true);
        let http = ScriptedHttp::new(vec![(200, OPEN), (200, SENT)]);
        let clock = FixedClock(Cell::new(0));
        let ports = Ports {
            http: &http,
            kv: &kv,
            clock: &clock,
        };
        assert!(ch.send(&ports, &req("user:5")).is_ok());
    }

    #[test]
    fn bad_input_fails_before_any_request() {
        let ch = configured(
            r#"{"accounts":{"a":{},"off":{"enabled":false},"nokey":{}}}"#,
            &[
                ("a", CredentialSource::Config),
                ("off", CredentialSource::Config),
            ],
        );
        let kv = MemoryKv::default();
        let clock = FixedClock(Cell::new(0));
        let http = ScriptedHttp::new(vec![]);
        let ports = Ports {
            http: &http,
            kv: &kv,
            clock: &clock,
        };
        type Check = fn(&ChannelError) -> bool;
        let cases: Vec<(SendRequest, Check)> = vec![
            (req("#general"), |e| {
                matches!(e, ChannelError::InvalidTarget(_))
            }),
            (
                SendRequest {
                    text: " ".into(),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::InvalidMessage(_)),
            ),
            (
                SendRequest {
                    text: "가".repeat(MAX_TEXT_CHARS + 1),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::InvalidMessage(_)),
            ),
            (
                SendRequest {
                    account: Some("zzz".into()),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::UnknownAccount(_)),
            ),
            (
                SendRequest {
                    account: Some("off".into()),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::AccountDisabled(_)),
            ),
            (
                SendRequest {
                    account: Some("nokey".into()),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::MissingCredential(_)),
            ),
        ];
        for (r, check) in cases {
            let e = ch.send(&ports, &r).unwrap_err();
            assert!(check(&e), "{r:?} gave {e:?}");
        }
        assert!(http.requests().is_empty());
        let fresh = Channel::default();
        assert_eq!(
            fresh.send(&ports, &req("1")),
            Err(ChannelError::NotConfigured)
        );
    }

    #[test]
    fn configure_reports_sources_and_missing_keys() {
        let mut ch = Channel::default();
        let r = ch
            .configure(
                r#"{"accounts":{"a":{"appKey":true},"b":{}},"defaultAccount":"a"}"#,
                &[CredentialStatus {
                    account: "a".into(),
                    source: CredentialSource::Config,
                }],
            )
            .unwrap();
        assert_eq!(r.default_account, "a");
        assert_eq!(r.accounts[0].credential_source, CredentialSource::Config);
        assert!(r.accounts[0].configured);
        assert!(!r.accounts[1].configured);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.path == "channels.kakao.accounts.b" && w.message.contains("no app key"))
        );
    }

    #[test]
    fn api_errors_map_to_actionable_variants() {
        let ch = configured("{}", &[("default", CredentialSource::Config)]);
        let kv = MemoryKv::default();
        let clock = FixedClock(Cell::new(0));
        let http = ScriptedHttp::new(vec![
            (
                401,
                r#"{"success":false,"error":{"code":"invalid_authentication","message":"x"}}"#,
            ),
            (
                429,
                r#"{"success":false,"error":{"code":"too_many_requests","message":"x"}}"#,
            ),
            (
                404,
                r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#,
            ),
        ]);
        let ports = Ports {
            http: &http,
            kv: &kv,
            clock: &clock,
        };
        assert!(matches!(
            ch.send(&ports, &req("1")),
            Err(ChannelError::Authentication(_))
        ));
        match ch.send(&ports, &req("1")) {
            Err(ChannelError::RateLimited(f)) => assert!(f.retryable),
            other => panic!("{other:?}"),
        }
        match ch.send(&ports, &req("1")) {
            Err(ChannelError::Api(f)) => {
                assert_eq!(f.code, "conversation_not_found");
                assert!(!f.retryable);
            }
            other => panic!("{other:?}"),
        }
    }
}
