//! A callback rig: the emulator playing a user over real HTTP against a callback server with
//! a pool of instances, and the test's own instance (the agent's side), sharing one KV.

use std::sync::{Arc, Mutex};

use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions};
use host_test::runtime::clock::Clock;
use host_test::runtime::config::prepare;
use host_test::runtime::kv::MemoryKv;
use host_test::runtime::pool::Pool;
use host_test::runtime::{HostEnv, Plugin};
use host_test::serve::CallbackServer;
use host_test::wit::{InboundEvent, SendRequest};
use serde_json::{Value, json};

pub const SECRET: &str = "s3cr3t-token-abcdefghijklmnop";
pub const PATH: &str = "/kakaowork/default/callback";

pub struct Inbound {
    pub emulator: Emulator,
    pub plugin: Arc<Mutex<Plugin>>,
    pub server: CallbackServer,
    pub events: Arc<Mutex<Vec<InboundEvent>>>,
    pub clock: Clock,
    pub kv: Arc<dyn host_test::runtime::kv::KvStore>,
}

pub fn inbound(section: Value) -> Inbound {
    let clock = Clock::fake(1_700_000_000_000);
    let emulator = Emulator::start(EmulatorOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    let mut section = section;
    section["apiBase"] = json!(emulator.base_url());
    section["appKey"] = json!(DEFAULT_APP_KEY);
    section["callbackSecret"] = json!(SECRET);
    let prepared = prepare(section, None).unwrap();
    let kv: Arc<dyn host_test::runtime::kv::KvStore> = MemoryKv::new();
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: kv.clone(),
        clock: clock.clone(),
    };
    let configured = {
        let (env, prepared) = (env.clone(), prepared.clone());
        move || -> wasmtime::Result<Plugin> {
            let mut plugin = super::runtime().instantiate(&env)?;
            plugin
                .configure(&prepared.redacted_json, &prepared.credentials)?
                .map_err(|e| wasmtime::Error::msg(format!("{e:?}")))?;
            Ok(plugin)
        }
    };
    // The test's own instance (the agent's side) and the server's pool share one KV.
    let plugin = Arc::new(Mutex::new(configured().unwrap()));
    let pool = Arc::new(Pool::new(2, Box::new(configured)).unwrap());
    let events: Arc<Mutex<Vec<InboundEvent>>> = Arc::default();
    let sink = events.clone();
    let server = CallbackServer::start(
        "127.0.0.1:0",
        pool,
        Arc::new(move |e| sink.lock().unwrap().push(e.clone())),
    )
    .unwrap();
    Inbound {
        emulator,
        plugin,
        server,
        events,
        clock,
        kv,
    }
}

impl Inbound {
    pub fn url(&self) -> String {
        self.server.url(&format!("{PATH}?token={SECRET}"))
    }

    pub fn agent_says(&self, user: u64, text: &str, key: &str) -> String {
        let r = self
            .plugin
            .lock()
            .unwrap()
            .send(&SendRequest {
                account: None,
                target: format!("user:{user}"),
                text: text.into(),
                idempotency_key: key.into(),
                format: host_test::wit::TextFormat::Plain,
                blocks: None,
                buttons: vec![],
            })
            .unwrap()
            .unwrap();
        r.message_id.expect("a delivered message has an id")
    }

    pub fn events(&self) -> Vec<InboundEvent> {
        self.events.lock().unwrap().clone()
    }
}
