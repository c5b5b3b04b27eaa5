//! In-memory stand-ins for the host, for native unit tests.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::ports::{Clock, Http, HttpError, HttpRequest, HttpResponse, Kv, KvError, Random};

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

#[derive(Default)]
pub struct MemoryKv {
    map: RefCell<BTreeMap<String, Vec<u8>>>,
    pub fail: Cell<bool>,
}

impl MemoryKv {
    fn check(&self) -> Result<(), KvError> {
        if self.fail.get() {
            Err(KvError::Unavailable("test outage".into()))
        } else {
            Ok(())
        }
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
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
