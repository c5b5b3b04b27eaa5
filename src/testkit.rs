//! Shared fixtures of the guest's unit tests: a world of in-memory ports, configured channels,
//! requests and KakaoWork answers.

pub(crate) use crate::boundary::channel::{Channel, CredentialStatus, SendRequest};
pub(crate) use crate::contract::ports::{Kv, Ports};
pub(crate) use crate::fakes::{FakePairing, FixedClock, MemoryKv, ScriptedHttp, SeqRandom};
pub(crate) use crate::model::config::{self, CredentialSource};
use std::cell::Cell;

pub(crate) struct World {
    pub(crate) kv: MemoryKv,
    pub(crate) pairing: FakePairing,
    pub(crate) clock: FixedClock,
    pub(crate) random: SeqRandom,
}

impl World {
    pub(crate) fn new() -> Self {
        let kv = MemoryKv::default();
        // Skip spaces.info unless a test wants it.
        kv.set(&crate::state::keys::workspace("default"), b"ws:1", None)
            .unwrap();
        // The conversations the tests send to by id are groups the plugin already knows
        // (their lookup is tested in `rooms`).
        for account in ["default", "a", "b"] {
            for c in ["1", "5", "6"] {
                crate::api::rooms::preset(&kv, account, c, &crate::api::rooms::Room::Group);
            }
        }
        Self {
            kv,
            pairing: FakePairing::default(),
            clock: FixedClock(Cell::new(1_000_000)),
            random: SeqRandom(Cell::new(7)),
        }
    }
    pub(crate) fn ports<'a>(&'a self, http: &'a ScriptedHttp) -> Ports<'a> {
        Ports {
            http,
            kv: &self.kv,
            pairing: &self.pairing,
            clock: &self.clock,
            random: &self.random,
        }
    }
}

pub(crate) fn configured(json: &str, sources: &[(&str, CredentialSource)]) -> Channel {
    let mut ch = Channel::default();
    let creds: Vec<_> = sources
        .iter()
        .map(|(a, s)| CredentialStatus {
            account: (*a).into(),
            source: *s,
            key_id: Some("k1".into()),
        })
        .collect();
    ch.configure(&with_secret(json), &creds).unwrap();
    ch
}

/// `json` with a callback secret at the top unless it says something about authentication.
pub(crate) fn with_secret(json: &str) -> String {
    with_secret_value(serde_json::from_str(json).unwrap()).to_string()
}

/// The callback secret of test configs that do not test authentication.
pub(crate) const TEST_SECRET: &str = "test-callback-secret-0123456789";

/// `v` with [`TEST_SECRET`] at the top unless it says something about authentication.
pub(crate) fn with_secret_value(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(m) = v.as_object_mut()
        && !m.contains_key("callbackSecret")
        && !m.contains_key(config::UNAUTHENTICATED_OPT_OUT)
    {
        m.insert("callbackSecret".into(), TEST_SECRET.into());
    }
    v
}

pub(crate) fn default_channel() -> Channel {
    configured("{}", &[("default", CredentialSource::Env)])
}

pub(crate) fn req(target: &str) -> SendRequest {
    req_k(target, "hello", "key-1")
}

pub(crate) fn req_k(target: &str, text: &str, key: &str) -> SendRequest {
    SendRequest {
        account: None,
        target: target.into(),
        text: text.into(),
        idempotency_key: key.into(),
        format: crate::boundary::channel::TextFormat::Plain,
        blocks: None,
        buttons: vec![],
    }
}

pub(crate) const OPEN: &str = r#"{"success":true,"conversation":{"id":"77","type":"dm"}}"#;
pub(crate) const SENT: &str = r#"{"success":true,"message":{"id":"9007199254740993","conversation_id":77,"send_time":1700000000}}"#;
pub(crate) const E500: &str =
    r#"{"success":false,"error":{"code":"internal_server_error","message":"x"}}"#;

pub(crate) fn sent(id: u64) -> String {
    format!(
        r#"{{"success":true,"message":{{"id":"{id}","conversation_id":77,"send_time":1700000000}}}}"#
    )
}

pub(crate) fn endpoints(http: &ScriptedHttp) -> Vec<String> {
    http.requests()
        .iter()
        .map(|r| r.url.rsplit('/').next().unwrap().to_owned())
        .collect()
}
