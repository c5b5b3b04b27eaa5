//! Inbound: KakaoWork callbacks through wasmtime, with the emulator playing a user over real
//! HTTP, and a table of hostile requests.

mod common;

use host_test::emulator::DM_ROOM_BASE;
use host_test::wit::{CallbackRequest, ChatType, EventKind, SendRequest};
use serde_json::{Value, json};

use common::inbound::{PATH, SECRET, inbound};

#[test]
fn reply_button_modal_and_submission_make_one_event() {
    let t = inbound(json!({"dmPolicy": "allowlist", "allowFrom": ["10000003"]}));
    let msg = t.agent_says(10000003, "내일 회의에 참석하시나요?", "q1");
    let posted = t.emulator.posted();
    let blocks = posted[0].blocks.to_string();
    assert!(
        blocks.contains("답장하기") && blocks.contains("call_modal"),
        "{blocks}"
    );

    let (status, modal) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000003)
        .unwrap();
    assert_eq!(status, 200, "{modal}");
    let view = &modal["view"];
    assert!(
        view["title"].is_string() && view["accept"].is_string() && view["decline"].is_string(),
        "{modal}"
    );
    assert_eq!(view["blocks"][1]["type"], "input");
    assert!(t.events().is_empty(), "opening the modal is not a message");

    let (status, _) = t
        .emulator
        .submit(
            &t.url(),
            &msg,
            10000003,
            view,
            &[("reply", "네, 참석합니다. 안건을 보내주세요")],
        )
        .unwrap();
    assert_eq!(status, 200);
    let events = t.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.kind, EventKind::Text);
    assert_eq!(e.text, "네, 참석합니다. 안건을 보내주세요");
    assert_eq!(
        (e.account.as_str(), e.sender_id.as_str()),
        ("default", "10000003")
    );
    assert_eq!(e.sender_name.as_deref(), Some("박지훈"));
    let conv = (DM_ROOM_BASE + 3).to_string();
    assert_eq!(e.conversation_id, conv);
    assert_eq!(e.chat_type, ChatType::Direct);
    assert_eq!(e.from, "kakaowork:10000003");
    assert_eq!(e.to, format!("kakaowork:{conv}"));
    assert!(e.message_id.starts_with(&msg));
}

#[test]
fn replays_are_dropped_and_distinct_submissions_are_kept() {
    let t = inbound(json!({"dmPolicy": "open"}));
    let msg = t.agent_says(10000001, "무엇을 도와드릴까요?", "q2");
    let (_, modal) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000001)
        .unwrap();
    let send = |text: &str| {
        t.emulator
            .submit(&t.url(), &msg, 10000001, &modal["view"], &[("reply", text)])
            .unwrap()
            .0
    };
    assert_eq!(send("first"), 200);
    assert_eq!(send("first"), 200, "a replay is answered 200");
    assert_eq!(t.events().len(), 1, "and makes no event");
    t.clock.advance(1000);
    // A modal takes one submission: a second answer opens a fresh one.
    assert_eq!(send("second"), 200);
    assert_eq!(t.events().len(), 1, "a second submission through one modal");
    let (_, modal) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000001)
        .unwrap();
    let (status, _) = t
        .emulator
        .submit(
            &t.url(),
            &msg,
            10000001,
            &modal["view"],
            &[("reply", "second")],
        )
        .unwrap();
    assert_eq!(status, 200);
    let events = t.events();
    assert_eq!(events.len(), 2);
    assert_ne!(
        events[0].message_id, events[1].message_id,
        "two answers to one message are two events"
    );
    assert_eq!(events[1].text, "second");
}

#[test]
fn pairing_through_callbacks() {
    let t = inbound(json!({"dmPolicy": "pairing"}));
    let msg = t.agent_says(10000004, "안녕하세요", "q3");
    let (status, body) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000004)
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        body.get("view").is_none(),
        "no modal for an unpaired user: {body}"
    );
    assert!(t.events().is_empty());
    let posted = t.emulator.posted();
    let reply = posted.last().unwrap();
    assert!(reply.text.contains("Pairing code:"), "{}", reply.text);
    let code = reply.text.split("Pairing code: ").nth(1).unwrap()[..8].to_owned();
    // Clicking again does not repeat the reply.
    t.emulator
        .click(&t.url(), &msg, "답장하기", 10000004)
        .unwrap();
    assert_eq!(t.emulator.posted().len(), posted.len());

    // The admin approves in the host's store, as `kakaowork-host pairing approve` does.
    host_test::runtime::pairing::Pairing::new(&*t.kv, "default")
        .approve(t.clock.now_ms(), &code)
        .unwrap();
    let (status, modal) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000004)
        .unwrap();
    assert_eq!(status, 200);
    t.emulator
        .submit(
            &t.url(),
            &msg,
            10000004,
            &modal["view"],
            &[("reply", "승인됐네요")],
        )
        .unwrap();
    let events = t.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].text, "승인됐네요");
}

fn request(
    method: &str,
    path: &str,
    query: &str,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> CallbackRequest {
    CallbackRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: ctype
            .map(|c| vec![("Content-Type".to_owned(), c.to_owned())])
            .unwrap_or_default(),
        body,
    }
}

#[test]
fn hostile_requests_get_their_status_and_no_event() {
    let t = inbound(json!({"dmPolicy": "open"}));
    let msg = t.agent_says(10000002, "확인 부탁드립니다", "q4");
    let posted = t.emulator.posted();
    let conv = posted[0].conversation_id;
    let (_, modal) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000002)
        .unwrap();
    let modal_value = modal["view"]["value"].as_str().unwrap().to_owned();
    let button_value = host_test::emulator_button_value(&posted[0].blocks);
    let tok = format!("token={SECRET}");
    let valid = |v: &str| {
        json!({"type": "submission", "action_time": "1", "message": {"id": msg, "conversation_id": conv},
                                  "react_user_id": 10000002, "value": v, "actions": {"reply": "hi"}})
    };
    let body = |v: Value| v.to_string().into_bytes();
    let json_req = |b: Vec<u8>| request("POST", PATH, &tok, Some("application/json"), b);
    let mut cases: Vec<(&str, CallbackRequest, u16)> = vec![];
    for m in ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        cases.push((
            "wrong method",
            request(
                m,
                PATH,
                &tok,
                Some("application/json"),
                body(valid(&modal_value)),
            ),
            405,
        ));
    }
    for c in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
        Some("application/jsonp"),
        Some("text/json"),
    ] {
        cases.push((
            "wrong content type",
            request("POST", PATH, &tok, c, body(valid(&modal_value))),
            415,
        ));
    }
    let short = &SECRET[..SECRET.len() - 1];
    for q in [
        String::new(),
        "token=wrong".into(),
        format!("token={short}"),
        format!("token={SECRET}x"),
        "token=".into(),
        format!("token={}", SECRET.to_uppercase()),
        format!("tok={SECRET}"),
    ] {
        cases.push((
            "wrong token",
            request(
                "POST",
                PATH,
                &q,
                Some("application/json"),
                body(valid(&modal_value)),
            ),
            401,
        ));
    }
    for p in [
        "/nope",
        "/kakaowork/default/callback/extra",
        "",
        "/KAKAOWORK/default/callback",
        "/kakaowork/other/callback",
    ] {
        cases.push((
            "unknown path",
            request(
                "POST",
                p,
                &tok,
                Some("application/json"),
                body(valid(&modal_value)),
            ),
            404,
        ));
    }
    cases.push(("oversized", json_req(vec![b' '; 64 * 1024 + 1]), 413));
    cases.push(("oversized", json_req(vec![b'['; 1 << 20]), 413));
    let deep_arrays = format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes();
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000)).into_bytes();
    for b in [
        b"not json".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"\"str\"".to_vec(),
        b"123".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        deep_arrays,
        deep_objects,
        b"\xef\xbb\xbf{}".to_vec(),
        b"{} trailing".to_vec(),
        vec![],
    ] {
        cases.push(("malformed JSON", json_req(b), 400));
    }
    let mut broken: Vec<Value> = vec![];
    let base = valid(&modal_value);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    broken.push(json!({}));
    broken.push(with(&|v| v["type"] = json!("dance")));
    broken.push(with(&|v| v["type"] = json!(7)));
    broken.push(with(&|v| {
        v.as_object_mut().unwrap().remove("message");
    }));
    broken.push(with(&|v| v["message"] = json!("m")));
    broken.push(with(&|v| {
        v["message"].as_object_mut().unwrap().remove("id");
    }));
    broken.push(with(&|v| {
        v["message"]
            .as_object_mut()
            .unwrap()
            .remove("conversation_id");
    }));
    broken.push(with(&|v| {
        v.as_object_mut().unwrap().remove("react_user_id");
    }));
    broken.push(with(&|v| v["react_user_id"] = json!(-3)));
    broken.push(with(&|v| v["react_user_id"] = json!(1.5)));
    broken.push(with(&|v| {
        v["message"]["id"] = json!(18446744073709551616.0)
    }));
    broken.push(with(&|v| {
        v.as_object_mut().unwrap().remove("value");
    }));
    broken.push(with(&|v| v["value"] = json!(42)));
    broken.push(with(&|v| v["action_name"] = json!(42)));
    broken.push(with(&|v| {
        v.as_object_mut().unwrap().remove("actions");
    }));
    broken.push(with(&|v| v["actions"] = json!(["hi"])));
    broken.push(with(&|v| v["actions"] = json!({"reply": {"x": 1}})));
    broken.push(with(&|v| v["actions"] = json!({"reply": "   "})));
    for b in broken {
        cases.push(("missing or wrong fields", json_req(body(b)), 400));
    }
    // Flip the tag's last hex digit to a different one (a fixed digit would match 1 time in 16).
    let last = if modal_value.ends_with('0') { '1' } else { '0' };
    let tampered_tag = format!("{}{last}", &modal_value[..modal_value.len() - 1]);
    assert_ne!(tampered_tag, modal_value);
    let other_key = "kw1|modal:reply|00000000000000000000000000000000".to_owned();
    for v in [
        "reply".to_owned(),
        "".to_owned(),
        modal_value.replace("modal:reply", "modal:reolp"),
        tampered_tag,
        other_key,
        format!("{modal_value}x"),
    ] {
        cases.push(("forged or tampered value", json_req(body(valid(&v))), 403));
    }
    cases.push((
        "click with a forged button value",
        json_req(body(
            json!({"type": "request_modal", "action_time": "1700000000",
        "message": {"id": msg, "conversation_id": conv},
        "react_user_id": "10000002", "value": "kw1|reply|ffffffffffffffffffffffffffffffff"}),
        )),
        403,
    ));
    for id in [json!("757617552587039999"), json!(757617552587039999u64)] {
        cases.push((
            "message not sent by this bot",
            json_req(body(with(&|v| v["message"]["id"] = id.clone()))),
            403,
        ));
    }
    assert!(!button_value.is_empty());
    // Replays: the first gets its event (checked below), the copies nothing.
    let replayed = body(with(&|v| v["react_user_id"] = json!("10000002")));
    let first = t
        .plugin
        .lock()
        .unwrap()
        .handle_callback(&json_req(replayed.clone()))
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.response.status, first.events.len()),
        (200, 1),
        "ids as strings are accepted"
    );
    for _ in 0..3 {
        cases.push(("replay", json_req(replayed.clone()), 200));
    }
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (what, req, status) in &cases {
        let outcome = t
            .plugin
            .lock()
            .unwrap()
            .handle_callback(req)
            .expect("no trap")
            .expect("no plugin error");
        assert_eq!(
            outcome.response.status,
            *status,
            "{what}: {:?} {}",
            req.method,
            String::from_utf8_lossy(&req.body)
                .chars()
                .take(120)
                .collect::<String>()
        );
        assert!(outcome.events.is_empty(), "{what} made an event");
    }
    eprintln!("{} hostile requests checked", cases.len());
    // The instance still works after all that.
    assert_eq!(
        t.emulator
            .submit(
                &t.url(),
                &msg,
                10000002,
                &modal["view"],
                &[("reply", "still fine")]
            )
            .unwrap()
            .0,
        200
    );
}

#[test]
fn a_pairing_reply_that_cannot_go_now_is_left_to_the_host() {
    let t =
        inbound(json!({"dmPolicy": "pairing", "rateLimit": {"requestsPerMinute": 3, "burst": 1}}));
    let req = SendRequest {
        account: None,
        target: "user:10000005".into(),
        text: "공지".into(),
        idempotency_key: "q5".into(),
        format: host_test::wit::TextFormat::Plain,
        blocks: None,
        buttons: vec![],
    };
    let report = {
        let mut p = t.plugin.lock().unwrap();
        host_test::serve::delivery::deliver(&mut p, &req, &t.clock, 20, |_, _| {}).unwrap()
    };
    let msg = report.outcome.unwrap().message_id.unwrap();
    let before = t.emulator.posted().len();
    // The budget is spent: the click is answered, and the reply waits in the host's outbox.
    let (status, _) = t
        .emulator
        .click(&t.url(), &msg, "답장하기", 10000005)
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(t.emulator.posted().len(), before);
    assert_eq!(t.server.outbox().len(), 1);
    assert_eq!(t.server.flush(), 0, "still no budget");
    t.clock.advance(60_000);
    assert_eq!(t.server.flush(), 1);
    assert!(t.server.outbox().is_empty());
    assert!(
        t.emulator
            .posted()
            .last()
            .unwrap()
            .text
            .contains("Pairing code:")
    );
}
