//! Every callback value is bound to its purpose and used once: a click replayed after the
//! de-duplication window, a submission replayed at any time, a value used with another callback
//! type, a sender that cannot be a clicking member: none of them makes an event.

mod common;

use common::inbound::{Inbound, PATH, SECRET, inbound};
use host_test::emulator::BOT_USER_ID;
use host_test::wit::{ActionButton, ButtonStyle, CallbackRequest, EventKind, SendRequest};
use serde_json::{Value, json};

const USER: u64 = 10000003;
const GROUP: &str = "conversation:3000001";
const MINUTE: u64 = 60_000;

fn with_button(target: &str, key: &str) -> SendRequest {
    SendRequest {
        account: None,
        target: target.into(),
        text: "배포할까요?".into(),
        idempotency_key: key.into(),
        format: host_test::wit::TextFormat::Plain,
        blocks: None,
        buttons: vec![ActionButton {
            label: "승인".into(),
            name: "deploy_approve".into(),
            value: "deploy:9913".into(),
            style: ButtonStyle::Primary,
        }],
    }
}

/// The message id, its conversation, and its buttons' values by label.
fn sent(t: &Inbound, req: &SendRequest) -> (String, u64, Vec<(String, String)>) {
    let r = t.plugin.lock().unwrap().send(req).unwrap().unwrap();
    let id = r.message_id.unwrap();
    let posted = t.emulator.posted();
    let p = posted.iter().find(|p| p.id == id).unwrap();
    let values = p
        .blocks
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["text"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (id, p.conversation_id, values)
}

fn value_of(values: &[(String, String)], label: &str) -> String {
    values.iter().find(|(l, _)| l == label).unwrap().1.clone()
}

fn body(kind: &str, msg: &str, conv: u64, user: Value, value: &str) -> Value {
    let mut b = json!({"type": kind, "action_time": "1700000000",
        "message": {"id": msg, "conversation_id": conv}, "react_user_id": user, "value": value});
    match kind {
        "submission" => b["actions"] = json!({"reply": "안녕하세요"}),
        "submit_action" => b["action_name"] = json!("deploy_approve"),
        _ => {}
    }
    b
}

/// The status and the number of events of one callback, straight into `handle-callback`.
fn call(t: &Inbound, b: &Value) -> (u16, usize, String) {
    let req = CallbackRequest {
        method: "POST".into(),
        path: PATH.into(),
        query: format!("token={SECRET}"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: b.to_string().into_bytes(),
    };
    let out = t
        .plugin
        .lock()
        .unwrap()
        .handle_callback(&req)
        .expect("no trap")
        .expect("no plugin error");
    let text = String::from_utf8_lossy(&out.response.body).into_owned();
    (out.response.status, out.events.len(), text)
}

#[test]
fn a_click_replayed_after_the_dedup_window_makes_no_event() {
    let t = inbound(json!({"dmPolicy": "open", "groupPolicy": "open"}));
    let (msg, _, _) = sent(&t, &with_button(&format!("user:{USER}"), "c1"));
    assert_eq!(
        t.emulator.click(&t.url(), &msg, "승인", USER).unwrap().0,
        200
    );
    assert_eq!(t.events().len(), 1);
    assert_eq!(t.events()[0].kind, EventKind::Action);
    // Past the 10 minutes the earlier versions remembered a click for, and much later.
    for wait in [11 * MINUTE, 29 * 24 * 60 * MINUTE] {
        t.clock.advance(wait);
        let (status, _) = t.emulator.click(&t.url(), &msg, "승인", USER).unwrap();
        assert_eq!(status, 200, "a replay is answered");
        assert_eq!(t.events().len(), 1, "and makes no event after {wait} ms");
    }
    // In a group, each member's first click is theirs.
    let (group_msg, _, _) = sent(&t, &with_button(GROUP, "c2"));
    for member in [10000004, 10000005] {
        t.emulator
            .click(&t.url(), &group_msg, "승인", member)
            .unwrap();
    }
    t.clock.advance(11 * MINUTE);
    t.emulator
        .click(&t.url(), &group_msg, "승인", 10000004)
        .unwrap();
    let senders: Vec<_> = t.events()[1..]
        .iter()
        .map(|e| e.sender_id.clone())
        .collect();
    assert_eq!(senders, ["10000004", "10000005"]);
}

#[test]
fn a_modal_takes_one_submission_at_any_time() {
    let t = inbound(json!({"dmPolicy": "open"}));
    let msg = t.agent_says(USER, "무엇을 도와드릴까요?", "m1");
    let (_, modal) = t.emulator.click(&t.url(), &msg, "답장하기", USER).unwrap();
    let view = &modal["view"];
    let submit = |text: &str| {
        t.emulator
            .submit(&t.url(), &msg, USER, view, &[("reply", text)])
            .unwrap()
            .0
    };
    assert_eq!(submit("첫 답장"), 200);
    assert_eq!(t.events().len(), 1);
    // The same submission replayed, right away, after 11 minutes and after two days; another
    // text through the same modal.
    for wait in [0, 11 * MINUTE, 2 * 24 * 60 * MINUTE] {
        t.clock.advance(wait);
        assert_eq!(submit("첫 답장"), 200);
        assert_eq!(submit("다른 답장"), 200);
        assert_eq!(t.events().len(), 1, "after {wait} ms");
    }
    // A fresh modal works, once.
    let (_, fresh) = t.emulator.click(&t.url(), &msg, "답장하기", USER).unwrap();
    assert_ne!(
        fresh["view"]["value"], view["value"],
        "each opening mints a value"
    );
    for _ in 0..2 {
        t.emulator
            .submit(
                &t.url(),
                &msg,
                USER,
                &fresh["view"],
                &[("reply", "두 번째")],
            )
            .unwrap();
    }
    let events = t.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].text, "두 번째");
    // An empty reply uses nothing up: the modal still takes its one submission.
    let (_, third) = t.emulator.click(&t.url(), &msg, "답장하기", USER).unwrap();
    let (status, _) = t
        .emulator
        .submit(&t.url(), &msg, USER, &third["view"], &[("reply", "  ")])
        .unwrap();
    assert_eq!(status, 400);
    t.emulator
        .submit(
            &t.url(),
            &msg,
            USER,
            &third["view"],
            &[("reply", "세 번째")],
        )
        .unwrap();
    assert_eq!(t.events().len(), 3);
}

#[test]
fn a_value_is_taken_only_with_the_callback_type_it_was_made_for() {
    let t = inbound(json!({"dmPolicy": "open"}));
    let (msg, conv, values) = sent(&t, &with_button(&format!("user:{USER}"), "v1"));
    let reply = value_of(&values, "답장하기");
    let action = value_of(&values, "승인");
    let (_, modal) = t.emulator.click(&t.url(), &msg, "답장하기", USER).unwrap();
    let modal = modal["view"]["value"].as_str().unwrap().to_owned();
    let misuses = [
        ("submission", &reply),
        ("submit_action", &reply),
        ("submit_action", &modal),
        ("request_modal", &modal),
        ("request_modal", &action),
        ("submission", &action),
    ];
    for (kind, value) in misuses {
        let (status, events, text) = call(&t, &body(kind, &msg, conv, json!(USER), value));
        assert_eq!((status, events), (400, 0), "{kind}: {text}");
        assert!(text.contains("`value`"), "the field is named: {text}");
    }
    // Each value with its own type still works.
    assert_eq!(
        call(&t, &body("submit_action", &msg, conv, json!(USER), &action)).1,
        1
    );
    assert_eq!(
        call(&t, &body("submission", &msg, conv, json!(USER), &modal)).1,
        1
    );
}

#[test]
fn a_sender_that_cannot_be_a_clicking_member_is_refused() {
    let t = inbound(json!({"groupPolicy": "open"}));
    let (msg, conv, values) = sent(&t, &with_button(GROUP, "s1"));
    let action = value_of(&values, "승인");
    // The bot itself (known from the message's record even when the body leaves out the
    // message's `user_id`), no one, an id past KakaoWork's range.
    for user in [
        json!(BOT_USER_ID),
        json!(BOT_USER_ID.to_string()),
        json!(0),
        json!(1u64 << 53),
        json!(u64::MAX),
    ] {
        let (status, events, text) = call(
            &t,
            &body("submit_action", &msg, conv, user.clone(), &action),
        );
        assert_eq!((status, events), (400, 0), "{user}: {text}");
        assert!(text.contains("react_user_id"), "{text}");
    }
    // The bot named by the body's `message.user_id`.
    let mut b = body("submit_action", &msg, conv, json!(10000004), &action);
    b["message"]["user_id"] = json!("10000004");
    assert_eq!(call(&t, &b).0, 400);
    // A malformed `action_time`.
    for time in [json!(""), json!("-5"), json!(-5), json!("soon"), json!({})] {
        let mut b = body("submit_action", &msg, conv, json!(10000004), &action);
        b["action_time"] = time.clone();
        let (status, events, text) = call(&t, &b);
        assert_eq!((status, events), (400, 0), "{time}: {text}");
        assert!(text.contains("action_time"), "{text}");
    }
    // A member's click is taken.
    let (status, events, _) = call(
        &t,
        &body("submit_action", &msg, conv, json!(10000004), &action),
    );
    assert_eq!((status, events), (200, 1));
}

#[test]
fn a_message_takes_a_bounded_number_of_callbacks() {
    let t = inbound(json!({"groupPolicy": "open"}));
    let (msg, conv, values) = sent(&t, &with_button(GROUP, "b1"));
    let reply = value_of(&values, "답장하기");
    // Every accepted opening keeps a key: past the bound, a message takes no more.
    let limit = 1_000;
    for i in 0..limit {
        let (status, _, text) = call(
            &t,
            &body("request_modal", &msg, conv, json!(10000004 + i), &reply),
        );
        assert_eq!(status, 200, "opening {i}: {text}");
    }
    let (status, events, text) = call(
        &t,
        &body("request_modal", &msg, conv, json!(10000004), &reply),
    );
    assert_eq!((status, events), (429, 0), "{text}");
    assert!(text.contains("new message"), "{text}");
    // Another message is not affected.
    let (other, conv2, values2) = sent(&t, &with_button(GROUP, "b2"));
    let reply2 = value_of(&values2, "답장하기");
    assert_eq!(
        call(
            &t,
            &body("request_modal", &other, conv2, json!(10000004), &reply2)
        )
        .0,
        200
    );
}
