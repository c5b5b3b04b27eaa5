//! The cost of the plugin's own work: the limiter's decision, and a whole `send` through
//! wasmtime on a warm instance against a host HTTP that answers instantly (no sockets).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use host_test::bindings::moltbot::channel::http::{Error, Response};
use host_test::clock::Clock;
use host_test::config::prepare;
use host_test::http::{Outgoing, Transport};
use host_test::kv::MemoryKv;
use host_test::runtime::{HostEnv, Runtime, RuntimeOptions};
use host_test::wit::SendRequest;
use kakaowork_channel::limiter::{Decision, Limiter, RateConfig};
use kakaowork_channel::ports::MemoryKv as GuestKv;
use serde_json::json;

/// Answers like KakaoWork, at once.
struct Instant;

impl Transport for Instant {
    fn execute(&self, req: Outgoing) -> Result<Response, Error> {
        let body = if req.url.path().ends_with("spaces.info") {
            json!({"success": true, "space": {"id": 230021}})
        } else {
            json!({"success": true, "message": {"id": "757617552587034624", "conversation_id": 3000001, "send_time": 1_700_000_000}})
        };
        Ok(Response {
            status: 200,
            headers: vec![("RateLimit-Limit".into(), "200".into())],
            body: body.to_string().into_bytes(),
        })
    }
}

fn limiter(c: &mut Criterion) {
    let kv = GuestKv::default();
    let l = Limiter::new(&kv, "ws:1", RateConfig::default());
    // KakaoWork's first answer reported its limit: the steady state of every later call.
    l.observe_limit(Some("200"), 0).unwrap();
    let mut now = 0u64;
    c.bench_function("limiter_admit", |b| {
        b.iter(|| {
            // 1 s apart: every decision admits (the common case under the budget).
            now += 1000;
            assert_eq!(l.admit(now).unwrap(), Decision::Admit);
        })
    });
    let mut now = 0u64;
    c.bench_function("limiter_defer", |b| {
        b.iter(|| {
            now += 1;
            std::hint::black_box(l.admit(now).unwrap())
        })
    });
}

fn send(c: &mut Criterion) {
    let rt = Runtime::new(host_test::component_bytes(), RuntimeOptions::default()).unwrap();
    let prepared = prepare(
        json!({"appKey": "bench.key", "callbackSecret": "bench-callback-secret-0123456789"}),
        None,
    )
    .unwrap();
    let mut policy = prepared.policy.clone();
    policy.transport = Some(Arc::new(Instant));
    let clock = Clock::fake(1_700_000_000_000);
    let env = HostEnv {
        http: Arc::new(policy),
        kv: MemoryKv::new(),
        clock: clock.clone(),
    };
    let mut plugin = rt.instantiate(&env).unwrap();
    plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    let mut n = 0u64;
    c.bench_function("send_warm_instance", |b| {
        b.iter(|| {
            n += 1;
            clock.advance(1000);
            let r = plugin
                .send(&SendRequest {
                    account: None,
                    target: "conversation:3000001".into(),
                    text: "벤치마크 메시지".into(),
                    idempotency_key: format!("bench-{n}"),
                })
                .unwrap()
                .unwrap();
            std::hint::black_box(r);
        })
    });
}

criterion_group!(benches, limiter, send);
criterion_main!(benches);
