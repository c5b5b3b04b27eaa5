//! What one instance remembers between calls, so that a warm `send` does not read from KV what
//! cannot have changed since it last looked: each account's signing key (made once, never
//! replaced), the budget's key (the workspace; looked up again every hour), users' DM
//! conversations, whether an account has authentication failures on record, and the limiter's
//! hints. Shared state stays in KV; this only saves reads of it, and `configure` starts afresh.

use std::cell::RefCell;
use std::rc::Rc;

use crate::binding::Keys;
use crate::limiter;

/// How long the budget's key is trusted before KV is asked again.
pub const BUDGET_KEY_MS: u64 = 3600 * 1000;
/// Users whose DM conversation is remembered (the oldest go first).
const DM_ENTRIES: usize = 256;

#[derive(Default)]
pub struct Memo {
    pub(crate) limiter: limiter::Hints,
    signing: RefCell<Vec<(String, Rc<Keys>)>>,
    /// (account, budget key, trusted until).
    budget: RefCell<Vec<(String, String, u64)>>,
    /// ((account, user), conversation).
    dms: RefCell<Vec<((String, String), String)>>,
    /// Accounts known to have no authentication failure on record.
    auth_clear: RefCell<Vec<String>>,
}

impl Memo {
    /// The account's signing key, read (or made) by `load` the first time only.
    pub fn signing_key<E>(
        &self,
        account: &str,
        load: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Rc<Keys>, E> {
        if let Some((_, k)) = self.signing.borrow().iter().find(|(a, _)| a == account) {
            return Ok(k.clone());
        }
        let keys = Rc::new(Keys::new(&load()?));
        self.signing
            .borrow_mut()
            .push((account.to_owned(), keys.clone()));
        Ok(keys)
    }

    pub fn budget_key(&self, account: &str, now: u64) -> Option<String> {
        self.budget
            .borrow()
            .iter()
            .find(|(a, _, until)| a == account && now < *until)
            .map(|(_, k, _)| k.clone())
    }

    pub fn set_budget_key(&self, account: &str, key: &str, until: u64) {
        let mut b = self.budget.borrow_mut();
        b.retain(|(a, _, _)| a != account);
        b.push((account.to_owned(), key.to_owned(), until));
    }

    pub fn dm(&self, account: &str, user: &str) -> Option<String> {
        self.dms
            .borrow()
            .iter()
            .find(|((a, u), _)| a == account && u == user)
            .map(|(_, c)| c.clone())
    }

    pub fn set_dm(&self, account: &str, user: &str, conversation: Option<&str>) {
        let mut d = self.dms.borrow_mut();
        d.retain(|((a, u), _)| !(a == account && u == user));
        if let Some(c) = conversation {
            if d.len() >= DM_ENTRIES {
                d.remove(0);
            }
            d.push(((account.to_owned(), user.to_owned()), c.to_owned()));
        }
    }

    pub fn auth_clear(&self, account: &str) -> bool {
        self.auth_clear.borrow().iter().any(|a| a == account)
    }

    pub fn set_auth_clear(&self, account: &str, clear: bool) {
        let mut c = self.auth_clear.borrow_mut();
        c.retain(|a| a != account);
        if clear {
            c.push(account.to_owned());
        }
    }
}
