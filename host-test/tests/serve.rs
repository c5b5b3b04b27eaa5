//! The callback server under attack: slow clients, a guest that traps, and twenty thousand
//! generated hostile requests, over HTTP and straight into `handle-callback`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions, Fault};
use host_test::runtime::clock::Clock;
use host_test::runtime::config::prepare;
use host_test::runtime::kv::MemoryKv;
use host_test::runtime::pool::{Pool, PoolError};
use host_test::runtime::{HostEnv, Plugin, Runtime, RuntimeOptions};
use host_test::serve::CallbackServer;
use host_test::wit::{CallbackRequest, InboundEvent, SendRequest};
use serde_json::{Value, json};

const SECRET: &str = "s3cr3t-token-abcdefghijklmnop";
const PATH: &str = "/kakaowork/default/callback";
const USER: u64 = 10000003;

struct Served {
    emulator: Emulator,
    server: CallbackServer,
    pool: Arc<Pool>,
    agent: Mutex<Plugin>,
    events: Arc<Mutex<Vec<InboundEvent>>>,
}

fn served(rt: &'static Runtime, instances: usize, read_deadline: Duration) -> Served {
    served_on(rt, instances, read_deadline, vec![])
}

/// As [`served`], with the host's own token check for the callback paths of `tokens`.
fn served_on(
    rt: &'static Runtime,
    instances: usize,
    read_deadline: Duration,
    tokens: Vec<(String, String)>,
) -> Served {
    let clock = Clock::fake(1_700_000_000_000);
    let emulator = Emulator::start(EmulatorOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    let section = json!({"apiBase": emulator.base_url(), "appKey": DEFAULT_APP_KEY,
        "callbackSecret": SECRET, "dmPolicy": "allowlist", "allowFrom": [USER.to_string()],
        "groupPolicy": "open"});
    let prepared = prepare(section, None).unwrap();
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: MemoryKv::new(),
        clock,
    };
    let configured = move || -> wasmtime::Result<Plugin> {
        let mut p = rt.instantiate(&env)?;
        p.configure(&prepared.redacted_json, &prepared.credentials)?
            .map_err(|e| wasmtime::Error::msg(format!("{e:?}")))?;
        Ok(p)
    };
    let agent = Mutex::new(configured().unwrap());
    let pool = Arc::new(Pool::new(instances, Box::new(configured)).unwrap());
    let events: Arc<Mutex<Vec<InboundEvent>>> = Arc::default();
    let sink = events.clone();
    let server = CallbackServer::launch(
        "127.0.0.1:0",
        pool.clone(),
        Arc::new(move |e| sink.lock().unwrap().push(e.clone())),
        read_deadline,
        Arc::new(tokens),
    )
    .unwrap();
    Served {
        emulator,
        server,
        pool,
        agent,
        events,
    }
}

impl Served {
    fn url(&self) -> String {
        self.server.url(&format!("{PATH}?token={SECRET}"))
    }

    /// The agent writes to `target`; the message id.
    fn says(&self, target: &str, text: &str) -> String {
        let req = SendRequest {
            account: None,
            target: target.into(),
            text: text.into(),
            idempotency_key: format!("says-{text}"),
            format: host_test::wit::TextFormat::Plain,
            blocks: None,
            buttons: vec![],
        };
        let r = self.agent.lock().unwrap().send(&req).unwrap().unwrap();
        r.message_id.expect("a delivered message has an id")
    }

    /// As `says`, with a button of the agent's under the text.
    fn says_with_button(&self, target: &str, text: &str) -> String {
        let req = SendRequest {
            account: None,
            target: target.into(),
            text: text.into(),
            idempotency_key: format!("says-{text}"),
            format: host_test::wit::TextFormat::Plain,
            blocks: None,
            buttons: vec![host_test::wit::ActionButton {
                label: "승인".into(),
                name: "approve".into(),
                value: "deploy:1".into(),
                style: host_test::wit::ButtonStyle::Primary,
            }],
        };
        let r = self.agent.lock().unwrap().send(&req).unwrap().unwrap();
        r.message_id.expect("a delivered message has an id")
    }
}

#[test]
fn forged_callbacks_are_refused_before_they_take_an_instance() {
    let s = served_on(
        common::runtime(),
        2,
        Duration::from_secs(10),
        vec![(PATH.to_owned(), SECRET.to_owned())],
    );
    let msg = s.says(&format!("user:{USER}"), "forged");
    let before = s.pool.taken();
    let wrong = s
        .server
        .url(&format!("{PATH}?token=s3cr3t-token-abcdefghijklmnoX"));
    // 8 clients at a time, 400 requests with a wrong token and a 64 KiB body.
    let body = "x".repeat(64 * 1024);
    let forgers: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (wrong.clone(), body.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(20)))
                    .build()
                    .into();
                (0..50)
                    .map(|_| {
                        agent
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .send(&body)
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    // Meanwhile the user's click is answered with the modal.
    let (status, modal) = s.emulator.click(&s.url(), &msg, "답장하기", USER).unwrap();
    assert_eq!(status, 200, "{modal}");
    assert!(modal["view"].is_object(), "{modal}");
    let statuses: Vec<u16> = forgers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(statuses.len(), 400);
    assert!(statuses.iter().all(|&c| c == 401), "{statuses:?}");
    // Only the real click took an instance.
    assert_eq!(s.pool.taken() - before, 1);
    assert!(s.events.lock().unwrap().is_empty());
}

#[test]
fn slow_clients_do_not_delay_a_valid_callback_and_are_closed_after_the_deadline() {
    let deadline = Duration::from_secs(2);
    let s = served(common::runtime(), 2, deadline);
    let msg = s.says(&format!("user:{USER}"), "slow clients");
    let addr = s.server.addr();
    // 500 connections: half send their headers and then the body a byte at a time, half
    // their headers a byte at a time.
    let mut slow: Vec<TcpStream> = (0..500)
        .map(|i| {
            let mut c = TcpStream::connect(addr).unwrap();
            let head = if i % 2 == 0 {
                format!(
                    "POST {PATH}?token={SECRET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
                )
            } else {
                format!("POST {PATH}?token={SECRET} HTTP/1.1\r\nHost: x\r\n")
            };
            c.write_all(head.as_bytes()).unwrap();
            c
        })
        .collect();
    let drip = {
        let mut handles: Vec<TcpStream> = slow.iter().map(|c| c.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            for _ in 0..4 {
                std::thread::sleep(Duration::from_secs(1));
                for c in &mut handles {
                    let _ = c.write_all(b" ");
                }
            }
        })
    };
    let started = Instant::now();
    let (status, modal) = s.emulator.click(&s.url(), &msg, "답장하기", USER).unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{modal}");
    assert!(modal["view"].is_object(), "{modal}");
    assert!(
        took < Duration::from_secs(1),
        "the valid callback took {took:?}"
    );

    // Each slow connection is closed once the deadline has passed (408 for a late body).
    let mut closed = 0;
    let mut answered_408 = 0;
    for c in &mut slow {
        c.set_read_timeout(Some(deadline * 4)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            match c.read(&mut buf) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed += 1;
                    break;
                }
                Err(e) => panic!("a slow connection is still open: {e}"),
            }
        }
        if got.starts_with(b"HTTP/1.1 408") {
            answered_408 += 1;
        }
    }
    drip.join().unwrap();
    assert_eq!(closed, 500);
    assert!(answered_408 >= 200, "{answered_408} bodies answered 408");
    assert!(s.events.lock().unwrap().is_empty());
}

fn short_deadline_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(
            host_test::component_bytes(),
            RuntimeOptions {
                call_deadline: Duration::from_millis(300),
                ..RuntimeOptions::default()
            },
        )
        .unwrap()
    })
}

#[test]
fn a_trapped_instance_is_replaced_and_the_next_callback_is_answered() {
    // One instance, so the next callback gets the one that replaced the trapped one.
    let s = served(short_deadline_runtime(), 1, Duration::from_secs(10));
    let msg = s.says(&format!("user:{USER}"), "trap");
    let (_, modal) = s.emulator.click(&s.url(), &msg, "답장하기", USER).unwrap();
    // Looking up the sender's name takes longer than a call may: the guest traps.
    s.emulator
        .inject(Some("/v1/users.info"), Fault::Delay(1_000));
    let (status, body) = s
        .emulator
        .submit(&s.url(), &msg, USER, &modal["view"], &[("reply", "first")])
        .unwrap();
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body,
        json!({"error": "internal error"}),
        "no internal detail"
    );
    assert_eq!(s.pool.replaced(), 1);

    // KakaoWork tries the same submission again: it was not lost to the trap.
    let (status, modal) = s.emulator.click(&s.url(), &msg, "답장하기", USER).unwrap();
    assert_eq!(status, 200, "{modal}");
    let (status, body) = s
        .emulator
        .submit(&s.url(), &msg, USER, &modal["view"], &[("reply", "first")])
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let events = s.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].text, "first");
    // And a true replay of it makes nothing more.
    let (status, _) = s
        .emulator
        .submit(&s.url(), &msg, USER, &modal["view"], &[("reply", "first")])
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(s.events.lock().unwrap().len(), 1);
}

/// SplitMix64: seeded, so every run sends the same requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Real material to build hostile requests from: a DM and a group message with their button
/// values, and a modal value opened by the DM's user.
struct Material {
    dm: Value,
    group: Value,
    button: String,
    group_button: String,
    /// The `submit_action` value of a button on the group message.
    group_action: String,
    modal: String,
}

fn material(s: &Served) -> Material {
    let dm = s.says(&format!("user:{USER}"), "hostile dm");
    let group = s.says_with_button("conversation:3000001", "hostile group");
    let posted = s.emulator.posted();
    let find = |id: &str| posted.iter().find(|p| p.id == id).unwrap().clone();
    let value_of = |blocks: &Value| {
        blocks
            .as_array()
            .and_then(|b| b.last())
            .map(|a| a["elements"][0]["value"].as_str().unwrap_or("").to_owned())
            .unwrap()
    };
    let (d, g) = (find(&dm), find(&group));
    let group_action = g
        .blocks
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_type"] == "submit_action")
        .and_then(|e| e["value"].as_str().map(str::to_owned))
        .unwrap();
    let (_, modal) = s.emulator.click(&s.url(), &dm, "답장하기", USER).unwrap();
    let body = |id: &str, conv: u64| {
        json!({"type": "submit_action", "action_time": "1700000000",
            "message": {"id": id, "conversation_id": conv}, "react_user_id": USER, "value": ""})
    };
    Material {
        dm: body(&d.id, d.conversation_id),
        group: body(&g.id, g.conversation_id),
        button: value_of(&d.blocks),
        group_button: value_of(&g.blocks),
        group_action,
        modal: modal["view"]["value"].as_str().unwrap().to_owned(),
    }
}

fn deep(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// One hostile body. Each breaks something: the bytes, the types, an id, the signature, or
/// where a valid value is used. None of them may become an event.
fn hostile(rng: &mut Rng, m: &Material) -> Vec<u8> {
    let odd_values = [
        json!(-1),
        json!(0),
        json!(1e300),
        json!(18446744073709551616u128.to_string()),
        json!("9".repeat(5000)),
        json!("abc"),
        json!("../../etc"),
        json!(null),
        json!([]),
        json!({}),
        json!(true),
        json!("1|2"),
    ];
    let mut b = if rng.below(2) == 0 {
        m.dm.clone()
    } else {
        m.group.clone()
    };
    match rng.below(13) {
        0 => {
            let n = rng.below(2000) as usize;
            return (0..n).map(|_| rng.next() as u8).collect();
        }
        1 => {
            // A field of the wrong type or size.
            let v = rng.pick(&odd_values).clone();
            match rng.below(5) {
                0 => b["message"]["id"] = v,
                1 => b["message"]["conversation_id"] = v,
                2 => b["react_user_id"] = v,
                3 => b["value"] = v,
                _ => b["type"] = v,
            }
        }
        2 => {
            let d = deep(1 + rng.below(100_000) as usize);
            let s = b
                .to_string()
                .replacen("\"value\":\"\"", &format!("\"value\":{d}"), 1);
            return s.into_bytes();
        }
        3 => {
            // A forged value: the right shape, a made-up tag.
            let tag: String = (0..32).map(|_| format!("{:x}", rng.below(16))).collect();
            b["value"] = json!(format!(
                "kw2|reply|default|{}|{USER}|{:x}|{tag}",
                b["message"]["conversation_id"],
                rng.next()
            ));
        }
        4 => {
            // The DM's button, moved: to another user, conversation or message.
            b = m.dm.clone();
            b["value"] = json!(m.button);
            match rng.below(3) {
                0 => b["react_user_id"] = json!(USER + 1 + rng.below(1000)),
                1 => {
                    b["message"]["conversation_id"] = m.group["message"]["conversation_id"].clone()
                }
                _ => b["message"]["id"] = m.group["message"]["id"].clone(),
            }
        }
        5 => {
            // The group's button in the DM's conversation, or on the DM's message.
            b = m.group.clone();
            b["value"] = json!(m.group_button);
            if rng.below(2) == 0 {
                b["message"]["conversation_id"] = m.dm["message"]["conversation_id"].clone();
            } else {
                b["message"]["id"] = m.dm["message"]["id"].clone();
            }
        }
        6 => {
            // The DM user's modal, submitted by someone else or for another message.
            b = m.dm.clone();
            b["type"] = json!("submission");
            b["value"] = json!(m.modal);
            b["actions"] = json!({"reply": "taken over"});
            if rng.below(2) == 0 {
                b["react_user_id"] = json!(USER + 1 + rng.below(1000));
            } else {
                b["message"]["id"] = m.group["message"]["id"].clone();
                b["message"]["conversation_id"] = m.group["message"]["conversation_id"].clone();
            }
        }
        7 => {
            // A tampered byte in a real value.
            let mut v = m.button.clone().into_bytes();
            let i = rng.below(v.len() as u64) as usize;
            v[i] = if v[i] == b'0' { b'1' } else { b'0' };
            b = m.dm.clone();
            b["value"] = json!(String::from_utf8_lossy(&v));
        }
        8 => {
            // Unknown or missing parts.
            let o = b.as_object_mut().unwrap();
            let key = rng
                .pick(&["type", "message", "react_user_id", "value"])
                .to_string();
            if rng.below(2) == 0 {
                o.remove(&key);
            } else {
                o.insert("type".into(), json!(format!("t{}", rng.next())));
            }
        }
        10 => {
            // A real value with a callback type it was not made for.
            b = m.dm.clone();
            let (kind, value) = rng
                .pick(&[
                    ("submission", &m.button),
                    ("submit_action", &m.button),
                    ("submit_action", &m.modal),
                    ("request_modal", &m.modal),
                ])
                .to_owned();
            b["type"] = json!(kind);
            b["value"] = json!(value);
            b["actions"] = json!({"reply": "wrong type"});
        }
        11 => {
            // A click on the group's button by someone who cannot be a clicking member.
            b = m.group.clone();
            b["value"] = json!(m.group_action);
            let bot = host_test::emulator::BOT_USER_ID;
            let who = rng
                .pick(&[
                    json!(bot),
                    json!(bot.to_string()),
                    json!(0),
                    json!("0"),
                    json!(1u64 << 53),
                    json!(u64::MAX),
                ])
                .clone();
            if rng.below(2) == 0 {
                b["message"]["user_id"] = who.clone();
            }
            b["react_user_id"] = who;
        }
        12 => {
            // A click on the group's button with a malformed `action_time`.
            b = m.group.clone();
            b["value"] = json!(m.group_action);
            b["react_user_id"] = json!(USER + 1 + rng.below(1000));
            let time = rng
                .pick(&[
                    json!(""),
                    json!("-1"),
                    json!(-1),
                    json!(-1700000000),
                    json!(1.5),
                    json!("x"),
                    json!("2023-13-45"),
                    json!("1700000000 OR 1=1"),
                    json!(null),
                    json!({}),
                    json!([]),
                ])
                .clone();
            if time.is_null() {
                b.as_object_mut().unwrap().remove("action_time");
            } else {
                b["action_time"] = time;
            }
        }
        _ => {
            // A message id the bot never sent, with a real value.
            b["message"]["id"] = json!(rng.next() >> 1);
            b["value"] = json!(m.button);
        }
    }
    b.to_string().into_bytes()
}

#[test]
fn ten_thousand_hostile_callbacks_make_no_trap_no_event_and_no_500() {
    let s = served(common::runtime(), 2, Duration::from_secs(10));
    let m = material(&s);
    let mut rng = Rng(0x5EED_CA11_BAC4);
    let mut statuses = std::collections::BTreeMap::new();
    // Straight into handle-callback.
    for _ in 0..10_000 {
        let req = CallbackRequest {
            method: "POST".into(),
            path: PATH.into(),
            query: format!("token={SECRET}"),
            headers: vec![("content-type".into(), "application/json".into())],
            body: hostile(&mut rng, &m),
        };
        let status = match s
            .pool
            .with(Duration::from_secs(5), |p| p.handle_callback(&req))
        {
            Ok(Ok(o)) => {
                assert!(
                    o.events.is_empty(),
                    "{}",
                    String::from_utf8_lossy(&req.body)
                );
                o.response.status
            }
            Ok(Err(e)) => panic!("{e:?} for {}", String::from_utf8_lossy(&req.body)),
            Err(PoolError::Trap(t)) => {
                panic!("trap {t} for {}", String::from_utf8_lossy(&req.body))
            }
            Err(e) => panic!("{e}"),
        };
        *statuses.entry(status).or_insert(0) += 1;
    }
    // And over HTTP, where the transport can be wrong too.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    for i in 0..10_000 {
        let body = hostile(&mut rng, &m);
        let url = match i % 10 {
            0 => s.server.url(&format!("{PATH}?token=wrong")),
            1 => s.server.url("/kakaowork/nobody/callback"),
            _ => s.url(),
        };
        let ctype = if i % 10 == 2 {
            "text/plain"
        } else {
            "application/json"
        };
        let r = agent
            .post(&url)
            .header("Content-Type", ctype)
            .send(&body[..])
            .unwrap();
        let status = r.status().as_u16();
        *statuses.entry(status).or_insert(0) += 1;
    }
    eprintln!("answers by status: {statuses:?}");
    assert!(
        statuses.keys().all(|s| (200..500).contains(s)),
        "{statuses:?}"
    );
    assert!(s.events.lock().unwrap().is_empty());
    assert_eq!(s.pool.replaced(), 0, "no trap");
    assert!(
        statuses.get(&403).copied().unwrap_or(0) > 1000,
        "{statuses:?}"
    );
    // The material is live: the group button's value, clicked by a member at a KakaoWork time,
    // is an event (so the generated senders and times above were refused for what they are).
    let mut click = m.group.clone();
    click["value"] = json!(m.group_action);
    click["react_user_id"] = json!(USER + 5000);
    let r = agent
        .post(&s.url())
        .header("Content-Type", "application/json")
        .send(click.to_string().as_bytes())
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(s.events.lock().unwrap().len(), 1);
}

/// A client sending a body over the limit reads its 413 rather than a reset connection: the
/// server reads (and drops) the rest before it answers, up to 4 MiB.
#[test]
fn an_oversized_body_is_answered_413_not_cut_off() {
    let s = served(common::runtime(), 1, Duration::from_secs(10));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    for len in [64 * 1024 + 1, 200 * 1024, 4 << 20] {
        // Written slowly, as a busy or distant client does: the server's answer must wait for it.
        let mut body = Trickle { left: len };
        let r = agent
            .post(&s.url())
            .header("Content-Type", "application/json")
            .header("Content-Length", len.to_string())
            .send(ureq::SendBody::from_reader(&mut body));
        match r {
            Ok(r) => assert_eq!(r.status().as_u16(), 413, "{len} bytes"),
            Err(e) => panic!("{len} bytes: {e}"),
        }
    }
    // The server still answers.
    let m = material(&s);
    let r = agent
        .post(&s.url())
        .header("Content-Type", "application/json")
        .send(m.dm.to_string().as_bytes())
        .unwrap();
    assert!(r.status().as_u16() < 500);
    assert!(s.events.lock().unwrap().is_empty());
}

/// `left` bytes of `[`, 32 KiB at a time, with a pause every 64 KiB.
struct Trickle {
    left: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(32 * 1024);
        if n > 0 && self.left % (64 * 1024) < n {
            std::thread::sleep(Duration::from_millis(10));
        }
        buf[..n].fill(b'[');
        self.left -= n;
        Ok(n)
    }
}
