//! Where a chunk goes: a user's DM (opened once, kept in the ledger and cached), a group (opened
//! once per message, written in the ledger before any part is claimed), a conversation as given
//! (what it is looked up), or none for an e-mail address.

use std::borrow::Cow;

use super::run::{Checked, Run, commit, load_error, placeholder, reread, same_message};
use crate::api::client::Client;
use crate::api::retry;
use crate::api::rooms::{self, Room};
use crate::contract::ports::Ports;
use crate::model::config::Account;
use crate::model::error::ChannelError;
use crate::model::target::Target;
use crate::state::ledger;
use crate::state::memo::Memo;

/// Where a chunk goes, or `Again` when the ledger must be looked at first.
pub(super) enum Route<'a> {
    To(Option<Cow<'a, str>>),
    Again,
}

/// The conversation the chunk goes to: a user's DM (opened once, kept in the ledger), a group
/// (opened once per message, in the ledger before any part is claimed), a conversation as
/// given (what it is looked up), or none for an e-mail address.
pub(super) fn route<'m>(
    ports: &Ports<'_>,
    memo: &Memo,
    msg: &'m Checked<'_>,
    run: &mut Run,
    client: &Client<'_>,
) -> Result<Route<'m>, ChannelError> {
    let account = msg.account;
    let conversation = match &msg.target {
        Target::User(user) => match &run.stored.ledger.conversation_id {
            Some(c) => Cow::Owned(c.clone()),
            None => {
                let scope = format!("{}/{}/conversations.open", account.id, msg.me.key);
                let c = open_dm(ports, memo, client, account, user, &scope)?;
                let mut next = run.stored.ledger.clone();
                next.conversation_id = Some(c.clone());
                let stored = std::mem::replace(&mut run.stored, placeholder());
                run.stored = commit(ports, &msg.lkey, &msg.me, stored, next)?;
                Cow::Owned(c)
            }
        },
        Target::Users(users) => {
            if run.stored.ledger.conversation_id.is_none()
                && run.stored.raw.is_none()
                && !run.ledger_checked
            {
                // A group is opened anew at every call: a resumed send must find the one its
                // ledger names before opening any.
                run.ledger_checked = true;
                if let Some(s) = ledger::load(ports.kv, &msg.lkey).map_err(load_error)? {
                    run.stored = same_message(s, &msg.me)?;
                    return Ok(Route::Again);
                }
            }
            match &run.stored.ledger.conversation_id {
                Some(c) => Cow::Owned(c.clone()),
                None => Cow::Owned(open_group(ports, memo, client, msg, run, users)?),
            }
        }
        Target::Conversation(c) => {
            if run.room.is_none() {
                run.room = Some(rooms::resolve(ports, memo, client, &account.id, c)?);
            }
            Cow::Borrowed(c.as_str())
        }
        Target::Email(_) => return Ok(Route::To(None)),
    };
    Ok(Route::To(Some(conversation)))
}

/// Opens the group of `users` and writes it in the ledger at once, even before any part is
/// claimed: a call deferred after the open must find this room, not open another. Another
/// instance's room wins if it wrote first.
fn open_group(
    ports: &Ports<'_>,
    memo: &Memo,
    client: &Client<'_>,
    msg: &Checked<'_>,
    run: &mut Run,
    users: &[String],
) -> Result<String, ChannelError> {
    // Not repeated on a transient failure: a second try could leave an empty room behind.
    let c = client.conversations_open_group(users)?.id.0;
    rooms::remember(ports, memo, &msg.account.id, &c, Room::Group);
    let mut next = run.stored.ledger.clone();
    next.conversation_id = Some(c.clone());
    run.stored = match ledger::swap(ports.kv, &msg.lkey, run.stored.raw.as_deref(), next)? {
        Ok(s) => s,
        Err(_) => reread(ports, &msg.lkey, &msg.me)?,
    };
    Ok(run.stored.ledger.conversation_id.clone().unwrap_or(c))
}

fn open_dm(
    ports: &Ports<'_>,
    memo: &Memo,
    client: &Client<'_>,
    account: &Account,
    user: &str,
    scope: &str,
) -> Result<String, ChannelError> {
    if let Some(c) = memo.dm(&account.id, user) {
        return Ok(c);
    }
    let key = crate::state::keys::dm(&account.id, user);
    // The cache only saves a request; a KV outage must not stop delivery.
    let dm = || Room::Dm {
        user: user.to_owned(),
    };
    if let Some(c) = ports
        .kv
        .get(&key)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
    {
        memo.set_dm(&account.id, user, Some(&c));
        // Once per instance and user: a DM opened by an earlier version has no room record.
        rooms::remember(ports, memo, &account.id, &c, dm());
        return Ok(c);
    }
    let conv = retry::safe_call(ports, scope, "conversations.open", || {
        client.conversations_open(user)
    })?;
    let _ = ports.kv.set(
        &key,
        conv.id.as_str().as_bytes(),
        Some(crate::state::keys::DM_TTL_MS),
    );
    memo.set_dm(&account.id, user, Some(conv.id.as_str()));
    rooms::remember(ports, memo, &account.id, conv.id.as_str(), dm());
    Ok(conv.id.0)
}
