//! The channel behind the `channel` export: one instance's configuration and the accounts it
//! serves, and `probe`. The other operations live in their own modules: [`crate::send`],
//! [`crate::inbound`] and [`crate::policy`], each an `impl Channel` that asks this one which
//! account a call uses; this module calls none of them.

use crate::api::Client;
use crate::auth_guard;
use crate::budget::{self, LimitGate};
use crate::config::{self, Account, ChannelConfig};
use crate::error::ChannelError;
use crate::memo::Memo;
use crate::ports::Ports;
use crate::retry;

pub use crate::auth_guard::AUTH_FAILURE_LIMIT;
pub use crate::records::*;

pub(crate) struct Credential {
    pub(crate) source: CredentialSource,
    pub(crate) key_id: Option<String>,
}

pub(crate) struct Configured {
    pub(crate) config: ChannelConfig,
    /// (account id, credential); a Vec keeps the guest small.
    pub(crate) credentials: Vec<(String, Credential)>,
}

/// One instance's state: the validated configuration and what it remembers between calls
/// (shared state lives in KV; see [`Memo`]).
#[derive(Default)]
pub struct Channel {
    pub(crate) state: Option<Configured>,
    pub(crate) memo: Memo,
}

impl Channel {
    pub fn configure(
        &mut self,
        json: &str,
        credentials: &[CredentialStatus],
    ) -> Result<ConfigureResult, Vec<ConfigIssue>> {
        let report = config::parse_str(json)?;
        let mut warnings = report.warnings;
        let mut creds: Vec<(String, Credential)> = Vec::new();
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
            creds.retain(|(a, _)| *a != id);
            creds.push((
                id,
                Credential {
                    source: c.source,
                    key_id: c.key_id.clone(),
                },
            ));
        }
        let accounts = report
            .config
            .accounts
            .iter()
            .map(|a| {
                let source = creds
                    .iter()
                    .find(|(id, _)| *id == a.id)
                    .map_or(CredentialSource::None, |(_, c)| c.source);
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
        self.memo = Memo::default();
        self.state = Some(Configured {
            config: report.config,
            credentials: creds,
        });
        Ok(ConfigureResult {
            accounts,
            default_account,
            warnings,
        })
    }

    /// The account a call uses, checked to be usable.
    pub(crate) fn account(
        &self,
        id: Option<&str>,
    ) -> Result<(&Account, Option<&str>), ChannelError> {
        let state = self.state.as_ref().ok_or(ChannelError::NotConfigured)?;
        let account = state
            .config
            .account(id)
            .map_err(|e| ChannelError::UnknownAccount(e.to_string()))?;
        if !account.enabled {
            return Err(ChannelError::AccountDisabled(account.id.clone()));
        }
        let cred = state
            .credentials
            .iter()
            .find(|(id, _)| *id == account.id)
            .map(|(_, c)| c);
        if cred.is_none_or(|c| c.source == CredentialSource::None) {
            return Err(ChannelError::MissingCredential(account.id.clone()));
        }
        Ok((account, cred.and_then(|c| c.key_id.as_deref())))
    }

    /// An account for policy and pairing work: it must exist; no credential is needed.
    pub(crate) fn policy_account(&self, id: Option<&str>) -> Result<&Account, ChannelError> {
        let state = self.state.as_ref().ok_or(ChannelError::NotConfigured)?;
        state
            .config
            .account(id)
            .map_err(|e| ChannelError::UnknownAccount(e.to_string()))
    }

    pub fn probe(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<ProbeResult, ChannelError> {
        let (account, key_id) = self.account(account)?;
        let memo = &self.memo;
        let on_record = auth_guard::check(ports, memo, account, key_id)?;
        let started = ports.clock.now_ms();
        let bkey = budget::key(ports, memo, account, started)?;
        let gate = LimitGate::new(ports, memo, &bkey, account);
        let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
        let scope = format!("{}/bots.info", account.id);
        let result = retry::safe_call(ports, &scope, "bots.info", || client.bots_info());
        let bot = match result {
            Ok(b) => {
                auth_guard::record(ports, memo, account, key_id, false, on_record);
                b
            }
            Err(e) => {
                if matches!(e, ChannelError::Authentication(_)) {
                    auth_guard::record(ports, memo, account, key_id, true, on_record);
                }
                return Err(e);
            }
        };
        Ok(ProbeResult {
            account: account.id.clone(),
            bot_id: bot.bot_id.0,
            title: bot.title,
            status: match bot.status.as_str() {
                "activated" => BotStatus::Activated,
                "deactivated" => BotStatus::Deactivated,
                _ => BotStatus::Unknown,
            },
            elapsed_ms: ports.clock.now_ms().saturating_sub(started),
        })
    }
}

#[cfg(test)]
mod tests;
