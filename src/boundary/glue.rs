//! The thin wit-bindgen layer: implements the ports with the WIT imports and maps the
//! `channel` export to [`crate::boundary::channel::Channel`]. The records pass through as they are (the
//! logic uses the generated types, see [`crate::contract::wit`]); only the error enum is mapped.

use std::cell::{Cell, RefCell};

use crate::boundary::channel::Channel;
use crate::contract::ports::{self, Ports};
use crate::contract::wit::moltbot::channel::{http, kv, pairing};
use crate::contract::wit::types as wit;
use crate::contract::wit::wasi;
use crate::model::error::ChannelError as CoreError;

thread_local! {
    static CHANNEL: RefCell<Channel> = RefCell::new(Channel::default());
    /// The wall clock as last read, until the next HTTP, KV or pairing call (any may take long).
    /// Reads with no such call between them (several per send) then cost one crossing.
    static NOW: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Calls into the instance's channel, with the clock read afresh.
fn channel<R>(f: impl FnOnce(&Channel) -> R) -> R {
    NOW.set(None);
    CHANNEL.with(|ch| f(&ch.borrow()))
}

/// Runs a host call after which the clock must be read again.
fn then_clock_again<R>(r: R) -> R {
    NOW.set(None);
    r
}

struct HostHttp;
struct HostKv;
struct HostPairing;
struct HostClock;
struct HostRandom;

impl ports::Random for HostRandom {
    fn next_u64(&self) -> u64 {
        wasi::random::random::get_random_u64()
    }
}

impl ports::Http for HostHttp {
    fn send(&self, req: &ports::HttpRequest) -> Result<ports::HttpResponse, ports::HttpError> {
        let lent = http::Request {
            method: req.method,
            url: &req.url,
            headers: req.headers,
            body: req.body.as_deref(),
            account: req.account.as_deref(),
            timeout_ms: req.timeout_ms,
            response_headers: req.response_headers,
        };
        then_clock_again(http::send(lent)).map_err(|e| match e {
            http::Error::Denied(m) => ports::HttpError::Denied(m),
            http::Error::Timeout => ports::HttpError::Timeout,
            http::Error::TooLarge => ports::HttpError::TooLarge,
            http::Error::Transport(t) => ports::HttpError::Transport {
                message: t.message,
                maybe_delivered: t.maybe_delivered,
            },
            http::Error::Other(m) => ports::HttpError::Other(m),
        })
    }
}

fn kv_err(e: kv::Error) -> ports::KvError {
    match e {
        kv::Error::Unavailable(m) => ports::KvError::Unavailable(m),
        kv::Error::InvalidKey(m) => ports::KvError::InvalidKey(m),
        kv::Error::TooLarge => ports::KvError::TooLarge,
        kv::Error::Other(m) => ports::KvError::Other(m),
    }
}

impl ports::Kv for HostKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ports::KvError> {
        then_clock_again(kv::get(key)).map_err(kv_err)
    }
    fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), ports::KvError> {
        then_clock_again(kv::set(key, value, ttl_ms)).map_err(kv_err)
    }
    fn delete(&self, key: &str) -> Result<(), ports::KvError> {
        then_clock_again(kv::delete(key)).map_err(kv_err)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, ports::KvError> {
        then_clock_again(kv::compare_and_swap(key, expected, new, ttl_ms)).map_err(kv_err)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, ports::KvError> {
        then_clock_again(kv::list_keys(prefix)).map_err(kv_err)
    }
}

fn pairing_err(e: pairing::Error) -> ports::PairingStoreError {
    match e {
        pairing::Error::Unavailable(m) => ports::PairingStoreError::Unavailable(m),
        pairing::Error::Other(m) => ports::PairingStoreError::Other(m),
    }
}

impl ports::PairingStore for HostPairing {
    fn read_allow_from(&self, account: &str) -> Result<Vec<String>, ports::PairingStoreError> {
        then_clock_again(pairing::read_allow_from(account)).map_err(pairing_err)
    }
    fn upsert_request(
        &self,
        account: &str,
        sender: &str,
    ) -> Result<Option<ports::Challenge>, ports::PairingStoreError> {
        then_clock_again(pairing::upsert_request(account, sender)).map_err(pairing_err)
    }
}

impl ports::Clock for HostClock {
    fn now_ms(&self) -> u64 {
        if let Some(ms) = NOW.get() {
            return ms;
        }
        let t = wasi::clocks::wall_clock::now();
        let ms = t
            .seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(t.nanoseconds / 1_000_000));
        NOW.set(Some(ms));
        ms
    }
}

const PORTS: Ports<'static> = Ports {
    http: &HostHttp,
    kv: &HostKv,
    pairing: &HostPairing,
    clock: &HostClock,
    random: &HostRandom,
};

fn error_to_wit(e: CoreError) -> wit::ChannelError {
    use wit::ChannelError as W;
    match e {
        CoreError::NotConfigured => W::NotConfigured,
        CoreError::UnknownAccount(m) => W::UnknownAccount(m),
        CoreError::AccountDisabled(m) => W::AccountDisabled(m),
        CoreError::MissingCredential(m) => W::MissingCredential(m),
        CoreError::InvalidTarget(m) => W::InvalidTarget(m),
        CoreError::InvalidMessage(m) => W::InvalidMessage(m),
        CoreError::Authentication(f) => W::Authentication(f),
        CoreError::RateLimited(f) => W::RateLimited(f),
        CoreError::Api(f) => W::Api(f),
        CoreError::Deferred(ms) => W::Deferred(ms),
        CoreError::Denied(m) => W::Denied(m),
        CoreError::Timeout => W::Timeout,
        CoreError::Transport(t) => W::Transport(t),
        CoreError::Storage(m) => W::Storage(m),
        CoreError::InvalidResponse(m) => W::InvalidResponse(m),
        CoreError::Other(m) => W::Other(m),
    }
}

struct Plugin;

impl wit::Guest for Plugin {
    fn configure(
        config_json: String,
        credentials: Vec<wit::CredentialStatus>,
    ) -> Result<wit::ConfigureResult, Vec<wit::ConfigIssue>> {
        CHANNEL.with(|ch| ch.borrow_mut().configure(&config_json, &credentials))
    }

    fn send(req: wit::SendRequest) -> Result<wit::SendReceipt, wit::ChannelError> {
        channel(|ch| ch.send(&PORTS, &req)).map_err(error_to_wit)
    }

    fn send_status(
        account: Option<String>,
        idempotency_key: String,
    ) -> Result<wit::SendState, wit::ChannelError> {
        channel(|ch| ch.send_status(&PORTS, account.as_deref(), &idempotency_key))
            .map_err(error_to_wit)
    }

    fn probe(account: Option<String>) -> Result<wit::ProbeResult, wit::ChannelError> {
        channel(|ch| ch.probe(&PORTS, account.as_deref())).map_err(error_to_wit)
    }

    fn directory(q: wit::DirectoryQuery) -> Result<wit::DirectoryListing, wit::ChannelError> {
        channel(|ch| ch.directory(&PORTS, &q)).map_err(error_to_wit)
    }

    fn lookup_member(
        account: Option<String>,
        who: String,
    ) -> Result<wit::Member, wit::ChannelError> {
        channel(|ch| ch.lookup_member(&PORTS, account.as_deref(), &who)).map_err(error_to_wit)
    }

    fn conversation_members(
        account: Option<String>,
        conversation_id: String,
    ) -> Result<Vec<wit::Member>, wit::ChannelError> {
        channel(|ch| ch.conversation_members(&PORTS, account.as_deref(), &conversation_id))
            .map_err(error_to_wit)
    }

    fn space(account: Option<String>) -> Result<wit::SpaceInfo, wit::ChannelError> {
        channel(|ch| ch.space(&PORTS, account.as_deref())).map_err(error_to_wit)
    }

    fn handle_callback(
        req: wit::CallbackRequest,
    ) -> Result<wit::CallbackOutcome, wit::ChannelError> {
        channel(|ch| ch.handle_callback(&PORTS, &req)).map_err(error_to_wit)
    }

    fn callback_token(account: Option<String>) -> Result<Option<String>, wit::ChannelError> {
        channel(|ch| ch.callback_token(&PORTS, account.as_deref())).map_err(error_to_wit)
    }

    fn check_policy(
        account: Option<String>,
        sender_id: String,
        chat_type: wit::ChatType,
    ) -> Result<wit::PolicyDecision, wit::ChannelError> {
        channel(|ch| ch.check_policy(&PORTS, account.as_deref(), &sender_id, chat_type))
            .map_err(error_to_wit)
    }
}

crate::contract::wit::export_channel_plugin!(Plugin with_types_in crate::contract::wit);

// The component's allocator: Talc instead of the default dlmalloc (single-threaded guest).
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
