//! The rate budget of an account's calls: the limiter at the gate of every API call, and the
//! key of the budget (the workspace, found with `spaces.info` and cached, else the account).

use crate::api::{ApiError, Client, Gate};
use crate::config::Account;
use crate::error::ChannelError;
use crate::limiter::{self, Decision, Limiter};
use crate::memo::{self, Memo};
use crate::ports::{HttpResponse, Ports};
use crate::retry;

/// How long the workspace id (the rate budget's key) stays cached.
const WORKSPACE_TTL_MS: u64 = 24 * 3600 * 1000;

/// The limiter at the gate of every API call of one account.
pub(crate) struct LimitGate<'a> {
    pub(crate) limiter: Limiter<'a>,
    pub(crate) ports: &'a Ports<'a>,
}

impl Gate for LimitGate<'_> {
    fn before(&self) -> Result<(), ApiError> {
        match self.limiter.admit(self.ports.clock.now_ms())? {
            Decision::Admit => Ok(()),
            Decision::Wait(ms) => Err(ApiError::Deferred(ms)),
        }
    }

    fn after(&self, resp: &HttpResponse) {
        // Best effort: a KV hiccup here must not turn a delivered message into an error.
        let now = self.ports.clock.now_ms();
        let _ = self
            .limiter
            .observe_limit(resp.header("ratelimit-limit"), now);
        if resp.status == 429 {
            let retry = resp
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| s.saturating_mul(1000));
            let wait = limiter::retry_after_block(retry, self.ports.random.next_u64());
            let _ = self.limiter.block_until(now, now + wait);
        }
    }
}

impl<'a> LimitGate<'a> {
    /// The gate of budget `key`, starting from what this instance last saw of its record.
    pub(crate) fn new(ports: &'a Ports<'a>, memo: &'a Memo, key: &str, account: &Account) -> Self {
        Self {
            limiter: Limiter::with_hints(ports.kv, key, account.rate_limit, &memo.limiter),
            ports,
        }
    }
}

/// A gate whose admission was already granted: it only observes the answer.
pub(crate) struct Admitted<'a>(pub(crate) &'a LimitGate<'a>);

impl Gate for Admitted<'_> {
    fn before(&self) -> Result<(), ApiError> {
        Ok(())
    }
    fn after(&self, resp: &HttpResponse) {
        self.0.after(resp);
    }
}

/// The rate budget's key: the workspace (from `spaces.info`, cached), else the account.
pub(crate) fn key(
    ports: &Ports<'_>,
    memo: &Memo,
    account: &Account,
    now: u64,
) -> Result<String, ChannelError> {
    if let Some(k) = memo.budget_key(&account.id, now) {
        return Ok(k);
    }
    let remember = |k: &str, ttl: u64| {
        memo.set_budget_key(&account.id, k, now + ttl.min(memo::BUDGET_KEY_MS));
    };
    let cache = format!("ws/v1/{}", account.id);
    if let Some(v) = ports.kv.get(&cache)? {
        let k = String::from_utf8_lossy(&v).into_owned();
        remember(&k, memo::BUDGET_KEY_MS);
        return Ok(k);
    }
    let own = format!("acct:{}", account.id);
    let gate = LimitGate::new(ports, memo, &own, account);
    let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
    let scope = format!("{}/spaces.info", account.id);
    match retry::safe_call(ports, &scope, "spaces.info", || client.spaces_info()) {
        Ok(space) => {
            let key = format!("ws:{}", space.id);
            ports
                .kv
                .set(&cache, key.as_bytes(), Some(WORKSPACE_TTL_MS))?;
            // spaces.info was paid from the account's budget; count it in the shared one.
            Limiter::with_hints(ports.kv, &key, account.rate_limit, &memo.limiter)
                .charge(ports.clock.now_ms())?;
            remember(&key, WORKSPACE_TTL_MS);
            Ok(key)
        }
        Err(ChannelError::Api(_)) => {
            // No workspace id to be had (e.g. the bot may not read spaces.info): the
            // account is its own budget; ask again in an hour.
            ports.kv.set(&cache, own.as_bytes(), Some(3600 * 1000))?;
            remember(&own, 3600 * 1000);
            Ok(own)
        }
        Err(e) => Err(e),
    }
}
