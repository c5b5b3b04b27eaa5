//! What every pipeline works on: the instance's validated configuration, the credentials the
//! host reported, and the instance's memory; and the checks that pick the account a call uses.

use crate::contract::records::{
    AccountInfo, ConfigIssue, ConfigureResult, CredentialSource, CredentialStatus,
};
use crate::model::config::{self, Account, ChannelConfig};
use crate::model::error::ChannelError;
use crate::state::memo::Memo;

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
/// (shared state lives in KV; see [`Memo`]). Every pipeline reads it; only `configure`
/// changes it.
#[derive(Default)]
pub struct Core {
    pub(crate) state: Option<Configured>,
    pub(crate) memo: Memo,
}

impl Core {
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
}
