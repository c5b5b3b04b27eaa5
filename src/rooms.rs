//! What a conversation is: a DM with one user, or a group. It comes from KakaoWork's own
//! answers, never from how a target was written: a message sent to `conversation:<id>` of a DM
//! is that DM's, so every turn of it follows the DM rules and lands in the user's session.
//!
//! Known from `conversations.open` for what the plugin opens; for an id it has not seen, from
//! the bot's conversation list (every page, against the rate budget) and, for a DM, its
//! members. Kept in this instance and in KV.

use crate::api::Client;
use crate::error::ChannelError;
use crate::memo::Memo;
use crate::ports::Ports;
use crate::retry;

/// A conversation's kind never changes; the record is refreshed at every open.
const ROOM_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// An id missing from the bot's list is taken for a group, and looked up again after this.
const UNLISTED_TTL_MS: u64 = 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    /// A DM: its user, or empty when KakaoWork did not say who it is.
    Dm {
        user: String,
    },
    Group,
}

impl Room {
    pub fn is_group(&self) -> bool {
        matches!(self, Self::Group)
    }

    /// The DM's user; empty for a group or an unknown user.
    pub fn user(&self) -> &str {
        match self {
            Self::Dm { user } => user,
            Self::Group => "",
        }
    }

    fn encode(&self) -> String {
        match self {
            Self::Dm { user } => crate::text::concat(&["d|", user]),
            Self::Group => "g".to_owned(),
        }
    }

    fn decode(raw: &[u8]) -> Option<Self> {
        match std::str::from_utf8(raw).ok()? {
            "g" => Some(Self::Group),
            s => s.strip_prefix("d|").map(|user| Self::Dm {
                user: user.to_owned(),
            }),
        }
    }
}

pub fn key(account: &str, conversation: &str) -> String {
    crate::text::concat(&["room/v1/", account, "/", conversation])
}

fn memo_key(account: &str, conversation: &str) -> String {
    crate::text::concat(&[account, "\n", conversation])
}

/// Records what KakaoWork said a conversation is (an `open` answer). Best effort: a KV failure
/// only costs a lookup later.
pub fn remember(ports: &Ports<'_>, memo: &Memo, account: &str, conversation: &str, room: Room) {
    let _ = ports.kv.set(
        &key(account, conversation),
        room.encode().as_bytes(),
        Some(ROOM_TTL_MS),
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
    let kkey = key(account, conversation);
    if let Some(room) = ports.kv.get(&kkey)?.as_deref().and_then(Room::decode) {
        memo.rooms.put(mkey, room.clone());
        return Ok(room);
    }
    let listed = crate::directory::list(ports, memo, account, "conversations.list", |p| {
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
            let scope = crate::text::concat(&[account, "/conversations.users/", conversation]);
            let members = retry::safe_call(ports, &scope, "conversations.users", || {
                client.conversations_users(conversation)
            });
            let user = match members {
                // The one member besides the bot; KakaoWork lists the bot in no answer seen.
                Ok(m) if m.len() == 1 => m.into_iter().next().map(|u| u.id.0).unwrap_or_default(),
                Ok(_) | Err(ChannelError::Api(_)) => String::new(),
                Err(e) => return Err(e),
            };
            (Room::Dm { user }, ROOM_TTL_MS)
        }
        Some(_) => (Room::Group, ROOM_TTL_MS),
        None => (Room::Group, UNLISTED_TTL_MS),
    };
    let _ = ports.kv.set(&kkey, room.encode().as_bytes(), Some(ttl));
    memo.rooms.put(mkey, room.clone());
    Ok(room)
}

/// A room as a test's KV holds it before the test begins.
#[cfg(test)]
pub(crate) fn preset(kv: &dyn crate::ports::Kv, account: &str, conversation: &str, room: &Room) {
    kv.set(&key(account, conversation), room.encode().as_bytes(), None)
        .unwrap();
}

#[cfg(test)]
mod tests;
