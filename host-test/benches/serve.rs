//! `serve` under load: reply-modal submissions posted over loopback HTTP to the callback server
//! (4 instances, as `kakaowork-host serve` runs), by one client at a time and by 16 at once.
//! Prints callbacks per second and the latency distribution (p50, p90, p99, max) of each run;
//! every submission must be answered 200 and become exactly one event. A reply modal takes one
//! submission, so each is opened by a click of its own first (not timed); the messages are many,
//! since one message takes at most 1,000 callbacks.
//!
//! `cargo bench -p host-test --bench serve`

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions};
use host_test::runtime::config::prepare;
use host_test::runtime::kv::{KvStore, MemoryKv};
use host_test::runtime::pool::Pool;
use host_test::runtime::{HostEnv, Plugin, Runtime, RuntimeOptions};
use host_test::serve::CallbackServer;
use host_test::serve::delivery::deliver;
use host_test::wit::SendRequest;
use serde_json::json;

const SECRET: &str = "bench-callback-secret-0123456789";
const USER: u64 = 10000003;
const INSTANCES: usize = 4;

struct Rig {
    emulator: Emulator,
    /// Stopped (with its thread) when the rig is dropped at the end of `main`.
    _server: CallbackServer,
    events: Arc<AtomicU64>,
    messages: Vec<String>,
    /// Submissions so far: which message the next one uses.
    next: AtomicUsize,
    url: String,
}

/// Submissions per message: each is two callbacks (the click, then the submission).
const PER_MESSAGE: usize = 400;
const MESSAGES: usize = 21;

fn rig(rt: &'static Runtime) -> Rig {
    let emulator = Emulator::start(EmulatorOptions::default()).unwrap();
    let prepared = prepare(
        json!({"apiBase": emulator.base_url(), "appKey": DEFAULT_APP_KEY,
               "callbackSecret": SECRET, "dmPolicy": "open"}),
        None,
    )
    .unwrap();
    let kv: Arc<dyn KvStore> = MemoryKv::new();
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv,
        clock: host_test::runtime::clock::Clock::Real,
    };
    let configured = move || -> wasmtime::Result<Plugin> {
        let mut plugin = rt.instantiate(&env)?;
        plugin
            .configure(&prepared.redacted_json, &prepared.credentials)?
            .map_err(|e| wasmtime::Error::msg(format!("{e:?}")))?;
        Ok(plugin)
    };
    let mut agent = configured().unwrap();
    let pool = Arc::new(Pool::new(INSTANCES, Box::new(configured)).unwrap());
    let events = Arc::new(AtomicU64::new(0));
    let seen = events.clone();
    let server = CallbackServer::start(
        "127.0.0.1:0",
        pool,
        Arc::new(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .unwrap();
    let messages = (0..MESSAGES)
        .map(|i| {
            // The guest paces sends for KakaoWork's rate limit: its deferrals are waited out.
            let req = SendRequest {
                account: None,
                target: format!("user:{USER}"),
                text: format!("내일 회의에 참석하시나요? ({i})"),
                idempotency_key: format!("bench-question-{i}"),
                format: host_test::wit::TextFormat::Plain,
                blocks: None,
                buttons: vec![],
            };
            let report = deliver(
                &mut agent,
                &req,
                &host_test::runtime::clock::Clock::Real,
                50,
                |_, _| {},
            )
            .unwrap();
            let receipt = report.outcome.unwrap();
            receipt.message_id.unwrap()
        })
        .collect();
    let url = server.url(&format!("/kakaowork/default/callback?token={SECRET}"));
    Rig {
        emulator,
        _server: server,
        events,
        messages,
        next: AtomicUsize::new(0),
        url,
    }
}

/// `total` distinct submissions from `clients` threads; returns each one's latency.
fn run(r: &Rig, clients: usize, total: usize, tag: &str) -> (Duration, Vec<Duration>) {
    let latencies = Mutex::new(Vec::with_capacity(total));
    let before = r.events.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..clients {
            let latencies = &latencies;
            s.spawn(move || {
                let mut mine = Vec::with_capacity(total / clients);
                for i in 0..total / clients {
                    let text = format!("{tag} {c}-{i}: 네, 참석합니다. 안건을 보내주세요");
                    let k = r.next.fetch_add(1, Ordering::Relaxed);
                    let message = &r.messages[(k / PER_MESSAGE) % r.messages.len()];
                    let (status, modal) =
                        r.emulator.click(&r.url, message, "답장하기", USER).unwrap();
                    assert_eq!(status, 200, "{modal}");
                    let t = Instant::now();
                    let (status, body) = r
                        .emulator
                        .submit(&r.url, message, USER, &modal["view"], &[("reply", &text)])
                        .unwrap();
                    mine.push(t.elapsed());
                    assert_eq!(status, 200, "{body}");
                }
                latencies.lock().unwrap().extend(mine);
            });
        }
    });
    let elapsed = started.elapsed();
    let n = (total / clients) * clients;
    assert_eq!(
        r.events.load(Ordering::Relaxed) - before,
        n as u64,
        "one event per submission"
    );
    (elapsed, latencies.into_inner().unwrap())
}

fn report(what: &str, elapsed: Duration, mut lat: Vec<Duration>) {
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{what}: {} callbacks in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants it quick.
    let full = std::env::args().any(|a| a == "--bench");
    let total = if full { 4000 } else { 64 };
    let rt: &'static Runtime = Box::leak(Box::new(
        Runtime::new(host_test::component_bytes(), RuntimeOptions::default()).unwrap(),
    ));
    let r = rig(rt);
    // Warm up: every instance of the pool, the sender's name cached.
    run(&r, INSTANCES, 64, "warm-up");
    for clients in [1, 16] {
        let (elapsed, lat) = run(&r, clients, total, &format!("c{clients}"));
        report(
            &format!("serve, {clients} concurrent client(s)"),
            elapsed,
            lat,
        );
    }
}
