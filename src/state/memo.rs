//! What one instance remembers between calls, so that a warm `send` does not read from KV what
//! cannot have changed since it last looked: each account's signing key (made once, never
//! replaced), the budget's key (the workspace; looked up again every hour), users' DM
//! conversations, whether an account has authentication failures on record, the limiter's
//! hints, and where an interrupted directory listing stopped. Shared state stays in KV; this
//! only saves reads of it (and pages asked twice), and `configure` starts afresh.

use std::any::Any;
use std::cell::Cell;
use std::rc::Rc;

use crate::state::binding::Keys;
use crate::state::room::Room;
use crate::state::table::Table;

/// How long the budget's key is trusted before KV is asked again.
pub const BUDGET_KEY_MS: u64 = 3600 * 1000;

pub struct Memo {
    /// Each budget's record as this instance last saw it (see `limiter::Limiter::with_hints`).
    pub(crate) limiter: crate::state::limiter::Hints,
    signing: Table<String, Rc<Keys>>,
    /// account -> the callback token the plugin made (see `callback::callback_token`).
    tokens: Table<String, Rc<str>>,
    /// account -> (budget key, trusted until).
    budget: Table<String, (String, u64)>,
    /// "account\nuser" -> conversation.
    dms: Table<String, String>,
    /// "account\nconversation" -> what it is (see [`Room`]).
    pub(crate) rooms: Table<String, Room>,
    /// account -> whether it is known to have no authentication failure on record.
    auth_clear: Table<String, bool>,
    /// "account\nlist" -> (when it stopped, its `pagination::Progress`).
    listings: Table<String, (u64, Rc<dyn Any>)>,
    /// A waiting message's slot: its id -> (budget key, when the slot begins).
    reservations: Table<String, (String, u64)>,
    /// The key and counter of this instance's message nonces (see [`Memo::nonce`]).
    nonces: Cell<Option<([u8; 16], u64)>>,
}

impl Default for Memo {
    fn default() -> Self {
        Self {
            limiter: Table::new(16),
            signing: Table::new(16),
            tokens: Table::new(16),
            budget: Table::new(16),
            dms: Table::new(256),
            rooms: Table::new(256),
            auth_clear: Table::new(16),
            listings: Table::new(4),
            reservations: Table::new(256),
            nonces: Cell::new(None),
        }
    }
}

fn dm_key(account: &str, user: &str) -> String {
    format!("{account}\n{user}")
}

impl Memo {
    /// The account's signing key, read (or made) by `load` the first time only.
    pub fn signing_key<E>(
        &self,
        account: &str,
        load: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Rc<Keys>, E> {
        if let Some(k) = self.signing.get(account) {
            return Ok(k);
        }
        let keys = Rc::new(Keys::new(&load()?));
        self.signing.put(account.to_owned(), keys.clone());
        Ok(keys)
    }

    /// The account's generated callback token, read (or made) by `load` the first time only.
    pub fn callback_token<E>(
        &self,
        account: &str,
        load: impl FnOnce() -> Result<String, E>,
    ) -> Result<Rc<str>, E> {
        if let Some(t) = self.tokens.get(account) {
            return Ok(t);
        }
        let t: Rc<str> = load()?.into();
        self.tokens.put(account.to_owned(), t.clone());
        Ok(t)
    }

    pub fn budget_key(&self, account: &str, now: u64) -> Option<String> {
        self.budget
            .get(account)
            .filter(|(_, until)| now < *until)
            .map(|(k, _)| k)
    }

    pub fn set_budget_key(&self, account: &str, key: &str, until: u64) {
        self.budget.put(account.to_owned(), (key.to_owned(), until));
    }

    pub fn dm(&self, account: &str, user: &str) -> Option<String> {
        self.dms.get(dm_key(account, user).as_str())
    }

    pub fn set_dm(&self, account: &str, user: &str, conversation: Option<&str>) {
        let key = dm_key(account, user);
        match conversation {
            Some(c) => self.dms.put(key, c.to_owned()),
            None => {
                self.dms.take(key.as_str());
            }
        }
    }

    /// When the slot reserved for `id` in `budget` begins, if it holds one.
    pub fn reservation(&self, id: &str, budget: &str) -> Option<u64> {
        self.reservations
            .get(id)
            .filter(|(b, _)| b == budget)
            .map(|(_, at)| at)
    }

    pub fn put_reservation(&self, id: &str, budget: &str, at: u64) {
        self.reservations
            .put(id.to_owned(), (budget.to_owned(), at));
    }

    pub fn drop_reservation(&self, id: &str) {
        self.reservations.take(id);
    }

    /// A message's nonce: SipHash, under a key drawn from the host's randomness once per
    /// instance, of a counter. Unique within an instance, unpredictable without the key, as a
    /// random draw per message would be, without a call to the host for each.
    pub fn nonce(&self, random: &dyn crate::contract::ports::Random) -> u64 {
        use std::hash::Hasher;
        let (key, n) = self.nonces.get().unwrap_or_else(|| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&random.next_u64().to_le_bytes());
            key[8..].copy_from_slice(&random.next_u64().to_le_bytes());
            (key, 0)
        });
        self.nonces.set(Some((key, n.wrapping_add(1))));
        let mut h = siphasher::sip::SipHasher13::new_with_key(&key);
        h.write_u64(n);
        h.finish()
    }

    pub fn auth_clear(&self, account: &str) -> bool {
        self.auth_clear.get(account).unwrap_or(false)
    }

    pub fn set_auth_clear(&self, account: &str, clear: bool) {
        self.auth_clear.put(account.to_owned(), clear);
    }

    /// The listing `key` where it stopped no longer ago than `fresh_ms`, handed over.
    pub fn take_listing<T: 'static>(&self, key: &str, now: u64, fresh_ms: u64) -> Option<T> {
        let (at, progress) = self.listings.take(key)?;
        if now >= at.saturating_add(fresh_ms) {
            return None;
        }
        Rc::try_unwrap(progress.downcast::<T>().ok()?).ok()
    }

    pub fn put_listing<T: 'static>(&self, key: &str, now: u64, progress: T) {
        self.listings
            .put(key.to_owned(), (now, Rc::new(progress) as Rc<dyn Any>));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_keeps_the_latest_value_and_drops_the_oldest_when_full() {
        let t: Table<String, u32> = Table::new(2);
        t.put("a".into(), 1);
        t.put("b".into(), 2);
        t.put("a".into(), 3);
        assert_eq!(t.get("a"), Some(3));
        t.put("c".into(), 4);
        assert_eq!(t.get("b"), None, "the oldest went");
        assert_eq!((t.get("a"), t.get("c")), (Some(3), Some(4)));
        assert_eq!(t.take("a"), Some(3));
        assert_eq!(t.get("a"), None);
    }

    #[test]
    fn nonces_are_unique_ask_the_host_once_and_differ_between_instances() {
        use crate::fakes::SeqRandom;
        let random = SeqRandom(std::cell::Cell::new(7));
        let (a, b) = (Memo::default(), Memo::default());
        let from_a: std::collections::HashSet<u64> =
            (0..10_000).map(|_| a.nonce(&random)).collect();
        assert_eq!(from_a.len(), 10_000, "no nonce twice in one instance");
        let drawn = random.0.get();
        a.nonce(&random);
        assert_eq!(
            random.0.get(),
            drawn,
            "the host's randomness is asked once per instance"
        );
        // Another instance draws another key: its nonces are not the first one's.
        let from_b: Vec<u64> = (0..100).map(|_| b.nonce(&random)).collect();
        assert!(from_b.iter().all(|n| !from_a.contains(n)));
    }
}
