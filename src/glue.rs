//! The thin wit-bindgen layer: implements the ports with the WIT imports and maps the
//! `channel` export to [`crate::channel::Channel`]. No logic lives here.

use std::cell::RefCell;

use crate::channel::ChunkOutcome;
use crate::channel::{self as core, Channel};
use crate::config::{
    ConfigIssue as CoreIssue, CredentialSource as CoreSource, DmPolicy as CorePolicy,
};
use crate::error::{ApiFailure as CoreFailure, ChannelError as CoreError};
use crate::ports::{self, Ports};

wit_bindgen::generate!({
    world: "channel-plugin",
    path: "wit",
    generate_all,
});

use exports::moltbot::channel::channel as wit;
use moltbot::channel::{http, kv, pairing};

thread_local! {
    static CHANNEL: RefCell<Channel> = RefCell::new(Channel::default());
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
        let r = http::Request {
            method: match req.method {
                ports::Method::Get => http::Method::Get,
                ports::Method::Post => http::Method::Post,
            },
            url: req.url.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            account: req.account.clone(),
            timeout_ms: req.timeout_ms,
        };
        match http::send(&r) {
            Ok(resp) => Ok(ports::HttpResponse {
                status: resp.status,
                headers: resp.headers,
                body: resp.body,
            }),
            Err(http::Error::Denied(m)) => Err(ports::HttpError::Denied(m)),
            Err(http::Error::Timeout) => Err(ports::HttpError::Timeout),
            Err(http::Error::TooLarge) => Err(ports::HttpError::TooLarge),
            Err(http::Error::Transport(t)) => Err(ports::HttpError::Transport {
                message: t.message,
                maybe_delivered: t.maybe_delivered,
            }),
            Err(http::Error::Other(m)) => Err(ports::HttpError::Other(m)),
        }
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
        kv::get(key).map_err(kv_err)
    }
    fn set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), ports::KvError> {
        kv::set(key, value, ttl_ms).map_err(kv_err)
    }
    fn delete(&self, key: &str) -> Result<(), ports::KvError> {
        kv::delete(key).map_err(kv_err)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, ports::KvError> {
        kv::compare_and_swap(key, expected, new, ttl_ms).map_err(kv_err)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, ports::KvError> {
        kv::list_keys(prefix).map_err(kv_err)
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
        pairing::read_allow_from(account).map_err(pairing_err)
    }
    fn upsert_request(
        &self,
        account: &str,
        sender: &str,
    ) -> Result<Option<ports::Challenge>, ports::PairingStoreError> {
        Ok(pairing::upsert_request(account, sender)
            .map_err(pairing_err)?
            .map(|c| ports::Challenge {
                code: c.code,
                created: c.created,
                reply: c.reply,
            }))
    }
}

impl ports::Clock for HostClock {
    fn now_ms(&self) -> u64 {
        let t = wasi::clocks::wall_clock::now();
        t.seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(t.nanoseconds / 1_000_000))
    }
}

const PORTS: Ports<'static> = Ports {
    http: &HostHttp,
    kv: &HostKv,
    pairing: &HostPairing,
    clock: &HostClock,
    random: &HostRandom,
};

fn source_to_wit(s: CoreSource) -> wit::CredentialSource {
    match s {
        CoreSource::Config => wit::CredentialSource::Config,
        CoreSource::KeyFile => wit::CredentialSource::KeyFile,
        CoreSource::Env => wit::CredentialSource::Env,
        CoreSource::None => wit::CredentialSource::None,
    }
}

fn source_from_wit(s: wit::CredentialSource) -> CoreSource {
    match s {
        wit::CredentialSource::Config => CoreSource::Config,
        wit::CredentialSource::KeyFile => CoreSource::KeyFile,
        wit::CredentialSource::Env => CoreSource::Env,
        wit::CredentialSource::None => CoreSource::None,
    }
}

fn policy_to_wit(p: CorePolicy) -> wit::DmPolicy {
    match p {
        CorePolicy::Pairing => wit::DmPolicy::Pairing,
        CorePolicy::Allowlist => wit::DmPolicy::Allowlist,
        CorePolicy::Open => wit::DmPolicy::Open,
        CorePolicy::Disabled => wit::DmPolicy::Disabled,
    }
}

fn issue_to_wit(i: CoreIssue) -> wit::ConfigIssue {
    wit::ConfigIssue {
        path: i.path,
        message: i.message,
        fix: i.fix,
    }
}

fn failure_to_wit(f: CoreFailure) -> wit::ApiFailure {
    wit::ApiFailure {
        code: f.code,
        message: f.message,
        http_status: f.http_status,
        retryable: f.retryable,
        retry_after_ms: f.retry_after_ms,
    }
}

fn error_to_wit(e: CoreError) -> wit::ChannelError {
    use wit::ChannelError as W;
    match e {
        CoreError::NotConfigured => W::NotConfigured,
        CoreError::UnknownAccount(m) => W::UnknownAccount(m),
        CoreError::AccountDisabled(m) => W::AccountDisabled(m),
        CoreError::MissingCredential(m) => W::MissingCredential(m),
        CoreError::InvalidTarget(m) => W::InvalidTarget(m),
        CoreError::InvalidMessage(m) => W::InvalidMessage(m),
        CoreError::Authentication(f) => W::Authentication(failure_to_wit(f)),
        CoreError::RateLimited(f) => W::RateLimited(failure_to_wit(f)),
        CoreError::Api(f) => W::Api(failure_to_wit(f)),
        CoreError::Deferred(ms) => W::Deferred(ms),
        CoreError::Denied(m) => W::Denied(m),
        CoreError::Timeout => W::Timeout,
        CoreError::Transport(t) => W::Transport(wit::TransportError {
            message: t.message,
            retry_after_ms: t.retry_after_ms,
        }),
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
        let creds: Vec<core::CredentialStatus> = credentials
            .into_iter()
            .map(|c| core::CredentialStatus {
                account: c.account,
                source: source_from_wit(c.source),
                key_id: c.key_id,
            })
            .collect();
        let r = CHANNEL
            .with(|ch| ch.borrow_mut().configure(&config_json, &creds))
            .map_err(|issues| issues.into_iter().map(issue_to_wit).collect::<Vec<_>>())?;
        Ok(wit::ConfigureResult {
            accounts: r
                .accounts
                .into_iter()
                .map(|a| wit::AccountInfo {
                    id: a.id,
                    enabled: a.enabled,
                    configured: a.configured,
                    credential_source: source_to_wit(a.credential_source),
                    dm_policy: policy_to_wit(a.dm_policy),
                    api_base: a.api_base,
                    callback_path: a.callback_path,
                })
                .collect(),
            default_account: r.default_account,
            warnings: r.warnings.into_iter().map(issue_to_wit).collect(),
        })
    }

    fn send(req: wit::SendRequest) -> Result<wit::SendReceipt, wit::ChannelError> {
        let req = core::SendRequest {
            account: req.account,
            target: req.target,
            text: req.text,
            idempotency_key: req.idempotency_key,
        };
        let r = CHANNEL
            .with(|ch| ch.borrow().send(&PORTS, &req))
            .map_err(error_to_wit)?;
        Ok(wit::SendReceipt {
            account: r.account,
            idempotency_key: r.idempotency_key,
            message_id: r.message_id,
            conversation_id: r.conversation_id,
            send_time: r.send_time,
            chunks: r
                .chunks
                .into_iter()
                .map(|c| wit::ChunkReceipt {
                    index: c.index,
                    outcome: match c.outcome {
                        ChunkOutcome::Sent => wit::ChunkOutcome::Sent,
                        ChunkOutcome::Ambiguous => wit::ChunkOutcome::Ambiguous,
                    },
                    message_id: c.message_id,
                    send_time: c.send_time,
                })
                .collect(),
            ambiguous: r.ambiguous,
        })
    }

    fn probe(account: Option<String>) -> Result<wit::ProbeResult, wit::ChannelError> {
        let r = CHANNEL
            .with(|ch| ch.borrow().probe(&PORTS, account.as_deref()))
            .map_err(error_to_wit)?;
        Ok(wit::ProbeResult {
            account: r.account,
            bot_id: r.bot_id,
            title: r.title,
            status: r.status,
            elapsed_ms: r.elapsed_ms,
        })
    }

    fn handle_callback(
        req: wit::CallbackRequest,
    ) -> Result<wit::CallbackOutcome, wit::ChannelError> {
        let req = crate::callback::CallbackRequest {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        let o = CHANNEL
            .with(|ch| ch.borrow().handle_callback(&PORTS, &req))
            .map_err(error_to_wit)?;
        Ok(wit::CallbackOutcome {
            response: wit::CallbackResponse {
                status: o.response.status,
                headers: o.response.headers,
                body: o.response.body,
            },
            events: o
                .events
                .into_iter()
                .map(|e| wit::InboundEvent {
                    account: e.account,
                    kind: match e.kind {
                        core::EventKind::Action => wit::EventKind::Action,
                        core::EventKind::ModalSubmission => wit::EventKind::ModalSubmission,
                        core::EventKind::Text => wit::EventKind::Text,
                    },
                    sender_id: e.sender_id,
                    sender_name: e.sender_name,
                    conversation_id: e.conversation_id,
                    chat_type: match e.chat_type {
                        core::ChatType::Direct => wit::ChatType::Direct,
                        core::ChatType::Group => wit::ChatType::Group,
                    },
                    message_id: e.message_id,
                    timestamp_ms: e.timestamp_ms,
                    text: e.text,
                    from: e.from,
                    to: e.to,
                    action_name: e.action_name,
                    action_value: e.action_value,
                })
                .collect(),
            outbound: o
                .outbound
                .into_iter()
                .map(|r| wit::SendRequest {
                    account: r.account,
                    target: r.target,
                    text: r.text,
                    idempotency_key: r.idempotency_key,
                })
                .collect(),
        })
    }

    fn check_policy(
        account: Option<String>,
        sender_id: String,
        chat_type: wit::ChatType,
    ) -> Result<wit::PolicyDecision, wit::ChannelError> {
        let chat = match chat_type {
            wit::ChatType::Direct => core::ChatType::Direct,
            wit::ChatType::Group => core::ChatType::Group,
        };
        let d = CHANNEL
            .with(|ch| {
                ch.borrow()
                    .check_policy(&PORTS, account.as_deref(), &sender_id, chat)
            })
            .map_err(error_to_wit)?;
        Ok(match d {
            core::PolicyDecision::Allow(why) => wit::PolicyDecision::Allow(why),
            core::PolicyDecision::Deny(why) => wit::PolicyDecision::Deny(why),
            core::PolicyDecision::PairingRequired {
                code,
                created,
                reply,
            } => wit::PolicyDecision::PairingRequired(wit::PairingChallenge {
                code,
                created,
                reply,
            }),
        })
    }
}

export!(Plugin);
