//! DM and group access: the policy decision for a sender, with OpenClaw's pairing flow through
//! the host's pairing store.

use crate::contract::ports::Ports;
use crate::contract::records::{ChatType, PairingChallenge, PolicyDecision};
use crate::model::config::{self, Account, DmPolicy, GroupPolicy};
use crate::model::error::ChannelError;
use crate::pipelines::context::Core;

/// Whether `sender` may talk to the agent through `account` in a chat of kind `chat`.
pub fn check_policy(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
    sender: &str,
    chat: ChatType,
) -> Result<PolicyDecision, ChannelError> {
    let account = core.policy_account(account)?;
    let sender = config::normalize_allow_entry(sender);
    if sender.is_empty()
        || sender.len() > 64
        || sender == "*"
        || sender.chars().any(char::is_control)
    {
        return Err(ChannelError::InvalidTarget(format!(
            "`{sender}` is not a KakaoWork user id"
        )));
    }
    if !account.enabled {
        return Ok(PolicyDecision::Deny(format!(
            "account `{}` is disabled",
            account.id
        )));
    }
    match chat {
        ChatType::Direct => dm_decision(ports, account, &sender),
        ChatType::Group => group_decision(ports, account, &sender),
    }
}

/// Whether `list` admits `sender`, by name or by `*`.
fn listed(list: &[String], sender: &str) -> bool {
    list.iter().any(|e| e == "*" || *e == sender)
}

/// Users approved by pairing, from the host's store; called only when the config does not
/// decide alone, to spare the host a read.
fn approved(ports: &Ports<'_>, id: &str, sender: &str) -> Result<bool, ChannelError> {
    Ok(ports
        .pairing
        .read_allow_from(id)?
        .iter()
        .any(|u| config::normalize_allow_entry(u) == sender))
}

/// The decision for a direct message, by the account's `dmPolicy`; under "pairing" an
/// unknown sender gets a pairing challenge.
fn dm_decision(
    ports: &Ports<'_>,
    account: &Account,
    sender: &str,
) -> Result<PolicyDecision, ChannelError> {
    let id = &account.id;
    Ok(match account.dm_policy {
        DmPolicy::Disabled => PolicyDecision::Deny(format!(
            "direct messages are disabled for `{id}` (dmPolicy \"disabled\")"
        )),
        DmPolicy::Open => {
            if account.allow_from.is_empty() || listed(&account.allow_from, sender) {
                PolicyDecision::Allow(format!("dmPolicy \"open\" on `{id}`"))
            } else {
                PolicyDecision::Deny(format!(
                    "dmPolicy \"open\" on `{id}` admits only allowFrom, and {sender} is not in it"
                ))
            }
        }
        DmPolicy::Allowlist | DmPolicy::Pairing if listed(&account.allow_from, sender) => {
            PolicyDecision::Allow(format!("{sender} is in allowFrom of `{id}`"))
        }
        DmPolicy::Allowlist | DmPolicy::Pairing if approved(ports, id, sender)? => {
            PolicyDecision::Allow(format!("{sender} was approved by pairing on `{id}`"))
        }
        DmPolicy::Allowlist => PolicyDecision::Deny(format!(
            "{sender} is not in the allowlist of `{id}` (dmPolicy \"allowlist\"; nothing is sent to them)"
        )),
        DmPolicy::Pairing => match ports.pairing.upsert_request(id, sender)? {
            Some(c) => PolicyDecision::PairingRequired(PairingChallenge {
                reply: c.reply.unwrap_or_else(|| pairing_reply(sender, &c.code)),
                code: c.code,
                created: c.created,
            }),
            None => PolicyDecision::Deny(format!(
                "{sender} needs pairing, but the host's pairing store for `{id}` has no \
                 room for another pending request; approve or reject one (they also expire)"
            )),
        },
    })
}

/// The decision for a group conversation, by the account's `groupPolicy`; its list is
/// `groupAllowFrom`, else `allowFrom`.
fn group_decision(
    ports: &Ports<'_>,
    account: &Account,
    sender: &str,
) -> Result<PolicyDecision, ChannelError> {
    let id = &account.id;
    let list = account
        .group_allow_from
        .as_deref()
        .unwrap_or(&account.allow_from);
    Ok(match account.group_policy {
        GroupPolicy::Disabled => PolicyDecision::Deny(format!(
            "group conversations are disabled for `{id}` (groupPolicy \"disabled\")"
        )),
        GroupPolicy::Open => PolicyDecision::Allow(format!("groupPolicy \"open\" on `{id}`")),
        GroupPolicy::Allowlist if listed(list, sender) => {
            PolicyDecision::Allow(format!("{sender} is in the group allowlist of `{id}`"))
        }
        GroupPolicy::Allowlist if approved(ports, id, sender)? => {
            PolicyDecision::Allow(format!("{sender} was approved by pairing on `{id}`"))
        }
        GroupPolicy::Allowlist => PolicyDecision::Deny(format!(
            "{sender} is not allowed in group conversations of `{id}` (groupPolicy \"allowlist\")"
        )),
    })
}

pub fn pairing_reply(user: &str, code: &str) -> String {
    format!(
        "Moltbot: access not configured.\n\nYour KakaoWork user id: {user}\n\nPairing code: {code}\n\n\
         Ask the bot owner to approve with:\nmoltbot pairing approve kakao {code}"
    )
}

#[cfg(test)]
mod tests;
