//! `moltbot:channel/pairing`: the host's pairing and allow stores (the host owns them; the
//! guest decides policy with what it reads here). Unknown senders get a code; an admin
//! approves it with `kakaowork-host pairing approve`, which moves the sender into the account's
//! allow store. Pending requests and approved users of one account live in one KV record
//! updated by compare-and-swap, so an approval is a single atomic step: there is no moment
//! where the user is neither pending nor allowed, and concurrent changes never lose one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bindings::moltbot::channel::pairing::{Challenge, Error as WitError, Host};
use crate::runtime::clock::Clock;
use crate::runtime::kv::KvStore;

/// A source of secure random numbers (the OS's; a seeded one in tests).
pub trait Random {
    fn next_u64(&self) -> u64;
}

/// The operating system's generator.
pub struct OsRandom;

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the operating system's random generator failed");
        u64::from_le_bytes(b)
    }
}

/// 32 symbols: A-Z and 2-9 without 0, O, 1 and I. 32 divides 256, so `byte % 32` is uniform.
pub const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 8;
pub const PENDING_TTL_MS: u64 = 3600 * 1000;
pub const MAX_PENDING: usize = 3;
const CAS_ATTEMPTS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub user_id: String,
    pub code: String,
    pub created_ms: u64,
    pub last_seen_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub pending: Vec<Pending>,
    pub allowed: Vec<String>,
}

impl Store {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn prune(&mut self, now: u64) {
        self.pending.retain(|p| now < p.created_ms + PENDING_TTL_MS);
    }
}

#[derive(Debug, Clone, Error)]
pub enum PairingError {
    #[error("the pairing store is unavailable: {0:?}")]
    Kv(crate::bindings::moltbot::channel::kv::Error),
    #[error("the pairing store of account `{0}` is unreadable: {1}")]
    Corrupt(String, String),
    #[error(
        "no pending pairing request matches `{0}` (codes expire after one hour; list the pending requests to see the current ones)"
    )]
    NotFound(String),
    #[error("the pairing store keeps changing; try again")]
    Contended,
}

/// What an unknown sender gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    /// A code: `created` is false when the sender already had it (do not tell them again).
    Code { code: String, created: bool },
    /// The account already has the maximum of pending requests.
    Full,
}

pub fn store_key(account: &str) -> String {
    format!("pair/v1/{account}")
}

/// An 8-character code from secure randomness.
pub fn new_code(random: &dyn Random) -> String {
    let mut code = String::with_capacity(CODE_LEN);
    let mut bits = random.next_u64();
    for _ in 0..CODE_LEN {
        code.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    code
}

pub fn normalize_code(input: &str) -> String {
    input.trim().to_ascii_uppercase()
}

pub struct Pairing<'a> {
    kv: &'a dyn KvStore,
    account: String,
}

impl<'a> Pairing<'a> {
    pub fn new(kv: &'a dyn KvStore, account: &str) -> Self {
        Self {
            kv,
            account: account.to_owned(),
        }
    }

    fn load(&self, now: u64) -> Result<(Option<Vec<u8>>, Store), PairingError> {
        let raw = self
            .kv
            .get(&store_key(&self.account), now)
            .map_err(PairingError::Kv)?;
        let store = match &raw {
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| PairingError::Corrupt(self.account.clone(), e.to_string()))?,
            None => Store::default(),
        };
        Ok((raw, store))
    }

    /// Apply `change` atomically; `change` returns its result or an error (nothing written).
    fn update<T>(
        &self,
        now: u64,
        mut change: impl FnMut(&mut Store) -> Result<T, PairingError>,
    ) -> Result<T, PairingError> {
        for _ in 0..CAS_ATTEMPTS {
            let (raw, mut store) = self.load(now)?;
            store.prune(now);
            let result = change(&mut store)?;
            let bytes = store.encode();
            if raw.as_deref() == Some(bytes.as_slice()) {
                return Ok(result);
            }
            if self
                .kv
                .compare_and_swap(
                    &store_key(&self.account),
                    raw.as_deref(),
                    Some(&bytes),
                    None,
                    now,
                )
                .map_err(PairingError::Kv)?
            {
                return Ok(result);
            }
        }
        Err(PairingError::Contended)
    }

    /// The current state (expired requests left out).
    pub fn snapshot(&self, now: u64) -> Result<Store, PairingError> {
        let (_, mut store) = self.load(now)?;
        store.prune(now);
        Ok(store)
    }

    pub fn is_allowed(&self, now: u64, user_id: &str) -> Result<bool, PairingError> {
        Ok(self.load(now)?.1.allowed.iter().any(|u| u == user_id))
    }

    /// Record a request from an unknown sender, or find theirs.
    pub fn upsert(
        &self,
        now: u64,
        user_id: &str,
        random: &dyn Random,
    ) -> Result<Upsert, PairingError> {
        self.update(now, |store| {
            if let Some(p) = store.pending.iter_mut().find(|p| p.user_id == user_id) {
                p.last_seen_ms = now;
                return Ok(Upsert::Code {
                    code: p.code.clone(),
                    created: false,
                });
            }
            if store.pending.len() >= MAX_PENDING {
                return Ok(Upsert::Full);
            }
            let mut code = new_code(random);
            for _ in 0..500 {
                if store.pending.iter().all(|p| p.code != code) {
                    break;
                }
                code = new_code(random);
            }
            store.pending.push(Pending {
                user_id: user_id.to_owned(),
                code: code.clone(),
                created_ms: now,
                last_seen_ms: now,
            });
            Ok(Upsert::Code {
                code,
                created: true,
            })
        })
    }

    /// Approve by code (any case) or by the user id of a pending request. Returns the request.
    pub fn approve(&self, now: u64, code_or_user: &str) -> Result<Pending, PairingError> {
        self.take(now, code_or_user, true)
    }

    /// Drop a pending request by code (any case) or user id.
    pub fn reject(&self, now: u64, code_or_user: &str) -> Result<Pending, PairingError> {
        self.take(now, code_or_user, false)
    }

    /// Remove a pending request, moving its user to the allow store when `allow`.
    fn take(&self, now: u64, code_or_user: &str, allow: bool) -> Result<Pending, PairingError> {
        let wanted = code_or_user.trim();
        let code = normalize_code(wanted);
        let user = kakaowork_channel::model::config::normalize_allow_entry(wanted);
        self.update(now, |store| {
            let idx = store
                .pending
                .iter()
                .position(|p| p.code == code || p.user_id == user)
                .ok_or_else(|| PairingError::NotFound(wanted.to_owned()))?;
            let p = store.pending.remove(idx);
            if allow && !store.allowed.contains(&p.user_id) {
                store.allowed.push(p.user_id.clone());
            }
            Ok(p)
        })
    }
}

/// Per-store state of the `pairing` interface: the host's store over its KV.
pub struct PairingState {
    pub store: Arc<dyn KvStore>,
    pub clock: Clock,
}

fn unavailable(e: PairingError) -> WitError {
    match e {
        PairingError::Kv(_) | PairingError::Contended => WitError::Unavailable(e.to_string()),
        other => WitError::Other(other.to_string()),
    }
}

impl Host for PairingState {
    fn read_allow_from(&mut self, account: String) -> Result<Vec<String>, WitError> {
        Pairing::new(&*self.store, &account)
            .snapshot(self.clock.now_ms())
            .map(|s| s.allowed)
            .map_err(unavailable)
    }

    fn upsert_request(
        &mut self,
        account: String,
        sender_id: String,
    ) -> Result<Option<Challenge>, WitError> {
        let upsert = Pairing::new(&*self.store, &account)
            .upsert(self.clock.now_ms(), &sender_id, &OsRandom)
            .map_err(unavailable)?;
        Ok(match upsert {
            // host-test has no text of its own: the guest writes the reply.
            Upsert::Code { code, created } => Some(Challenge {
                code,
                created,
                reply: None,
            }),
            Upsert::Full => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::kv::MemoryKv;
    use std::cell::Cell;

    /// A deterministic generator (splitmix64), so the statistical tests cannot flake.
    struct SeqRandom(Cell<u64>);

    impl Random for SeqRandom {
        fn next_u64(&self) -> u64 {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    const HOUR: u64 = PENDING_TTL_MS;

    fn rng() -> SeqRandom {
        SeqRandom(Cell::new(42))
    }

    fn code(u: Upsert) -> (String, bool) {
        match u {
            Upsert::Code { code, created } => (code, created),
            Upsert::Full => panic!("full"),
        }
    }

    #[test]
    fn codes_use_the_alphabet_and_length() {
        let r = rng();
        for _ in 0..1000 {
            let c = new_code(&r);
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
            assert!(!c.contains(['0', 'O', '1', 'I']));
        }
    }

    #[test]
    fn codes_are_uniform_over_the_alphabet() {
        // Chi-square over 32 symbols (31 degrees of freedom): the 99.9% quantile is 61.1.
        let r = rng();
        let mut counts = [0u64; 32];
        let draws = 20_000;
        for _ in 0..draws {
            for b in new_code(&r).bytes() {
                counts[ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
            }
        }
        let expected = (draws * CODE_LEN) as f64 / 32.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 61.1, "chi-square {chi2:.1} over {counts:?}");
        // Every position is uniform too.
        for pos in 0..CODE_LEN {
            let mut per = [0u64; 32];
            for _ in 0..8000 {
                let c = new_code(&r);
                per[ALPHABET
                    .iter()
                    .position(|a| *a == c.as_bytes()[pos])
                    .unwrap()] += 1;
            }
            let e = 8000.0 / 32.0;
            let chi2: f64 = per.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
            assert!(chi2 < 61.1, "position {pos}: chi-square {chi2:.1}");
        }
    }

    #[test]
    fn same_sender_keeps_the_code_and_is_told_once() {
        let kv = MemoryKv::default();
        let p = Pairing::new(&kv, "a");
        let (c1, created1) = code(p.upsert(0, "u1", &rng()).unwrap());
        let (c2, created2) = code(p.upsert(1000, "u1", &rng()).unwrap());
        assert_eq!(c1, c2);
        assert!(created1 && !created2);
    }

    #[test]
    fn cap_of_three_pending_and_expiry_at_one_hour() {
        let kv = MemoryKv::default();
        let p = Pairing::new(&kv, "a");
        let r = rng();
        for u in ["u1", "u2", "u3"] {
            assert!(code(p.upsert(0, u, &r).unwrap()).1);
        }
        assert_eq!(p.upsert(0, "u4", &r).unwrap(), Upsert::Full);
        // One frees (approved): the fourth gets a code.
        p.approve(10, "u2").unwrap();
        assert!(code(p.upsert(20, "u4", &r).unwrap()).1);
        assert_eq!(p.upsert(30, "u5", &r).unwrap(), Upsert::Full);
        // Requests expire one hour after creation, not after last being seen.
        p.upsert(HOUR - 1, "u1", &r).unwrap();
        let (_, created) = code(p.upsert(HOUR, "u5", &r).unwrap());
        assert!(created, "u1 and u3 expired at one hour");
        let snap = p.snapshot(HOUR).unwrap();
        let users: Vec<_> = snap.pending.iter().map(|q| q.user_id.as_str()).collect();
        assert_eq!(users, ["u4", "u5"]);
        // An expired code cannot be approved and changes nothing.
        let before = kv.get(&store_key("a"), HOUR).unwrap();
        assert!(matches!(
            p.approve(HOUR, "u3"),
            Err(PairingError::NotFound(_))
        ));
        assert_eq!(kv.get(&store_key("a"), HOUR).unwrap(), before);
    }

    #[test]
    fn approve_by_code_in_any_case_or_by_user_id() {
        let kv = MemoryKv::default();
        let p = Pairing::new(&kv, "a");
        let r = rng();
        let (c1, _) = code(p.upsert(0, "111", &r).unwrap());
        code(p.upsert(0, "222", &r).unwrap());
        let approved = p
            .approve(5, &format!("  {}  ", c1.to_ascii_lowercase()))
            .unwrap();
        assert_eq!(approved.user_id, "111");
        p.approve(5, "kakao:222").unwrap();
        let snap = p.snapshot(5).unwrap();
        assert!(snap.pending.is_empty());
        assert_eq!(snap.allowed, ["111", "222"]);
        assert!(p.is_allowed(5, "111").unwrap());
        // Approved users are not pending again, and unknown codes change nothing.
        let err = p.approve(6, "ZZZZZZZZ").unwrap_err();
        assert!(err.to_string().contains("ZZZZZZZZ"));
    }

    #[test]
    fn reject_removes_only_the_request() {
        let kv = MemoryKv::default();
        let p = Pairing::new(&kv, "a");
        let (c, _) = code(p.upsert(0, "9", &rng()).unwrap());
        p.reject(1, &c).unwrap();
        let snap = p.snapshot(1).unwrap();
        assert!(snap.pending.is_empty() && snap.allowed.is_empty());
        assert!(matches!(p.reject(1, &c), Err(PairingError::NotFound(_))));
    }

    #[test]
    fn accounts_are_separate() {
        let kv = MemoryKv::default();
        let (c, _) = code(Pairing::new(&kv, "a").upsert(0, "u", &rng()).unwrap());
        assert!(matches!(
            Pairing::new(&kv, "b").approve(0, &c),
            Err(PairingError::NotFound(_))
        ));
    }
}
