//! Shared set-up for the end-to-end tests: one compiled runtime per test binary, an emulator
//! per test, and a configured plugin instance.
#![allow(dead_code)]

pub mod cli;
pub mod inbound;

use std::sync::{Arc, OnceLock};

use host_test::emulator::{Emulator, EmulatorOptions};
use host_test::runtime::clock::Clock;
use host_test::runtime::config::{Prepared, prepare};
use host_test::runtime::kv::MemoryKv;
use host_test::runtime::{HostEnv, Plugin, Runtime, RuntimeOptions};
use host_test::wit;
use serde_json::{Value, json};

pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(host_test::component_bytes(), RuntimeOptions::default()).expect("runtime")
    })
}

pub struct Rig {
    pub emulator: Emulator,
    pub plugin: Plugin,
    pub prepared: Prepared,
    pub kv: Arc<MemoryKv>,
    pub clock: Clock,
}

/// The callback secret of test configs that do not test authentication.
pub const SECRET: &str = "test-callback-secret-0123456789";

/// `section` with [`SECRET`] at the top, unless it says something about authentication.
pub fn with_secret(mut section: Value) -> Value {
    if let Value::Object(m) = &mut section
        && !m.contains_key("callbackSecret")
        && !m.contains_key(kakaowork_channel::model::config::UNAUTHENTICATED_OPT_OUT)
    {
        m.insert("callbackSecret".into(), json!(SECRET));
    }
    section
}

/// Start an emulator, point `section` at it (unless it sets apiBase) and configure a plugin,
/// with `env_key` as `KAKAOWORK_APP_KEY`.
pub fn rig_on(rt: &Runtime, section: Value, env_key: Option<&str>) -> Rig {
    let clock = Clock::fake(1_700_000_000_000);
    let emulator = Emulator::start(EmulatorOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .expect("emulator");
    rig_around(rt, emulator, clock, section, env_key)
}

/// The usual rig around an emulator the test started (with the real clock).
pub fn rig_with_emulator(emulator: Emulator) -> Rig {
    rig_around(
        runtime(),
        emulator,
        Clock::Real,
        json!({}),
        Some(host_test::emulator::DEFAULT_APP_KEY),
    )
}

fn rig_around(
    rt: &Runtime,
    emulator: Emulator,
    clock: Clock,
    mut section: Value,
    env_key: Option<&str>,
) -> Rig {
    if section.get("apiBase").is_none() {
        section["apiBase"] = json!(emulator.base_url());
    }
    let mut prepared = prepare(with_secret(section), env_key).expect("valid config");
    // The tests read what the guest asked for.
    prepared.policy.record_requests = true;
    let kv = MemoryKv::new();
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: kv.clone(),
        clock: clock.clone(),
    };
    let mut plugin = rt.instantiate(&env).expect("instantiate");
    plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .expect("no trap")
        .expect("configure accepted");
    Rig {
        emulator,
        plugin,
        prepared,
        kv,
        clock,
    }
}

/// The usual rig: one default account whose key comes from the environment variable.
pub fn rig() -> Rig {
    rig_on(
        runtime(),
        json!({}),
        Some(host_test::emulator::DEFAULT_APP_KEY),
    )
}

/// A send request with a fresh idempotency key.
pub fn send_req(target: &str, text: &str) -> wit::SendRequest {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    wit::SendRequest {
        account: None,
        target: target.into(),
        text: text.into(),
        idempotency_key: format!("test-{n}"),
        format: host_test::wit::TextFormat::Plain,
        blocks: None,
        buttons: vec![],
    }
}
