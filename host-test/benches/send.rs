//! The cost of the plugin's own work against a host that answers instantly (no sockets, an
//! in-memory KV): the limiter's decision, a whole `send` through wasmtime on a warm instance and
//! the same guest logic built natively, a 4 KB reply-modal submission, and the host calls one
//! `send` makes (counted; the benchmark fails when the hot path makes more than
//! [`MAX_KV_CALLS_PER_SEND`] KV calls), with the heap allocations of a native send (a count
//! that does not move with the machine's speed, as the times do).
//!
//! Every batch starts from a fresh store and instance, so the figures do not drift with the
//! iteration count (a store that grew with every earlier iteration would).

#[path = "support/native.rs"]
mod native;

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use host_test::bindings::moltbot::channel::http::{Error, Response};
use host_test::runtime::clock::Clock;
use host_test::runtime::config::{Prepared, prepare};
use host_test::runtime::http::{HttpState, Outgoing, Transport};
use host_test::runtime::kv::{Error as KvError, KvState, KvStore, MemoryKv};
use host_test::runtime::random::RandomState;
use host_test::runtime::{HostEnv, Plugin, Runtime, RuntimeOptions};
use host_test::wit::{CallbackRequest, SendRequest};
use kakaowork_channel::contract::ports::MemoryKv as GuestKv;
use kakaowork_channel::model::config::RateConfig;
use kakaowork_channel::state::limiter::{Decision, Limiter};
use serde_json::{Value, json};

/// The process's allocator, counting the allocations made on threads that asked it to.
struct CountingAlloc;

thread_local! {
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; counting only reads and
// bumps an atomic and a thread-local flag, which allocate nothing.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// The heap allocations (and reallocations) `f` makes on this thread.
fn allocations_of(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// The most KV calls one warm single-part `send` may make.
const MAX_KV_CALLS_PER_SEND: u64 = 4;
/// Sends (or callbacks) per fresh store.
const BATCH: u64 = 256;
const SECRET: &str = "bench-callback-secret-0123456789";
const CONVERSATION: &str = "3000001";
const USER: u64 = 10000003;

/// Answers like KakaoWork, at once (the answers are made once), and counts the requests.
struct Instantly {
    requests: AtomicU64,
    /// The answer's headers: only the one the plugin reads, or as many as a real answer has.
    headers: Vec<(String, String)>,
    space: Vec<u8>,
    user: Vec<u8>,
    message: Vec<u8>,
}

impl Default for Instantly {
    fn default() -> Self {
        Self::with_headers(limit_only())
    }
}

impl Instantly {
    fn with_headers(headers: Vec<(String, String)>) -> Self {
        let bytes = |v: Value| v.to_string().into_bytes();
        Self {
            requests: AtomicU64::new(0),
            headers,
            space: bytes(json!({"success": true, "space": {"id": 230021}})),
            user: bytes(
                json!({"success": true, "user": {"id": USER.to_string(), "name": "박지훈"}}),
            ),
            // As KakaoWork answers a send: the message with its text and the echo of its blocks
            // (here a text and a Reply button with a signed value, as the benchmark sends).
            message: bytes(json!({"success": true, "message": {
            "id": "757617552587034624", "text": "벤치마크 메시지", "user_id": "2600000",
            "conversation_id": 3000001, "send_time": 1_700_000_000,
            "update_time": 1_700_000_000, "blocks": [
                {"type": "text", "text": "벤치마크 메시지", "markdown": false},
                {"type": "button", "text": "Reply", "style": "default",
                 "action_type": "submit_action", "action_name": "kakao.reply",
                 "value": "kw1.3000001.5f0c2a9d1e7b4c63.Q2hhbm5lbFJlcGx5QnV0dG9uU2lnbmF0dXJlMDEyMzQ1Njc4OQ"}
            ]}})),
        }
    }
}

/// The one header the plugin reads on a success.
fn limit_only() -> Vec<(String, String)> {
    vec![("RateLimit-Limit".into(), "200".into())]
}

/// What an HTTP answer usually carries besides the limit: each header is two strings that the
/// host hands into the guest's memory, one allocation each.
fn typical_headers() -> Vec<(String, String)> {
    [
        ("Date", "Thu, 14 Nov 2023 22:13:20 GMT"),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", "612"),
        ("Connection", "keep-alive"),
        ("RateLimit-Limit", "200"),
        ("RateLimit-Remaining", "199"),
        ("RateLimit-Reset", "60"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect()
}

impl Transport for Instantly {
    fn execute(&self, req: Outgoing) -> Result<Response, Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let path = req.url.path();
        let body = if path.ends_with("spaces.info") {
            &self.space
        } else if path.ends_with("users.info") {
            &self.user
        } else {
            &self.message
        };
        Ok(Response {
            status: 200,
            headers: self.headers.clone(),
            body: body.clone(),
        })
    }
}

/// The in-memory store, counting the calls the guest makes (the host's own sweep is not one).
struct Counting {
    inner: Arc<dyn KvStore>,
    calls: AtomicU64,
}

impl Counting {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryKv::new(),
            calls: AtomicU64::new(0),
        })
    }
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl KvStore for Counting {
    fn get(&self, key: &str, now_ms: u64) -> Result<Option<Vec<u8>>, KvError> {
        self.count();
        self.inner.get(key, now_ms)
    }
    fn set(&self, key: &str, value: &[u8], expires_at: Option<u64>) -> Result<(), KvError> {
        self.count();
        self.inner.set(key, value, expires_at)
    }
    fn delete(&self, key: &str) -> Result<(), KvError> {
        self.count();
        self.inner.delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<u64>,
        now_ms: u64,
    ) -> Result<bool, KvError> {
        self.count();
        self.inner
            .compare_and_swap(key, expected, new, expires_at, now_ms)
    }
    fn list_keys(&self, prefix: &str, now_ms: u64) -> Result<Vec<String>, KvError> {
        self.count();
        self.inner.list_keys(prefix, now_ms)
    }
    fn purge_expired(&self, now_ms: u64) -> Result<usize, KvError> {
        self.inner.purge_expired(now_ms)
    }
}

/// The configuration; `log_requests` keeps the guest's requests for the benchmark to read, as
/// the test harness does (a gateway does not: the send benchmarks leave it off).
fn prepared(log_requests: bool) -> (Prepared, Arc<Instantly>) {
    prepared_with(log_requests, Instantly::default())
}

fn prepared_with(log_requests: bool, answers: Instantly) -> (Prepared, Arc<Instantly>) {
    let prepared = prepare(
        json!({"appKey": "bench.key", "callbackSecret": SECRET, "groupPolicy": "open"}),
        None,
    )
    .unwrap();
    let transport = Arc::new(answers);
    let mut policy = prepared.policy.clone();
    policy.transport = Some(transport.clone());
    policy.record_requests = log_requests;
    let mut prepared = prepared;
    prepared.policy = policy;
    (prepared, transport)
}

/// A configured wasm instance over `kv` and `clock`.
fn instance(rt: &Runtime, prepared: &Prepared, kv: Arc<dyn KvStore>, clock: &Clock) -> Plugin {
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv,
        clock: clock.clone(),
    };
    let mut plugin = rt.instantiate(&env).unwrap();
    plugin
        .configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    plugin
}

fn request(n: u64) -> SendRequest {
    SendRequest {
        account: None,
        target: format!("conversation:{CONVERSATION}"),
        text: "벤치마크 메시지".into(),
        idempotency_key: format!("bench-{n}"),
        format: host_test::wit::TextFormat::Plain,
        blocks: None,
        buttons: vec![],
    }
}

/// One store and what sends through it: a wasm instance or the native build.
struct World {
    kv: Arc<Counting>,
    transport: Arc<Instantly>,
    clock: Clock,
    sender: Sender,
}

enum Sender {
    Wasm(Box<Plugin>),
    Native(
        Box<kakaowork_channel::boundary::channel::Channel>,
        Box<native::HostSide>,
    ),
}

impl World {
    fn new(rt: Option<&Runtime>) -> Self {
        Self::answered(rt, Instantly::default())
    }

    fn answered(rt: Option<&Runtime>, answers: Instantly) -> Self {
        let (prepared, transport) = prepared_with(false, answers);
        let kv = Counting::new();
        let clock = Clock::fake(1_700_000_000_000);
        let store: Arc<dyn KvStore> = kv.clone();
        let sender = match rt {
            Some(rt) => Sender::Wasm(Box::new(instance(rt, &prepared, store, &clock))),
            None => Sender::Native(
                Box::new(native::channel(
                    &prepared.redacted_json,
                    &prepared.credentials,
                )),
                Box::new(native::HostSide {
                    kv: RefCell::new(KvState::new(store, clock.clone())),
                    http: RefCell::new(HttpState::new(Arc::new(prepared.policy.clone()))),
                    clock: clock.clone(),
                    random: RefCell::new(RandomState::default()),
                }),
            ),
        };
        let mut w = Self {
            kv,
            transport,
            clock,
            sender,
        };
        // The first send learns the workspace and KakaoWork's limit: not the steady state.
        w.send(0);
        w
    }

    /// One message, 1 s after the previous one (well within the budget).
    fn send(&mut self, n: u64) {
        self.clock.advance(1000);
        let req = request(n);
        match &mut self.sender {
            Sender::Wasm(p) => {
                let r = p.send(&req).unwrap().unwrap();
                assert!(r.message_id.is_some());
            }
            Sender::Native(ch, host) => {
                let req = kakaowork_channel::boundary::channel::SendRequest {
                    account: req.account,
                    target: req.target,
                    text: req.text,
                    idempotency_key: req.idempotency_key,
                    format: kakaowork_channel::boundary::channel::TextFormat::Plain,
                    blocks: None,
                    buttons: vec![],
                };
                let r = ch.send(&host.ports(), &req).unwrap();
                assert!(r.message_id.is_some());
            }
        }
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

/// Times `iters` sends, a fresh world every [`BATCH`] (set-up not timed), the answers
/// carrying `headers`.
fn timed_sends(
    rt: Option<&Runtime>,
    iters: u64,
    headers: fn() -> Vec<(String, String)>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let mut w = World::answered(rt, Instantly::with_headers(headers()));
        let n = (iters - done).min(BATCH);
        let start = Instant::now();
        for i in 1..=n {
            w.send(i);
        }
        total += start.elapsed();
        done += n;
    }
    total
}

/// The runtime's options. For profilers: `KAKAOWORK_PERFMAP=1` lets `perf` name the guest's
/// functions; `KAKAOWORK_BENCH_POOL=1` shrinks the instance pool, whose address space
/// reservation valgrind cannot make at the default size (each instance still has its guard
/// region, so the compiled code is the same).
fn options() -> RuntimeOptions {
    let defaults = RuntimeOptions::default();
    RuntimeOptions {
        perf_map: std::env::var_os("KAKAOWORK_PERFMAP").is_some(),
        max_instances: std::env::var("KAKAOWORK_BENCH_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.max_instances),
        ..defaults
    }
}

fn send(c: &mut Criterion) {
    let rt = Runtime::new(host_test::component_bytes(), options()).unwrap();
    c.bench_function("send_warm_instance", |b| {
        b.iter_custom(|iters| timed_sends(Some(&rt), iters, limit_only))
    });
    c.bench_function("send_native", |b| {
        b.iter_custom(|iters| timed_sends(None, iters, limit_only))
    });
    // The same with the seven headers of a typical answer: what a real one costs more.
    c.bench_function("send_warm_instance_typical_headers", |b| {
        b.iter_custom(|iters| timed_sends(Some(&rt), iters, typical_headers))
    });
    c.bench_function("send_native_typical_headers", |b| {
        b.iter_custom(|iters| timed_sends(None, iters, typical_headers))
    });
}

/// The host calls of warm sends: KV calls per send (min, median, max) and HTTP requests.
fn host_calls(_: &mut Criterion) {
    let rt = Runtime::new(host_test::component_bytes(), options()).unwrap();
    for (name, rt) in [("wasm", Some(&rt)), ("native", None)] {
        let mut w = World::new(rt);
        let mut kv = vec![];
        let mut http = vec![];
        for i in 1..=200 {
            let (k0, h0) = (
                w.kv.calls.load(Ordering::Relaxed),
                w.transport.requests.load(Ordering::Relaxed),
            );
            w.send(i);
            kv.push(w.kv.calls.load(Ordering::Relaxed) - k0);
            http.push(w.transport.requests.load(Ordering::Relaxed) - h0);
        }
        kv.sort_unstable();
        println!(
            "host calls per warm send ({name}, 200 sends): KV min {} median {} max {}; HTTP max {}",
            kv[0],
            kv[kv.len() / 2],
            kv[kv.len() - 1],
            http.iter().max().unwrap()
        );
        assert!(
            kv[kv.len() - 1] <= MAX_KV_CALLS_PER_SEND,
            "a warm send made {} KV calls; the target is at most {MAX_KV_CALLS_PER_SEND}",
            kv[kv.len() - 1]
        );
        assert_eq!(*http.iter().max().unwrap(), 1, "one request per message");
    }
    // Natively both sides share one heap: the guest logic's allocations and the host's (its
    // in-memory KV, its HTTP policy), and the benchmark's request, made the same way each time.
    let mut w = World::new(None);
    let mut counts: Vec<u64> = (1..=200).map(|i| allocations_of(|| w.send(i))).collect();
    counts.sort_unstable();
    println!(
        "heap allocations per warm native send (guest logic and host, 200 sends): min {} median {} max {}",
        counts[0],
        counts[counts.len() / 2],
        counts[counts.len() - 1]
    );
}

/// A reply-modal submission of 4 KB of text on a warm instance; each one distinct (a repeated
/// one would be dropped as a replay).
fn callback(c: &mut Criterion) {
    let rt = Runtime::new(host_test::component_bytes(), options()).unwrap();
    let text = "가".repeat(4096 / 3 - 8);
    c.bench_function("handle_callback_submission_4kb", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let (mut plugin, clock, message, modal_value) = modal_world(&rt);
                let n = (iters - done).min(BATCH);
                let bodies: Vec<Vec<u8>> = (0..n)
                    .map(|i| submission(&message, &modal_value, &format!("{i:08}{text}")))
                    .collect();
                let start = Instant::now();
                for body in bodies {
                    clock.advance(10);
                    let out = plugin.handle_callback(&callback_request(body)).unwrap();
                    let out = out.unwrap();
                    assert_eq!(out.events.len(), 1, "{:?}", out.response);
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });
}

fn callback_request(body: Vec<u8>) -> CallbackRequest {
    CallbackRequest {
        method: "POST".into(),
        path: "/kakaowork/default/callback".into(),
        query: format!("token={SECRET}"),
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    }
}

fn submission(message: &str, value: &str, text: &str) -> Vec<u8> {
    json!({
        "type": "submission", "action_time": "1700000000", "react_user_id": USER,
        "message": {"id": message, "conversation_id": CONVERSATION.parse::<u64>().unwrap()},
        "value": value, "actions": {"reply": text},
    })
    .to_string()
    .into_bytes()
}

/// An instance that sent a message and opened its reply modal: the message id and the modal's
/// value, from which every submission in the batch is made.
fn modal_world(rt: &Runtime) -> (Plugin, Clock, String, String) {
    // It reads the Reply button the guest sent.
    let (prepared, _) = prepared(true);
    let clock = Clock::fake(1_700_000_000_000);
    let mut plugin = instance(rt, &prepared, MemoryKv::new(), &clock);
    let receipt = plugin.send(&request(1)).unwrap().unwrap();
    let message = receipt.message_id.unwrap();
    let sent = plugin.guest_requests();
    let body: Value = serde_json::from_slice(sent.last().unwrap().body.as_ref().unwrap()).unwrap();
    let button = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["elements"].as_array())
        .flatten()
        .find(|b| b["type"] == "button")
        .expect("the message has its Reply button");
    let click = json!({
        "type": "request_modal", "action_time": "1700000000", "react_user_id": USER,
        "message": {"id": message, "conversation_id": CONVERSATION.parse::<u64>().unwrap()},
        "value": button["value"],
    });
    let out = plugin
        .handle_callback(&callback_request(click.to_string().into_bytes()))
        .unwrap()
        .unwrap();
    let modal: Value = serde_json::from_slice(&out.response.body).unwrap();
    let value = modal["view"]["value"].as_str().unwrap().to_owned();
    (plugin, clock, message, value)
}

criterion_group!(benches, limiter, send, callback, host_calls);
criterion_main!(benches);
