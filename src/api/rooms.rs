//! What a conversation is: a DM with one user, or a group. It comes from KakaoWork's own
//! answers, never from how a target was written: a message sent to `conversation:<id>` of a DM
//! is that DM's, so every turn of it follows the DM rules and lands in the user's session.
//!
//! Known from `conversations.open` for what the plugin opens; for an id it has not seen, from
//! the bot's conversation list (every page, against the rate budget) and, for a DM, its
//! members. Kept in this instance and in KV.

use crate::api::client::Client;
use crate::api::retry;
use crate::contract::ports::Ports;
use crate::model::error::ChannelError;
use crate::state::keys;
use crate::state::memo::Memo;
pub use crate::state::room::Room;

fn memo_key(account: &str, conversation: &str) -> String {
    crate::model::text::concat(&[account, "\n", conversation])
}

/// Records what KakaoWork said a conversation is (an `open` answer). Best effort: a KV failure
/// only costs a lookup later.
pub fn remember(ports: &Ports<'_>, memo: &Memo, account: &str, conversation: &str, room: Room) {
    let _ = ports.kv.set(
        &keys::room(account, conversation),
        room.encode().as_bytes(),
        Some(keys::ROOM_TTL_MS),
    );
    memo.rooms.put(memo_key(account, conversation), room);
}

/// What `conversation` is: as this instance or KV knows it, else as KakaoWork lists it.
pub fn resolve(
    ports: &Ports<'_>,
    memo: &Memo,
    client: &Client<'_>,
    account: &str,
    conversation: &str,
) -> Result<Room, ChannelError> {
    let mkey = memo_key(account, conversation);
    if let Some(room) = memo.rooms.get(mkey.as_str()) {
        return Ok(room);
    }
    let kkey = keys::room(account, conversation);
    if let Some(room) = ports.kv.get(&kkey)?.as_deref().and_then(Room::decode) {
        memo.rooms.put(mkey, room.clone());
        return Ok(room);
    }
    let listed = crate::api::directory::list(ports, memo, account, "conversations.list", |p| {
        client.conversations_list(p)
    });
    let listed = match listed {
        Ok(all) => all,
        // The list refused for good (a 4xx, an unreadable answer, too many pages): the
        // group reading, for this instance only, so that the message still goes out.
        Err(ChannelError::Api(_) | ChannelError::InvalidResponse(_) | ChannelError::Other(_)) => {
            memo.rooms.put(mkey, Room::Group);
            return Ok(Room::Group);
        }
        // Budget spent, KakaoWork briefly away, a wrong key: the send reports it as it is.
        Err(e) => return Err(e),
    };
    let found = listed.into_iter().find(|c| c.id.as_str() == conversation);
    let (room, ttl) = match found {
        Some(c) if c.kind.as_deref() == Some("dm") => {
            let scope =
                crate::model::text::concat(&[account, "/conversations.users/", conversation]);
            let members = retry::safe_call(ports, &scope, "conversations.users", || {
                client.conversations_users(conversation)
            });
            let user = match members {
                // The one member besides the bot; KakaoWork lists the bot in no answer seen.
                Ok(m) if m.len() == 1 => m.into_iter().next().map(|u| u.id.0).unwrap_or_default(),
                Ok(_) | Err(ChannelError::Api(_)) => String::new(),
                Err(e) => return Err(e),
            };
            (Room::Dm { user }, keys::ROOM_TTL_MS)
        }
        Some(_) => (Room::Group, keys::ROOM_TTL_MS),
        None => (Room::Group, keys::ROOM_UNLISTED_TTL_MS),
    };
    let _ = ports.kv.set(&kkey, room.encode().as_bytes(), Some(ttl));
    memo.rooms.put(mkey, room.clone());
    Ok(room)
}

/// A room as a test's KV holds it before the test begins.
#[cfg(test)]
pub(crate) fn preset(
    kv: &dyn crate::contract::ports::Kv,
    account: &str,
    conversation: &str,
    room: &Room,
) {
    kv.set(
        &keys::room(account, conversation),
        room.encode().as_bytes(),
        None,
    )
    .unwrap();
}

#[cfg(test)]
mod tests;
