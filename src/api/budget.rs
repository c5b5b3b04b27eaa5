//! The rate budget of an account's calls: the limiter at the gate of every API call, and the
//! key of the budget (the workspace, found with `spaces.info` and cached, else the account).

use std::cell::Cell;

use crate::api::client::{ApiError, Client, Gate};
use crate::api::retry;
use crate::contract::ports::{HttpResponse, Ports};
use crate::model::config::Account;
use crate::model::envelope;
use crate::model::error::ChannelError;
use crate::state::limiter::{self, Decision, Limiter};
use crate::state::memo::{self, Memo};

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
    /// When the gate last checked a request (none before the first).
    asked_at: Cell<Option<u64>>,
}

impl Gate for LimitGate<'_> {
    fn before(&self) -> Result<(), ApiError> {
        let now = self.ports.clock.now_ms();
        self.asked_at.set(Some(now));
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
        let limit = resp.header(envelope::RATE_LIMIT_LIMIT);
        // The limit on record, repeated by nearly every answer, needs no clock read: the time
        // taken before the request will do.
        if resp.status != 429
            && let Some(asked_at) = self.asked_at.get()
            && matches!(self.limiter.limit_is_known(limit, asked_at), Ok(true))
        {
            return;
        }
        // Best effort: a KV hiccup here must not turn a delivered message into an error.
        let now = self.ports.clock.now_ms();
        let _ = self.limiter.observe_limit(limit, now);
        if resp.status == 429 {
            let retry = envelope::retry_after_ms(resp);
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
            asked_at: Cell::new(None),
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
    let cache = crate::state::keys::workspace(&account.id);
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
            ports.kv.set(
                &cache,
                key.as_bytes(),
                Some(crate::state::keys::WORKSPACE_TTL_MS),
            )?;
            // spaces.info was paid from the account's budget; count it in the shared one.
            Limiter::with_hints(ports.kv, &key, account.rate_limit, &memo.limiter)
                .charge(ports.clock.now_ms())?;
            remember(&key, crate::state::keys::WORKSPACE_TTL_MS);
            Ok(key)
        }
        Err(ChannelError::Api(_)) => {
            // No workspace id to be had (e.g. the bot may not read spaces.info): the
            // account is its own budget; ask again in an hour.
            ports.kv.set(
                &cache,
                own.as_bytes(),
                Some(crate::state::keys::OWN_BUDGET_TTL_MS),
            )?;
            remember(&own, crate::state::keys::OWN_BUDGET_TTL_MS);
            Ok(own.clone())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ports::Clock;
    use crate::fakes::ScriptedHttp;
    use crate::testkit::{World, default_channel};

    /// The world's clock, counting its reads.
    struct Counting<'a>(&'a dyn Clock, Cell<u32>);

    impl Clock for Counting<'_> {
        fn now_ms(&self) -> u64 {
            self.1.set(self.1.get() + 1);
            self.0.now_ms()
        }
    }

    fn answer(status: u16, limit: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("RateLimit-Limit".into(), limit.into())],
            body: vec![],
        }
    }

    /// Runs `f` on a gate of the default account whose clock counts its reads, after a first
    /// answer reported a limit of 100.
    fn on_a_gate<R>(f: impl FnOnce(&LimitGate<'_>, &Counting<'_>) -> R) -> R {
        let ch = default_channel();
        let (account, _) = ch.core().account(None).unwrap();
        let w = World::new();
        let http = ScriptedHttp::new(vec![]);
        let clock = Counting(&w.clock, Cell::new(0));
        let mut ports = w.ports(&http);
        ports.clock = &clock;
        let memo = Memo::default();
        let gate = LimitGate::new(&ports, &memo, "ws:1", account);
        gate.after(&answer(200, "100"));
        f(&gate, &clock)
    }

    /// The clock reads of the gate's look at an answer (`status`, `limit`) to a second request
    /// (its check before skipped when `checked` is false); then the budget in force.
    fn reads_after(checked: bool, status: u16, limit: &str) -> (u32, u32) {
        on_a_gate(|gate, clock| {
            if checked {
                gate.before().unwrap();
            }
            let before = clock.1.get();
            gate.after(&answer(status, limit));
            let reads = clock.1.get() - before;
            (reads, gate.limiter.budget(clock.0.now_ms()).unwrap())
        })
    }

    #[test]
    fn an_answer_repeating_the_known_limit_needs_no_clock_read() {
        assert_eq!(reads_after(true, 200, "100"), (0, 100));
        assert_eq!(reads_after(true, 200, " 100"), (0, 100));
        // A change is written at the time the answer came.
        assert_eq!(reads_after(true, 200, "90"), (1, 90));
        assert_eq!(reads_after(true, 429, "100"), (1, 100));
        // Without a check before, the gate has no earlier time to use.
        assert_eq!(reads_after(false, 200, "100"), (1, 100));
    }

    #[test]
    fn a_429_answer_with_the_known_limit_still_blocks_the_budget() {
        let blocked = on_a_gate(|gate, clock| {
            gate.before().unwrap();
            let mut refused = answer(429, "100");
            refused.headers.push(("Retry-After".into(), "30".into()));
            gate.after(&refused);
            gate.limiter.blocked_for(clock.0.now_ms()).unwrap()
        });
        assert!((30_000..=31_000).contains(&blocked), "{blocked}");
    }
}
