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

/// How late a caller may come back for its reserved slot; later, the slot has gone by unused
/// and it queues again.
const RESERVATION_GRACE_MS: u64 = 1000;

/// The limiter at the gate of every API call of one account.
pub(crate) struct LimitGate<'a> {
    pub(crate) limiter: Limiter<'a>,
    pub(crate) ports: &'a Ports<'a>,
    memo: &'a Memo,
    budget: &'a str,
    /// Who comes back for a reserved slot (a message's account and idempotency key); without
    /// it a caller that must wait is told when the next slot frees, and races for it.
    queue: Option<String>,
}

impl Gate for LimitGate<'_> {
    fn before(&self) -> Result<(), ApiError> {
        let now = self.ports.clock.now_ms();
        let Some(id) = &self.queue else {
            return match self.limiter.admit(now)? {
                Decision::Admit => Ok(()),
                Decision::Wait(ms) => Err(ApiError::Deferred(ms)),
                Decision::Reserved(at) => Err(ApiError::Deferred(at.saturating_sub(now))),
            };
        };
        if let Some(at) = self.memo.reservation(id, self.budget) {
            if now < at {
                return Err(ApiError::Deferred(at - now));
            }
            self.memo.drop_reservation(id);
            let blocked = self.limiter.blocked_for(now)?;
            if blocked > 0 {
                // KakaoWork answered 429 meanwhile: nobody goes before the block ends.
                return Err(ApiError::Deferred(blocked));
            }
            if now <= at + RESERVATION_GRACE_MS {
                return Ok(());
            }
        }
        match self.limiter.reserve(now)? {
            Decision::Admit => Ok(()),
            Decision::Reserved(at) => {
                self.memo.put_reservation(id, self.budget, at);
                Err(ApiError::Deferred(at - now))
            }
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
    pub(crate) fn new(
        ports: &'a Ports<'a>,
        memo: &'a Memo,
        key: &'a str,
        account: &Account,
    ) -> Self {
        Self {
            limiter: Limiter::with_hints(ports.kv, key, account.rate_limit, &memo.limiter),
            ports,
            memo,
            budget: key,
            queue: None,
        }
    }

    /// Waiting callers get slots of their own, kept under `id` until they come back.
    pub(crate) fn queued_as(mut self, id: String) -> Self {
        self.queue = Some(id);
        self
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
            Ok(own.clone())
        }
        Err(e) => Err(e),
    }
}
