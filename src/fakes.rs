//! In-memory stand-ins for the host, for native unit tests.

pub use crate::contract::ports::MemoryKv;

use std::cell::{Cell, RefCell};

use crate::contract::ports::{
    Challenge, Clock, Http, HttpError, HttpRequest, HttpResponse, PairingStore, PairingStoreError,
    Random,
};

/// Answers requests from a script, in order, and records what it was asked.
pub struct ScriptedHttp {
    answers: RefCell<Vec<Result<HttpResponse, HttpError>>>,
    seen: RefCell<Vec<HttpRequest>>,
}

impl ScriptedHttp {
    pub fn new(script: Vec<(u16, &str)>) -> Self {
        Self::from_results(
            script
                .into_iter()
                .map(|(status, body)| {
                    Ok(HttpResponse {
                        status,
                        headers: vec![],
                        body: body.as_bytes().to_vec(),
                    })
                })
                .collect(),
        )
    }
    pub fn failing(e: HttpError) -> Self {
        Self::from_results(vec![Err(e)])
    }
    pub fn from_results(mut answers: Vec<Result<HttpResponse, HttpError>>) -> Self {
        answers.reverse();
        Self {
            answers: RefCell::new(answers),
            seen: RefCell::new(vec![]),
        }
    }
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.seen.borrow().clone()
    }
}

impl Http for ScriptedHttp {
    fn send(&self, req: &HttpRequest) -> Result<HttpResponse, HttpError> {
        self.seen.borrow_mut().push(req.clone());
        self.answers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Err(HttpError::Other(format!("unscripted request {}", req.url))))
    }
}

pub struct FixedClock(pub Cell<u64>);

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// A deterministic generator (splitmix64) for tests.
pub struct SeqRandom(pub Cell<u64>);

impl Random for SeqRandom {
    fn next_u64(&self) -> u64 {
        let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.0.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The host's pairing store: codes `CODE0001`, `CODE0002`, ... per new sender, at most
/// `capacity` pending; `approve` moves a sender to the allow list as a host command would.
pub struct FakePairing {
    pub pending: RefCell<Vec<(String, String, String)>>,
    pub allowed: RefCell<Vec<(String, String)>>,
    pub capacity: usize,
    pub reply: Option<String>,
    pub fail: Cell<bool>,
}

impl Default for FakePairing {
    fn default() -> Self {
        Self {
            pending: RefCell::new(vec![]),
            allowed: RefCell::new(vec![]),
            capacity: 3,
            reply: None,
            fail: Cell::new(false),
        }
    }
}

impl FakePairing {
    pub fn approve(&self, account: &str, code: &str) {
        let mut pending = self.pending.borrow_mut();
        let i = pending
            .iter()
            .position(|(a, _, c)| a == account && c == code)
            .expect("no such pending code");
        let (a, user, _) = pending.remove(i);
        self.allowed.borrow_mut().push((a, user));
    }

    fn check(&self) -> Result<(), PairingStoreError> {
        if self.fail.get() {
            Err(PairingStoreError::Unavailable("test outage".into()))
        } else {
            Ok(())
        }
    }
}

impl PairingStore for FakePairing {
    fn read_allow_from(&self, account: &str) -> Result<Vec<String>, PairingStoreError> {
        self.check()?;
        Ok(self
            .allowed
            .borrow()
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, u)| u.clone())
            .collect())
    }

    fn upsert_request(
        &self,
        account: &str,
        sender: &str,
    ) -> Result<Option<Challenge>, PairingStoreError> {
        self.check()?;
        let mut pending = self.pending.borrow_mut();
        if let Some((_, _, code)) = pending.iter().find(|(a, u, _)| a == account && u == sender) {
            return Ok(Some(Challenge {
                code: code.clone(),
                created: false,
                reply: self.reply.clone(),
            }));
        }
        if pending.iter().filter(|(a, _, _)| a == account).count() >= self.capacity {
            return Ok(None);
        }
        let code = format!("CODE{:04}", pending.len() + self.allowed.borrow().len() + 1);
        pending.push((account.into(), sender.into(), code.clone()));
        Ok(Some(Challenge {
            code,
            created: true,
            reply: self.reply.clone(),
        }))
    }
}
