//! Every KV key the guest reads or writes, and how long each lives: the one place a prefix is
//! spelled (`tests/layers.rs` fails on a key prefix anywhere else). Keys are versioned: a
//! change of a value's shape takes a new prefix, so old records are ignored, never misread.
//!
//! | prefix | value | TTL | writer |
//! |---|---|---|---|
//! | `ledger/v1/<account>/<idempotency key>` | the send's ledger: chunks and their states | 7 d | [`crate::state::ledger`] |
//! | `sent/v1/<account>/<message>` | where a sent message went, its button nonce, the bot | 30 d | send, [`crate::pipelines::inbound`] |
//! | `dm/v1/<account>/<user>` | the user's DM conversation id | 7 d | [`crate::pipelines::send`] |
//! | `room/v1/<account>/<conversation>` | `g` or `d\|<user>` | 30 d (1 h when unlisted) | [`crate::state::room`] |
//! | `rl/v2/<budget>` | the budget's GCRA record | while any part matters | [`crate::state::limiter`] |
//! | `ws/v1/<account>` | the account's budget key (`ws:<space>` or `acct:<account>`) | 24 h (1 h for `acct:`) | [`crate::api::budget`] |
//! | `retry/v1/<scope>` | transient failures counted for the backoff hint | 15 min | [`crate::api::retry`] |
//! | `authfail/v1/<account>` | `<key id>\|<failures in a row>` | 30 d | [`crate::api::auth_guard`] |
//! | `sigkey/v1/<account>` | 32 random bytes: the HMAC key of button values | none | [`crate::api::callback`] |
//! | `cbtoken/v1/<account>` | 64 hex digits: the callback token | none | [`crate::api::callback`] |
//! | `user/v1/<account>/<user>` | the user's display name | 1 h | [`crate::pipelines::inbound`] |
//! | `dedup/v1/<account>/<click>` | `1`: the click was used | 30 d | [`crate::pipelines::inbound`] |
//! | `modal/v1/<account>/<nonce>` | the message id a modal was opened from; consumed once | 24 h | [`crate::pipelines::inbound`] |
//! | `cbcount/v1/<account>/<message>` | callbacks the message has had | 30 d | [`crate::pipelines::inbound`] |
//!
//! The hosts keep their own keys outside these prefixes (the pairing store's `pair/v1/`,
//! `inbox/v1/`, `openclaw-host/`, `host/`).

use crate::model::text::concat;

const HOUR_MS: u64 = 3600 * 1000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// A send's ledger lives a week: a retry with the same idempotency key within it is one send.
pub const LEDGER_TTL_MS: u64 = 7 * DAY_MS;
/// How long the plugin remembers that it sent a message (its buttons stay clickable), and
/// how long a click and a message's callback count are kept.
pub const SENT_TTL_MS: u64 = 30 * DAY_MS;
/// How long a user's DM conversation id stays cached.
pub const DM_TTL_MS: u64 = 7 * DAY_MS;
/// A conversation's kind never changes; the record is refreshed at every open.
pub const ROOM_TTL_MS: u64 = 30 * DAY_MS;
/// An id missing from the bot's list is taken for a group, and looked up again after this.
pub const ROOM_UNLISTED_TTL_MS: u64 = HOUR_MS;
/// The workspace a budget belongs to, looked up again daily.
pub const WORKSPACE_TTL_MS: u64 = DAY_MS;
/// An account that is its own budget (no `spaces.info`) asks again after this.
pub const OWN_BUDGET_TTL_MS: u64 = HOUR_MS;
/// Transient failures are counted over this window.
pub const RETRY_COUNT_TTL_MS: u64 = 15 * 60 * 1000;
/// Authentication failures in a row are forgotten after this.
pub const AUTH_FAILURE_TTL_MS: u64 = 30 * DAY_MS;
/// A sender's display name is looked up again after this.
pub const USER_NAME_TTL_MS: u64 = HOUR_MS;
/// An opened modal takes its one submission within this.
pub const MODAL_TTL_MS: u64 = DAY_MS;

pub fn ledger(account: &str, idempotency_key: &str) -> String {
    concat(&["ledger/v1/", account, "/", idempotency_key])
}

pub fn sent(account: &str, message_id: &str) -> String {
    concat(&["sent/v1/", account, "/", message_id])
}

pub fn dm(account: &str, user: &str) -> String {
    concat(&["dm/v1/", account, "/", user])
}

pub fn room(account: &str, conversation: &str) -> String {
    concat(&["room/v1/", account, "/", conversation])
}

pub fn rate_limit(budget: &str) -> String {
    concat(&["rl/v2/", budget])
}

pub fn workspace(account: &str) -> String {
    concat(&["ws/v1/", account])
}

pub fn retry_count(scope: &str) -> String {
    concat(&["retry/v1/", scope])
}

pub fn auth_failures(account: &str) -> String {
    concat(&["authfail/v1/", account])
}

pub fn signing_key(account: &str) -> String {
    concat(&["sigkey/v1/", account])
}

pub fn callback_token(account: &str) -> String {
    concat(&["cbtoken/v1/", account])
}

pub fn user_name(account: &str, user: &str) -> String {
    concat(&["user/v1/", account, "/", user])
}

pub fn click(account: &str, fingerprint: &str) -> String {
    concat(&["dedup/v1/", account, "/", fingerprint])
}

pub fn modal(account: &str, nonce: &str) -> String {
    concat(&["modal/v1/", account, "/", nonce])
}

pub fn callback_count(account: &str, message_id: &str) -> String {
    concat(&["cbcount/v1/", account, "/", message_id])
}
