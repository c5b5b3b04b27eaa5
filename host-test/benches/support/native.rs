//! The guest's logic built natively and driven through the host's own import implementations
//! (the same `KvState`, `HttpState`, clock and random the wasm instance is linked to), so that
//! `send_native` against `send_warm_instance` measures what wasm itself costs.

use std::cell::RefCell;

use host_test::bindings::moltbot::channel::http::{
    self as host_http, Host as _, Request as HostRequest,
};
use host_test::bindings::moltbot::channel::kv::{self as host_kv, Host as _};
use host_test::bindings::wasi::random::random::Host as _;
use host_test::runtime::clock::Clock;
use host_test::runtime::http::HttpState;
use host_test::runtime::kv::KvState;
use host_test::runtime::random::RandomState;
use host_test::wit;
use kakaowork_channel::boundary::channel::{Channel, CredentialSource, CredentialStatus};
use kakaowork_channel::contract::ports::{
    self as guest, Challenge, HttpError, HttpRequest, HttpResponse, KvError, PairingStoreError,
    Ports,
};

/// The host side of one instance, as the wasm instance's store holds it.
pub struct HostSide {
    pub kv: RefCell<KvState>,
    pub http: RefCell<HttpState>,
    pub clock: Clock,
    pub random: RefCell<RandomState>,
}

impl HostSide {
    pub fn ports(&self) -> Ports<'_> {
        Ports {
            http: self,
            kv: self,
            pairing: &NoPairing,
            clock: self,
            random: self,
        }
    }
}

fn kv_error(e: host_kv::Error) -> KvError {
    match e {
        host_kv::Error::Unavailable(m) => KvError::Unavailable(m),
        host_kv::Error::InvalidKey(m) => KvError::InvalidKey(m),
        host_kv::Error::TooLarge => KvError::TooLarge,
        host_kv::Error::Other(m) => KvError::Other(m),
    }
}

impl guest::Kv for HostSide {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv.borrow_mut().get(key.into()).map_err(kv_error)
    }
    fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), KvError> {
        self.kv
            .borrow_mut()
            .set(key.into(), value.to_vec(), ttl_ms)
            .map_err(kv_error)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.kv.borrow_mut().delete(key.into()).map_err(kv_error)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError> {
        self.kv
            .borrow_mut()
            .compare_and_swap(
                key.into(),
                expected.map(<[u8]>::to_vec),
                new.map(<[u8]>::to_vec),
                ttl_ms,
            )
            .map_err(kv_error)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        self.kv
            .borrow_mut()
            .list_keys(prefix.into())
            .map_err(kv_error)
    }
}

/// What lifting the guest's headers costs the wasm host: a copy of each string.
fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl guest::Http for HostSide {
    fn send(&self, req: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let req = HostRequest {
            method: match req.method {
                guest::Method::Get => host_http::Method::Get,
                guest::Method::Post => host_http::Method::Post,
            },
            url: req.url.clone(),
            headers: owned_pairs(req.headers),
            body: req.body.clone(),
            account: req.account.clone(),
            timeout_ms: req.timeout_ms,
            response_headers: req.response_headers.iter().map(|&n| n.to_owned()).collect(),
        };
        match self.http.borrow_mut().send(req) {
            Ok(r) => Ok(HttpResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(host_http::Error::Denied(m)) => Err(HttpError::Denied(m)),
            Err(host_http::Error::Timeout) => Err(HttpError::Timeout),
            Err(host_http::Error::TooLarge) => Err(HttpError::TooLarge),
            Err(host_http::Error::Transport(t)) => Err(HttpError::Transport {
                message: t.message,
                maybe_delivered: t.maybe_delivered,
            }),
            Err(host_http::Error::Other(m)) => Err(HttpError::Other(m)),
        }
    }
}

impl guest::Clock for HostSide {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

impl guest::Random for HostSide {
    fn next_u64(&self) -> u64 {
        self.random.borrow_mut().get_random_u64()
    }
}

struct NoPairing;

impl guest::PairingStore for NoPairing {
    fn read_allow_from(&self, _: &str) -> Result<Vec<String>, PairingStoreError> {
        Err(PairingStoreError::Other("not in this benchmark".into()))
    }
    fn upsert_request(&self, _: &str, _: &str) -> Result<Option<Challenge>, PairingStoreError> {
        Err(PairingStoreError::Other("not in this benchmark".into()))
    }
}

/// A natively built channel, configured as the wasm instance is.
pub fn channel(config_json: &str, credentials: &[wit::CredentialStatus]) -> Channel {
    let creds: Vec<CredentialStatus> = credentials
        .iter()
        .map(|c| CredentialStatus {
            account: c.account.clone(),
            source: match c.source {
                wit::CredentialSource::Config => CredentialSource::Config,
                wit::CredentialSource::KeyFile => CredentialSource::KeyFile,
                wit::CredentialSource::Env => CredentialSource::Env,
                wit::CredentialSource::None => CredentialSource::None,
            },
            key_id: c.key_id.clone(),
        })
        .collect();
    let mut ch = Channel::default();
    ch.configure(config_json, &creds)
        .expect("the benchmark's configuration is valid");
    ch
}
