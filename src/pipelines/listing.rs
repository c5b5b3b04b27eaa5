//! The directory's operations: who and what the bot can reach (members, its conversations, departments, the
//! workspace) and `probe`. Every list is read page by page through [`crate::model::pagination`] (the
//! cursor-only rule, a bound on pages), each page a request against the rate budget.

use crate::api::auth_guard;
use crate::api::budget::{self, LimitGate};
use crate::api::client::{ApiError, Client, Conversation, Department, User};
use crate::api::directory::list;
use crate::api::retry;
use crate::contract::ports::Ports;
use crate::contract::records::{
    BotStatus, ChatType, ConversationInfo, DepartmentInfo, DirectoryKind, DirectoryListing,
    DirectoryQuery, Member, MemberStatus, ProbeResult, SpaceInfo,
};
use crate::model::config::Account;
use crate::model::envelope::{EnvelopeError, ErrorCode};
use crate::model::error::ChannelError;
use crate::model::target::{self, Target};
use crate::pipelines::context::Core;

/// One exchange with KakaoWork for an account: the authentication guard first, the rate
/// budget at every request, and the guard told how it went.
fn with_api<T>(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
    f: impl FnOnce(&Account, &Client<'_>) -> Result<T, ChannelError>,
) -> Result<T, ChannelError> {
    let (account, key_id) = core.account(account)?;
    let memo = &core.memo;
    let on_record = auth_guard::check(ports, memo, account, key_id)?;
    let bkey = budget::key(ports, memo, account, ports.clock.now_ms())?;
    let gate = LimitGate::new(ports, memo, &bkey, account);
    let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
    let result = f(account, &client);
    match &result {
        Ok(_) => auth_guard::record(ports, memo, account, key_id, false, on_record),
        Err(ChannelError::Authentication(_)) => {
            auth_guard::record(ports, memo, account, key_id, true, on_record)
        }
        Err(_) => {}
    }
    result
}

/// `bots.info` for the account: a cheap authenticated call.
pub fn probe(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
) -> Result<ProbeResult, ChannelError> {
    let started = ports.clock.now_ms();
    let (id, bot) = with_api(core, ports, account, |account, client| {
        let scope = format!("{}/bots.info", account.id);
        let bot = retry::safe_call(ports, &scope, "bots.info", || client.bots_info())?;
        Ok((account.id.clone(), bot))
    })?;
    Ok(ProbeResult {
        account: id,
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

/// Every page of a list, filtered by the query.
pub fn directory(
    core: &Core,
    ports: &Ports<'_>,
    q: &DirectoryQuery,
) -> Result<DirectoryListing, ChannelError> {
    let query = q
        .query
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase);
    let query = query.as_deref();
    let memo = &core.memo;
    with_api(core, ports, q.account.as_deref(), |account, client| {
        let id = &account.id;
        Ok(match q.kind {
            DirectoryKind::Users => {
                let scope = format!("{id}/users.find_by_email");
                if let Some(found) = find_by_email(ports, client, &scope, query)? {
                    return Ok(DirectoryListing::Users(vec![member(found)]));
                }
                let all = list(ports, memo, id, "users.list", |p| client.users_list(p))?;
                DirectoryListing::Users(keep(all, query, user_matches, member))
            }
            DirectoryKind::Conversations => {
                let all = list(ports, memo, id, "conversations.list", |p| {
                    client.conversations_list(p)
                })?;
                let matches = |c: &Conversation, q: &str| {
                    c.id.as_str() == q || contains(c.name.as_deref(), q)
                };
                DirectoryListing::Conversations(keep(all, query, matches, conversation))
            }
            DirectoryKind::Departments => {
                let all = list(ports, memo, id, "departments.list", |p| {
                    client.departments_list(p)
                })?;
                let matches = |d: &Department, q: &str| {
                    d.id.as_str() == q
                        || contains(Some(&d.name), q)
                        || contains(d.code.as_deref(), q)
                };
                DirectoryListing::Departments(keep(all, query, matches, department))
            }
        })
    })
}

/// One member, by `user:<id>`, a numeric id or an e-mail address (`email:` optional).
pub fn lookup_member(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
    who: &str,
) -> Result<Member, ChannelError> {
    let trimmed = who.trim();
    let bare_email = trimmed.contains('@') && !trimmed.contains(':');
    let parsed = if bare_email {
        target::parse(&format!("email:{trimmed}"))
    } else {
        target::parse(trimmed)
    };
    let target = parsed.map_err(|_| {
        ChannelError::InvalidTarget(format!(
            "`{who}` names no member: use user:<id>, a numeric user id or an e-mail address"
        ))
    })?;
    with_api(core, ports, account, |account, client| {
        let user = match &target {
            Target::User(id) | Target::Conversation(id) => {
                let scope = format!("{}/users.info", account.id);
                retry::safe_call(ports, &scope, "users.info", || client.users_info(id))?
            }
            Target::Email(addr) => {
                let scope = format!("{}/users.find_by_email", account.id);
                retry::safe_call(ports, &scope, "users.find_by_email", || {
                    client.users_find_by_email(addr)
                })?
            }
            Target::Users(_) => {
                return Err(ChannelError::InvalidTarget(format!(
                    "`{who}` names several members; look them up one at a time"
                )));
            }
        };
        Ok(member(user))
    })
}

/// The members of a conversation the bot is in.
pub fn conversation_members(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
    conversation_id: &str,
) -> Result<Vec<Member>, ChannelError> {
    let id = match target::parse(conversation_id) {
        Ok(Target::Conversation(id)) => id,
        _ => {
            return Err(ChannelError::InvalidTarget(format!(
                "`{conversation_id}` is not a conversation: use conversation:<id> or its number"
            )));
        }
    };
    with_api(core, ports, account, |account, client| {
        let scope = format!("{}/conversations.users", account.id);
        let users = retry::safe_call(ports, &scope, "conversations.users", || {
            client.conversations_users(&id)
        })?;
        Ok(users.into_iter().map(member).collect())
    })
}

/// The workspace.
pub fn space(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
) -> Result<SpaceInfo, ChannelError> {
    with_api(core, ports, account, |account, client| {
        let scope = format!("{}/spaces.info", account.id);
        let s = retry::safe_call(ports, &scope, "spaces.info", || client.spaces_info())?;
        Ok(SpaceInfo {
            id: s.id.0,
            name: s.name.unwrap_or_default(),
        })
    })
}

/// A query that is a whole e-mail address: one `users.find_by_email` instead of every page.
/// `None` when it is not one, or when KakaoWork knows no member signing in with it (another
/// of a member's e-mails may still match in the full list).
fn find_by_email(
    ports: &Ports<'_>,
    client: &Client<'_>,
    scope: &str,
    query: Option<&str>,
) -> Result<Option<User>, ChannelError> {
    let Some(Ok(Target::Email(addr))) = query
        .filter(|q| q.contains('@'))
        .map(|q| target::parse(&format!("email:{q}")))
    else {
        return Ok(None);
    };
    match client.users_find_by_email(&addr) {
        Ok(u) => Ok(Some(u)),
        Err(ApiError::Envelope(EnvelopeError::Api {
            code: ErrorCode::UserNotFound | ErrorCode::InvalidParameter,
            ..
        })) => Ok(None),
        // A transient failure gets the safe path's second try and backoff hint.
        Err(e) if retry::is_transient(&e) => {
            retry::safe_call(ports, scope, "users.find_by_email", || {
                client.users_find_by_email(&addr)
            })
            .map(Some)
        }
        Err(e) => Err(e.into()),
    }
}

/// The entries the query keeps (all without one), as the export's records.
fn keep<T, R>(
    all: Vec<T>,
    query: Option<&str>,
    matches: impl Fn(&T, &str) -> bool,
    record: impl Fn(T) -> R,
) -> Vec<R> {
    all.into_iter()
        .filter(|e| query.is_none_or(|q| matches(e, q)))
        .map(record)
        .collect()
}

/// Whether `field` contains `query` (given in lower case), ignoring ASCII case: names are
/// Korean (no case) or Latin; Unicode case tables would cost the component 14 KB.
fn contains(field: Option<&str>, query: &str) -> bool {
    field.is_some_and(|f| f.to_ascii_lowercase().contains(query))
}

fn user_matches(u: &User, q: &str) -> bool {
    u.id.as_str() == q
        || contains(u.name.as_deref(), q)
        || contains(u.display_name.as_deref(), q)
        || contains(u.nickname.as_deref(), q)
        || contains(u.email.as_deref(), q)
        || u.emails.iter().any(|e| contains(Some(e), q))
}

fn member(u: User) -> Member {
    Member {
        id: u.id.0,
        name: u
            .name
            .or_else(|| u.display_name.clone())
            .unwrap_or_default(),
        display_name: u.display_name,
        nickname: u.nickname,
        email: u.email,
        other_emails: u.emails,
        department: u.department,
        position: u.position,
        responsibility: u.responsibility,
        status: match u.status.as_deref() {
            Some("activated") => MemberStatus::Activated,
            Some("deactivated") => MemberStatus::Deactivated,
            _ => MemberStatus::Unknown,
        },
    }
}

fn conversation(c: Conversation) -> ConversationInfo {
    ConversationInfo {
        id: c.id.0,
        chat_type: if c.kind.as_deref() == Some("dm") {
            ChatType::Direct
        } else {
            ChatType::Group
        },
        name: c.name,
        members_count: c.users_count.unwrap_or(0).min(u32::MAX as u64) as u32,
    }
}

fn department(d: Department) -> DepartmentInfo {
    let clamp = |n: u64| n.min(u32::MAX as u64) as u32;
    DepartmentInfo {
        id: d.id.0,
        name: d.name,
        code: d.code,
        parent_id: d.parent_id.map(|p| p.0),
        depth: clamp(d.depth),
        ids_path: d.ids_path,
        member_count: clamp(d.user_count),
        member_ids: d.users_ids.into_iter().map(|i| i.0).collect(),
        leader_ids: d.leader_ids.into_iter().map(|i| i.0).collect(),
    }
}

#[cfg(test)]
mod tests;
