//! The authentication-failure guard: after a few authentication failures in a row with one key,
//! calls for that account stop until its key changes (the host reports a non-secret key id).
//!
//! An instance that found nothing on record does not read the record again until it fails
//! itself: failures recorded by other instances cost it one more rejected request, not a KV
//! read on every call.

use crate::contract::ports::Ports;
use crate::model::config::Account;
use crate::model::envelope::ErrorCode;
use crate::model::error::{ApiFailure, ChannelError};
use crate::state::memo::Memo;

/// Authentication failures in a row (with one key) after which calls stop.
pub const AUTH_FAILURE_LIMIT: u32 = 3;

/// Stop calling with a key KakaoWork keeps rejecting; returns whether failures are on record.
pub(crate) fn check(
    ports: &Ports<'_>,
    memo: &Memo,
    account: &Account,
    key_id: Option<&str>,
) -> Result<bool, ChannelError> {
    if memo.auth_clear(&account.id) {
        return Ok(false);
    }
    let key = crate::state::keys::auth_failures(&account.id);
    let Some(raw) = ports.kv.get(&key)? else {
        memo.set_auth_clear(&account.id, true);
        return Ok(false);
    };
    let text = String::from_utf8_lossy(&raw);
    let (stored_id, count) = text.rsplit_once('|').unwrap_or(("", "0"));
    let count: u32 = count.parse().unwrap_or(0);
    if stored_id == key_id.unwrap_or("") && count >= AUTH_FAILURE_LIMIT {
        return Err(ChannelError::Authentication(ApiFailure {
            code: ErrorCode::InvalidAuthentication.as_str().into(),
            message: format!(
                "calls for account `{}` are stopped after {count} authentication failures in a row; \
                 fix its App Key (calls resume once the configured key changes)",
                account.id
            ),
            http_status: 401,
            retryable: false,
            retry_after_ms: None,
        }));
    }
    Ok(true)
}

pub(crate) fn record(
    ports: &Ports<'_>,
    memo: &Memo,
    account: &Account,
    key_id: Option<&str>,
    failed: bool,
    on_record: bool,
) {
    let key = || crate::state::keys::auth_failures(&account.id);
    if !failed {
        if on_record && ports.kv.delete(&key()).is_ok() {
            memo.set_auth_clear(&account.id, true);
        }
        return;
    }
    let key = key();
    memo.set_auth_clear(&account.id, false);
    let id = key_id.unwrap_or("");
    let count = ports
        .kv
        .get(&key)
        .ok()
        .flatten()
        .map(|raw| String::from_utf8_lossy(&raw).into_owned())
        .and_then(|t| {
            let (sid, c) = t.rsplit_once('|')?;
            (sid == id).then(|| c.parse::<u32>().ok()).flatten()
        })
        .unwrap_or(0);
    let _ = ports.kv.set(
        &key,
        format!("{id}|{}", count + 1).as_bytes(),
        Some(crate::state::keys::AUTH_FAILURE_TTL_MS),
    );
}
