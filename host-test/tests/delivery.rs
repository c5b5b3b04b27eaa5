//! Delivery under load, faults and restarts, on the fake clock. Several instances are separate
//! stores sharing one KV, driven by a discrete-event loop: the instance that is ready first
//! runs next, and the clock jumps to its ready time.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use host_test::emulator::{Emulator, EmulatorOptions, Fault, Recorded};
use host_test::runtime::clock::Clock;
use host_test::runtime::config::prepare;
use host_test::runtime::kv::{KvStore, MemoryKv};
use host_test::runtime::{HostEnv, Plugin};
use host_test::serve::delivery::retry_hint;
use host_test::wit::{ChannelError, SendReceipt, SendRequest};
use kakaowork_channel::state::ledger::{ChunkState, Ledger};
use serde_json::{Value, json};

const ROOM: &str = "3000001";
const KEY_A: &str = "bot-a.0123456789abcdef0123456789abcdef";
const KEY_B: &str = "bot-b.fedcba9876543210fedcba9876543210";

struct Fleet {
    emulator: Emulator,
    clock: Clock,
    kv: Arc<dyn KvStore>,
    prepared: host_test::runtime::config::Prepared,
    env: HostEnv,
}

impl Fleet {
    fn new(
        server_budget: u32,
        section: Value,
        tune: impl FnOnce(&mut host_test::runtime::http::HttpPolicy),
    ) -> Self {
        Self::on(MemoryKv::new(), server_budget, section, tune)
    }

    /// A fleet whose instances share `kv`.
    fn on(
        kv: Arc<dyn KvStore>,
        server_budget: u32,
        section: Value,
        tune: impl FnOnce(&mut host_test::runtime::http::HttpPolicy),
    ) -> Self {
        let clock = Clock::fake(1_700_000_000_000);
        let emulator = Emulator::start(EmulatorOptions {
            app_key: KEY_A.into(),
            extra_app_keys: vec![KEY_B.into()],
            requests_per_minute: server_budget,
            clock: clock.clone(),
            ..Default::default()
        })
        .unwrap();
        let mut section = section;
        section["apiBase"] = json!(emulator.base_url());
        let prepared = prepare(common::with_secret(section), None).unwrap();
        let mut policy = prepared.policy.clone();
        tune(&mut policy);
        let env = HostEnv {
            http: Arc::new(policy),
            kv: kv.clone(),
            clock: clock.clone(),
        };
        Self {
            emulator,
            clock,
            kv,
            prepared,
            env,
        }
    }

    fn instance(&self) -> Plugin {
        let mut p = common::runtime().instantiate(&self.env).unwrap();
        p.configure(&self.prepared.redacted_json, &self.prepared.credentials)
            .unwrap()
            .unwrap();
        p
    }

    /// `instances` fresh instances, message `i` of `total` queued on instance `i % instances`.
    fn queues(
        &self,
        instances: usize,
        total: usize,
        message: impl Fn(usize) -> SendRequest,
    ) -> Vec<(Plugin, VecDeque<SendRequest>)> {
        let mut queues: Vec<_> = (0..instances)
            .map(|_| (self.instance(), VecDeque::new()))
            .collect();
        for i in 0..total {
            queues[i % instances].1.push_back(message(i));
        }
        queues
    }

    fn ledger(&self, account: &str, key: &str) -> Option<Ledger> {
        let raw = self
            .kv
            .get(
                &kakaowork_channel::state::keys::ledger(account, key),
                self.clock.now_ms(),
            )
            .unwrap()?;
        Some(Ledger::decode(&raw).unwrap())
    }
}

fn two_accounts() -> Value {
    json!({"accounts": {"a": {"appKey": KEY_A}, "b": {"appKey": KEY_B}}, "defaultAccount": "a"})
}

fn one_account() -> Value {
    json!({"appKey": KEY_A})
}

#[derive(Debug)]
enum Final {
    Delivered(SendReceipt),
    Failed(ChannelError),
}

/// Run every queue to completion; returns each request's final outcome by idempotency key.
fn run(fleet: &Fleet, queues: Vec<(Plugin, VecDeque<SendRequest>)>) -> HashMap<String, Final> {
    struct Slot {
        plugin: Plugin,
        queue: VecDeque<SendRequest>,
        ready_at: u64,
    }
    let mut slots: Vec<Slot> = queues
        .into_iter()
        .map(|(plugin, queue)| Slot {
            plugin,
            queue,
            ready_at: fleet.clock.now_ms(),
        })
        .collect();
    let mut done = HashMap::new();
    for _ in 0..200_000 {
        let Some(slot) = slots
            .iter_mut()
            .filter(|s| !s.queue.is_empty())
            .min_by_key(|s| s.ready_at)
        else {
            return done;
        };
        fleet.clock.advance_to(slot.ready_at);
        let req = slot.queue.front().unwrap().clone();
        let outcome = slot.plugin.send(&req).expect("no trap");
        let now = fleet.clock.now_ms();
        match outcome {
            Ok(r) => {
                done.insert(req.idempotency_key.clone(), Final::Delivered(r));
                slot.queue.pop_front();
                slot.ready_at = now;
            }
            Err(e) => match retry_hint(&e) {
                Some((ms, _)) => slot.ready_at = now + ms.max(1),
                None => {
                    done.insert(req.idempotency_key.clone(), Final::Failed(e));
                    slot.queue.pop_front();
                    slot.ready_at = now;
                }
            },
        }
    }
    panic!("the simulation did not finish");
}

fn req(account: &str, i: usize, text: String) -> SendRequest {
    SendRequest {
        account: Some(account.into()),
        target: format!("conversation:{ROOM}"),
        text,
        idempotency_key: format!("msg-{i}"),
        format: host_test::wit::TextFormat::Plain,
        blocks: None,
        buttons: vec![],
    }
}

fn max_in_any_window(recorded: &[Recorded]) -> usize {
    let times: Vec<u64> = recorded.iter().map(|r| r.at_ms).collect();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= 60_000 {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn assert_no_duplicates(fleet: &Fleet) {
    let posted = fleet.emulator.posted();
    let mut seen = std::collections::HashSet::new();
    for p in &posted {
        assert!(seen.insert(p.text.clone()), "posted twice: {}", p.text);
    }
}

/// `instances` senders, messages spread over `accounts`, 1,000 messages in all.
fn saturate(instances: usize, accounts: &[&str]) {
    saturate_on(MemoryKv::new(), instances, accounts);
}

/// The same, the instances sharing `kv`.
fn saturate_on(kv: Arc<dyn KvStore>, instances: usize, accounts: &[&str]) {
    let section = if accounts.len() == 1 {
        one_account()
    } else {
        two_accounts()
    };
    let fleet = Fleet::on(kv, 200, section, |_| {});
    let total = 1000;
    let acct = |i: usize| {
        if accounts.len() == 1 {
            "default"
        } else {
            accounts[i % accounts.len()]
        }
    };
    let queues = fleet.queues(instances, total, |i| {
        req(acct(i), i, format!("message {i}"))
    });
    let done = run(&fleet, queues);
    assert_eq!(done.len(), total);
    assert!(
        done.values()
            .all(|f| matches!(f, Final::Delivered(r) if !r.ambiguous)),
        "all delivered"
    );
    let posted = fleet.emulator.posted();
    assert_eq!(posted.len(), total, "0 lost");
    assert_no_duplicates(&fleet);

    let recorded = fleet.emulator.requests();
    assert!(
        recorded.iter().all(|r| r.status == 200),
        "no request was refused"
    );
    let peak = max_in_any_window(&recorded);
    assert!(
        peak <= 200,
        "{instances} instances: {peak} requests in one 60 s window"
    );
    let sends: Vec<&Recorded> = recorded
        .iter()
        .filter(|r| r.path == "/v1/messages.send")
        .collect();
    let span = sends.last().unwrap().at_ms - sends.first().unwrap().at_ms;
    let per_minute = (sends.len() - 1) as f64 * 60_000.0 / span as f64;
    assert!(
        per_minute >= 190.0,
        "{instances} instances: {per_minute:.1} messages/min, below 95% of 200"
    );
    eprintln!(
        "{instances} instance(s), accounts {accounts:?}: peak {peak}/60 s, {per_minute:.1} messages/min"
    );
}

#[test]
fn one_instance_saturates_within_the_budget() {
    saturate(1, &["default"]);
}

#[test]
fn two_instances_two_accounts_share_the_workspace_budget() {
    saturate(2, &["a", "b"]);
}

#[test]
fn four_instances_share_the_workspace_budget() {
    saturate(4, &["a", "b"]);
}

#[test]
fn four_instances_on_one_redis_share_the_workspace_budget() {
    let server = host_test::runtime::kv::redis_server::RedisServer::start().unwrap();
    let kv = host_test::runtime::kv::RedisKv::open(&server.url(), "kakaowork-channel/").unwrap();
    saturate_on(Arc::new(kv), 4, &["a", "b"]);
}

#[test]
fn a_server_budget_below_the_clients_is_learned() {
    // Three instances on one state, configured for 200/min against a server that allows 100.
    let fleet = Fleet::new(100, two_accounts(), |_| {});
    let total = 300;
    let queues = fleet.queues(3, total, |i| {
        req(["a", "b"][i % 2], i, format!("low budget {i}"))
    });
    let done = run(&fleet, queues);
    assert!(
        done.values()
            .all(|f| matches!(f, Final::Delivered(r) if !r.ambiguous))
    );
    assert_eq!(fleet.emulator.posted().len(), total, "0 lost");
    assert_no_duplicates(&fleet);
    let recorded = fleet.emulator.requests();
    let refused = recorded.iter().filter(|r| r.status == 429).count();
    assert_eq!(refused, 0, "no request was refused");
    // Every request counts, those made before the lower limit was known included.
    let worst = max_in_any_window(&recorded);
    assert!(worst <= 100, "{worst} requests in one 60 s window");
}

/// Every kind of fault on each of the three calls a send makes: what KakaoWork did not do, what
/// it did and then failed to say, and what it said too late.
fn fault_matrix(fleet: &Fleet, seed: u64) {
    let all = [
        Fault::Status(503),
        Fault::StatusAfterWork(500),
        Fault::StatusAfterWork(502),
        Fault::DropBeforeBody,
        Fault::DropAfterBody,
        Fault::Delay(600),
    ];
    fleet
        .emulator
        .inject_randomly(Some("/v1/messages.send"), 150, &all, seed);
    // These two are called once per account or user and then cached: fault them often.
    fleet
        .emulator
        .inject_randomly(Some("/v1/conversations.open"), 500, &all, seed + 1);
    fleet
        .emulator
        .inject_randomly(Some("/v1/spaces.info"), 500, &all, seed + 2);
}

/// Message `i`: to the room, or to one of the emulator's five users (through their DM).
fn faulty(i: usize) -> SendRequest {
    let target = if i.is_multiple_of(3) {
        format!("user:{}", 10_000_001 + (i / 3) % 5)
    } else {
        format!("conversation:{ROOM}")
    };
    SendRequest {
        target,
        ..req(["a", "b"][i % 2], i, format!("faulty {i}"))
    }
}

#[test]
fn at_most_once_under_every_fault_nothing_is_stored_twice_and_every_report_is_true() {
    let fleet = Fleet::new(200, two_accounts(), |p| {
        p.max_timeout = Duration::from_millis(300);
    });
    fault_matrix(&fleet, 42);
    let total = 1000;
    let done = run(&fleet, fleet.queues(2, total, faulty));
    assert_eq!(done.len(), total);
    assert_no_duplicates(&fleet);
    let posted: HashMap<String, String> = fleet
        .emulator
        .posted()
        .into_iter()
        .map(|p| (p.text, p.id))
        .collect();
    let (mut delivered, mut ambiguous, mut failed) = (0, 0, 0);
    for i in 0..total {
        let key = format!("msg-{i}");
        let account = ["a", "b"][i % 2];
        let on_server = posted.get(&format!("faulty {i}"));
        let ledger = fleet.ledger(account, &key);
        match &done[&key] {
            Final::Delivered(r) if !r.ambiguous => {
                delivered += 1;
                let chunk = &ledger.as_ref().expect("a ledger").chunks[0];
                assert_eq!(chunk.state, ChunkState::Sent);
                assert_eq!(
                    on_server,
                    chunk.message_id.as_ref(),
                    "ledger and server agree on {key}"
                );
                assert_eq!(r.message_id.as_ref(), on_server);
            }
            Final::Delivered(_) => {
                // Reported as unknown: stored once or not at all (no duplicates, above).
                ambiguous += 1;
                let chunk = &ledger.as_ref().expect("a ledger").chunks[0];
                assert_eq!(chunk.state, ChunkState::Ambiguous, "{key}");
            }
            Final::Failed(e) => {
                failed += 1;
                if let Some(l) = &ledger {
                    assert_eq!(l.chunks[0].state, ChunkState::Pending, "{key}: {e:?}");
                }
                assert!(on_server.is_none(), "{key} failed but is on the server");
            }
        }
    }
    let faulted = |path: &str| {
        fleet
            .emulator
            .requests()
            .iter()
            .filter(|r| r.fault.is_some() && r.path == path)
            .count()
    };
    let (sends, opens, spaces) = (
        faulted("/v1/messages.send"),
        faulted("/v1/conversations.open"),
        faulted("/v1/spaces.info"),
    );
    eprintln!(
        "faults: {sends} messages.send, {opens} conversations.open, {spaces} spaces.info; \
         {delivered} delivered, {ambiguous} ambiguous, {failed} failed"
    );
    assert!(
        sends >= 100 && opens >= 1 && spaces >= 1,
        "the fault plan fired everywhere"
    );
    assert!(
        ambiguous >= 10,
        "faults after the work make unknown outcomes"
    );
    assert!(
        delivered >= total * 8 / 10,
        "safe calls and refused sends are retried"
    );
}

#[test]
fn at_least_once_under_every_fault_every_message_arrives() {
    let section = json!({"accounts": {"a": {"appKey": KEY_A}, "b": {"appKey": KEY_B}},
        "defaultAccount": "a", "delivery": "at-least-once"});
    let fleet = Fleet::new(200, section, |p| {
        p.max_timeout = Duration::from_millis(300);
    });
    fault_matrix(&fleet, 7);
    let total = 200;
    let mut done = run(&fleet, fleet.queues(2, total, faulty));
    // A part whose six attempts all met a fault is reported without a retry hint (about one
    // run in a hundred has one); the host may resume it later with the same key, and it goes on.
    for _ in 0..3 {
        let again: VecDeque<SendRequest> = (0..total)
            .filter(|i| {
                matches!(
                    done[&format!("msg-{i}")],
                    Final::Failed(ChannelError::Transport(_))
                )
            })
            .map(faulty)
            .collect();
        if again.is_empty() {
            break;
        }
        done.extend(run(&fleet, vec![(fleet.instance(), again)]));
    }
    let posted: Vec<String> = fleet
        .emulator
        .posted()
        .into_iter()
        .map(|p| p.text)
        .collect();
    for i in 0..total {
        let key = format!("msg-{i}");
        assert!(
            matches!(&done[&key], Final::Delivered(r) if !r.ambiguous),
            "{key}: {:?}",
            done[&key]
        );
        assert!(posted.contains(&format!("faulty {i}")), "{key} was lost");
    }
}

fn long_text() -> String {
    (0..6)
        .map(|i| format!("Paragraph {i}: {}", "내용 ".repeat(20)))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `text` for the room on the default account, under idempotency key `key`.
fn to_room(text: &str, key: &str) -> SendRequest {
    SendRequest {
        account: None,
        target: format!("conversation:{ROOM}"),
        text: text.into(),
        idempotency_key: key.into(),
        format: host_test::wit::TextFormat::Plain,
        blocks: None,
        buttons: vec![],
    }
}

fn assert_chunks_once_in_order(fleet: &Fleet, text: &str, receipt: &SendReceipt) {
    let posted = fleet.emulator.posted();
    assert_eq!(posted.len(), receipt.chunks.len());
    assert!(
        receipt.chunks.len() >= 4,
        "the text was split: {}",
        receipt.chunks.len()
    );
    let ids: Vec<String> = receipt
        .chunks
        .iter()
        .map(|c| c.message_id.clone().unwrap())
        .collect();
    let server_ids: Vec<String> = posted.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, server_ids, "every chunk exactly once, in order");
    let joined: String = posted.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(joined, text);
}

#[test]
fn dropped_instance_between_chunks_is_resumed_by_a_new_one() {
    // A budget of 2 requests at a time: the first instance is deferred part-way.
    let section = json!({"appKey": KEY_A, "textChunkLimit": 100, "rateLimit": {"requestsPerMinute": 40, "burst": 3}});
    let fleet = Fleet::new(200, section, |_| {});
    let text = long_text();
    let request = to_room(&text, "long-1");
    let mut first = fleet.instance();
    let wait = match first.send(&request).unwrap() {
        Err(ChannelError::Deferred(ms)) => ms,
        other => panic!("expected a deferral part-way, got {other:?}"),
    };
    let sent_before = fleet.emulator.posted().len();
    assert!((1..4).contains(&sent_before), "{sent_before}");
    drop(first);

    let mut second = fleet.instance();
    fleet.clock.advance(wait);
    let report =
        host_test::serve::delivery::deliver(&mut second, &request, &fleet.clock, 100, |_, _| {})
            .unwrap();
    let receipt = report.outcome.unwrap();
    assert_chunks_once_in_order(&fleet, &text, &receipt);
}

#[test]
fn a_server_error_part_way_is_resumed_without_resending() {
    // at-least-once: a part answered with a 5xx the emulator did not store is sent again.
    let section = json!({"appKey": KEY_A, "textChunkLimit": 100, "delivery": "at-least-once"});
    let fleet = Fleet::new(200, section, |_| {});
    let text = long_text();
    let request = to_room(&text, "long-2");
    let mut first = fleet.instance();
    first
        .send(&SendRequest {
            idempotency_key: "warm".into(),
            format: host_test::wit::TextFormat::Plain,
            blocks: None,
            buttons: vec![],
            text: "warm-up".into(),
            ..request.clone()
        })
        .unwrap()
        .unwrap();
    // The warm-up's lookups (the workspace, the conversation) and send spent most of the burst.
    fleet.clock.advance(60_000);
    let before = fleet.emulator.posted().len();
    // Two chunks pass, the third meets a 502; then the instance is dropped.
    fleet
        .emulator
        .inject_after(Some("/v1/messages.send"), 2, Fault::Status(502));
    match first.send(&request).unwrap() {
        Err(ChannelError::Transport(t)) => assert!(t.retry_after_ms.is_some(), "{t:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fleet.emulator.posted().len() - before, 2);
    drop(first);
    let mut second = fleet.instance();
    let report =
        host_test::serve::delivery::deliver(&mut second, &request, &fleet.clock, 100, |_, _| {})
            .unwrap();
    let receipt = report.outcome.unwrap();
    let posted: Vec<_> = fleet.emulator.posted().into_iter().skip(before).collect();
    let ids: Vec<String> = receipt
        .chunks
        .iter()
        .map(|c| c.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids, posted.iter().map(|p| p.id.clone()).collect::<Vec<_>>());
    assert_eq!(
        posted.iter().map(|p| p.text.as_str()).collect::<String>(),
        text
    );
}
