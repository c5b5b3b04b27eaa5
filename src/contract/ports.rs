//! The guest's view of its host: small traits for HTTP, key-value storage, the pairing store,
//! the clock and randomness.
//!
//! The wasm glue implements them with the WIT imports; native unit tests use fakes. Keeping
//! the logic behind these traits is what lets it run (and be tested) outside wasm.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use thiserror::Error;

/// The `http` import's answer and method, as wit-bindgen generates them.
pub use crate::contract::wit::moltbot::channel::http::{Method, Response as HttpResponse};

/// A request for the `http` import. The guest's headers and the names of the answer's headers
/// it reads are fixed, so they are static: the glue lends everything to the host without a
/// copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: Option<Vec<u8>>,
    /// The account whose credential the host attaches.
    pub account: Option<String>,
    pub timeout_ms: Option<u32>,
    /// The answer's headers the guest reads; the host passes back only these.
    pub response_headers: &'static [&'static str],
}

impl HttpResponse {
    /// First header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HttpError {
    #[error("the host refused the request: {0}")]
    Denied(String),
    #[error("the request timed out")]
    Timeout,
    #[error("the response was larger than the host allows")]
    TooLarge,
    #[error("transport failure: {message}")]
    Transport {
        message: String,
        maybe_delivered: bool,
    },
    #[error("HTTP failure: {0}")]
    Other(String),
}

pub trait Http {
    fn send(&self, req: &HttpRequest) -> Result<HttpResponse, HttpError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvError {
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("value too large for the key-value store")]
    TooLarge,
    #[error("key-value store error: {0}")]
    Other(String),
}

pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), KvError>;
    fn delete(&self, key: &str) -> Result<(), KvError>;
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError>;
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, KvError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PairingStoreError {
    #[error("the host's pairing store is unavailable: {0}")]
    Unavailable(String),
    #[error("the host's pairing store failed: {0}")]
    Other(String),
}

/// A pending pairing request as the host's store answers it (the `pairing` import's record).
pub use crate::contract::wit::moltbot::channel::pairing::Challenge;

/// The host owns who is pending and who was approved; the guest only reads and asks.
pub trait PairingStore {
    fn read_allow_from(&self, account: &str) -> Result<Vec<String>, PairingStoreError>;
    /// `None`: no room for another pending request now.
    fn upsert_request(
        &self,
        account: &str,
        sender: &str,
    ) -> Result<Option<Challenge>, PairingStoreError>;
}

pub trait Clock {
    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

pub trait Random {
    /// A uniformly random `u64` from a secure source.
    fn next_u64(&self) -> u64;
}

/// Everything the channel logic may touch outside itself.
pub struct Ports<'a> {
    pub http: &'a dyn Http,
    pub kv: &'a dyn Kv,
    pub pairing: &'a dyn PairingStore,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
}

/// The `Kv` port in memory, for native use: the unit tests and the benchmarks drive the logic
/// with it. `fail` makes every call fail as an unreachable store would.
#[derive(Default)]
pub struct MemoryKv {
    map: RefCell<BTreeMap<String, Vec<u8>>>,
    pub fail: Cell<bool>,
    /// Calls made so far (failed ones included).
    pub calls: Cell<u64>,
    /// Of those, the reads and the compare-and-swaps.
    pub gets: Cell<u64>,
    pub swaps: Cell<u64>,
}

impl MemoryKv {
    fn check(&self) -> Result<(), KvError> {
        self.calls.set(self.calls.get() + 1);
        if self.fail.get() {
            Err(KvError::Unavailable("test outage".into()))
        } else {
            Ok(())
        }
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.gets.set(self.gets.get() + 1);
        self.check()?;
        Ok(self.map.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8], _ttl: Option<u64>) -> Result<(), KvError> {
        self.check()?;
        self.map.borrow_mut().insert(key.into(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.check()?;
        self.map.borrow_mut().remove(key);
        Ok(())
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        _ttl: Option<u64>,
    ) -> Result<bool, KvError> {
        self.swaps.set(self.swaps.get() + 1);
        self.check()?;
        let mut map = self.map.borrow_mut();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(key.into(), v.to_vec()),
            None => map.remove(key),
        };
        Ok(true)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        self.check()?;
        Ok(self
            .map
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}
