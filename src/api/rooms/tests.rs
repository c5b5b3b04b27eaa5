use super::*;
use crate::api::callback::CallbackRequest;
use crate::boundary::channel::{ChatType, EventKind};
use crate::testkit::*;
use serde_json::{Value, json};

const SECRET_QUERY: &str = "token=test-callback-secret-0123456789";

fn callback(body: Value) -> CallbackRequest {
    CallbackRequest {
        method: "POST".into(),
        path: "/kakaowork/default/callback".into(),
        query: SECRET_QUERY.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// The Reply button's value in a `messages.send` request.
fn reply_value(req: &crate::contract::ports::HttpRequest) -> String {
    let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_type"] == "call_modal")
        .and_then(|e| e["value"].as_str().map(str::to_owned))
        .expect("a Reply button")
}

fn sent_to(id: u64, conversation: u64) -> String {
    format!(
        r#"{{"success":true,"message":{{"id":"{id}","conversation_id":{conversation},"send_time":1700000000}}}}"#
    )
}

/// A user clicking Reply on message `message` and submitting `text`: the event, if any, and
/// the modal's answer status.
fn reply_turn(
    ch: &Channel,
    ports: &Ports<'_>,
    message: &str,
    conversation: u64,
    user: u64,
    value: &str,
    text: &str,
) -> (u16, Vec<crate::boundary::channel::InboundEvent>) {
    let message_obj = json!({"id": message, "conversation_id": conversation});
    let modal = ch
        .handle_callback(
            ports,
            &callback(
                json!({"type": "request_modal", "action_time": "2026-12-03T10:00:00Z",
                "message": message_obj, "react_user_id": user, "value": value}),
            ),
        )
        .unwrap();
    if modal.response.status != 200 {
        return (modal.response.status, vec![]);
    }
    let view: Value = serde_json::from_slice(&modal.response.body).unwrap();
    let Some(modal_value) = view["view"]["value"].as_str() else {
        return (modal.response.status, vec![]);
    };
    let out = ch
        .handle_callback(
            ports,
            &callback(
                json!({"type": "submission", "action_time": "2026-12-03T10:00:05Z",
                "message": message_obj, "react_user_id": user, "value": modal_value,
                "actions": {"reply": text}}),
            ),
        )
        .unwrap();
    (out.response.status, out.events)
}

/// Five turns of one DM: the first message to `user:10`, then each agent reply to
/// `conversation:77` (as OpenClaw replies to an event's conversation), each answered by the
/// user through the previous reply's button.
fn five_turns(config: &str) -> Vec<crate::boundary::channel::InboundEvent> {
    let ch = configured(config, &[("default", CredentialSource::Env)]);
    let w = World::new();
    w.kv.set("user/v1/default/10", "김민수".as_bytes(), None)
        .unwrap();
    let mut script = vec![(200, OPEN.to_owned())];
    script.extend((1..=5).map(|i| (200, sent_to(1000 + i, 77))));
    let http = ScriptedHttp::new(script.iter().map(|(s, b)| (*s, b.as_str())).collect());
    let ports = w.ports(&http);
    let mut events = vec![];
    for turn in 1..=5u64 {
        // A minute between turns, as people type.
        w.clock.0.set(w.clock.0.get() + 60_000);
        let target = if turn == 1 {
            "user:10"
        } else {
            "conversation:77"
        };
        ch.send(
            &ports,
            &req_k(target, &format!("agent {turn}"), &format!("k{turn}")),
        )
        .unwrap();
        let last = http.requests().last().cloned().unwrap();
        let (status, got) = reply_turn(
            &ch,
            &ports,
            &(1000 + turn).to_string(),
            77,
            10,
            &reply_value(&last),
            &format!("user {turn}"),
        );
        assert_eq!(status, 200, "turn {turn}");
        assert_eq!(got.len(), 1, "turn {turn} makes one event");
        events.extend(got);
    }
    // One conversations.open, five sends: the DM's kind cost no other request.
    assert_eq!(
        endpoints(&http),
        [
            "conversations.open",
            "messages.send",
            "messages.send",
            "messages.send",
            "messages.send",
            "messages.send"
        ]
    );
    events
}

#[test]
fn every_turn_of_a_dm_follows_the_dm_rules_even_with_groups_disabled() {
    let events =
        five_turns(r#"{"dmPolicy": "allowlist", "allowFrom": ["10"], "groupPolicy": "disabled"}"#);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.chat_type, ChatType::Direct, "turn {}", i + 1);
        assert_eq!(e.kind, EventKind::Text);
        assert_eq!(e.text, format!("user {}", i + 1));
        assert_eq!(
            (e.sender_id.as_str(), e.conversation_id.as_str()),
            ("10", "77")
        );
    }
}

#[test]
fn a_paired_user_keeps_talking_under_the_default_policies() {
    // The defaults: dmPolicy "pairing", groupPolicy "allowlist" with an empty group list.
    let events = five_turns(r#"{"allowFrom": ["10"]}"#);
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.chat_type == ChatType::Direct));
}

/// The methods asked, without their queries.
fn methods(http: &ScriptedHttp) -> Vec<String> {
    endpoints(http)
        .into_iter()
        .map(|e| e.split('?').next().unwrap().to_owned())
        .collect()
}

fn list_page(conversations: Value, cursor: Value) -> String {
    json!({"success": true, "conversations": conversations, "cursor": cursor}).to_string()
}

fn record_of(w: &World, message: &str) -> crate::state::binding::SentRecord {
    let raw =
        w.kv.get(&crate::state::keys::sent("default", message))
            .unwrap()
            .unwrap_or_else(|| panic!("no record of message {message}"));
    crate::state::binding::SentRecord::decode(std::str::from_utf8(&raw).unwrap()).unwrap()
}

#[test]
fn an_unknown_dm_is_found_in_the_bot_s_list_with_its_user_and_remembered() {
    let ch = default_channel();
    let w = World::new();
    let page1 = list_page(
        json!([{"id": "900", "type": "group", "users_count": 5}]),
        json!("c2"),
    );
    let page2 = list_page(
        json!([{"id": "901", "type": "dm", "users_count": 2}]),
        Value::Null,
    );
    let users = r#"{"success":true,"users":[{"id":"10","name":"김민수"}]}"#.to_owned();
    let http = ScriptedHttp::new(vec![
        (200, page1.as_str()),
        (200, page2.as_str()),
        (200, users.as_str()),
        (200, &sent_to(2001, 901)),
        (200, &sent_to(2002, 901)),
    ]);
    ch.send(&w.ports(&http), &req_k("conversation:901", "hi", "a"))
        .unwrap();
    let r = record_of(&w, "2001");
    assert!(!r.group, "a DM");
    assert_eq!((r.conversation.as_str(), r.user.as_str()), ("901", "10"));
    // The second page was asked with the cursor alone.
    let second = &http.requests()[1].url;
    assert!(second.ends_with("conversations.list?cursor=c2"), "{second}");
    // Another instance (a fresh memo) reads it from KV: no list again.
    let other = default_channel();
    other
        .send(&w.ports(&http), &req_k("conversation:901", "again", "b"))
        .unwrap();
    assert_eq!(record_of(&w, "2002").user, "10");
    assert_eq!(
        methods(&http),
        [
            "conversations.list",
            "conversations.list",
            "users",
            "messages.send",
            "messages.send"
        ]
    );
}

/// The world's KV, with the TTL of every room record written through it.
struct TtlKv<'a>(&'a MemoryKv, std::cell::RefCell<Vec<(String, Option<u64>)>>);

impl Kv for TtlKv<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::contract::ports::KvError> {
        self.0.get(key)
    }
    fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<u64>,
    ) -> Result<(), crate::contract::ports::KvError> {
        if key.starts_with("room/") {
            self.1.borrow_mut().push((key.to_owned(), ttl));
        }
        self.0.set(key, value, ttl)
    }
    fn delete(&self, key: &str) -> Result<(), crate::contract::ports::KvError> {
        self.0.delete(key)
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<u64>,
    ) -> Result<bool, crate::contract::ports::KvError> {
        self.0.compare_and_swap(key, expected, new, ttl)
    }
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, crate::contract::ports::KvError> {
        self.0.list_keys(prefix)
    }
}

#[test]
fn groups_and_unlisted_ids_stay_groups() {
    let ch = default_channel();
    let w = World::new();
    let page = list_page(json!([{"id": "900", "type": "group"}]), Value::Null);
    let http = ScriptedHttp::new(vec![
        (200, page.as_str()),
        (200, &sent_to(3001, 900)),
        (200, page.as_str()),
        (200, &sent_to(3002, 999)),
    ]);
    let kv = TtlKv(&w.kv, Default::default());
    let ports = Ports {
        kv: &kv,
        ..w.ports(&http)
    };
    ch.send(&ports, &req_k("conversation:900", "hi", "a"))
        .unwrap();
    ch.send(&ports, &req_k("999", "hi", "b")).unwrap();
    assert!(record_of(&w, "3001").group);
    assert!(record_of(&w, "3002").group);
    // A listed group is kept for long; an unlisted id only for an hour: it may be a room the
    // bot has just joined.
    assert_eq!(
        kv.1.borrow().as_slice(),
        [
            (keys::room("default", "900"), Some(keys::ROOM_TTL_MS)),
            (
                keys::room("default", "999"),
                Some(keys::ROOM_UNLISTED_TTL_MS)
            )
        ]
    );
    // Once the store has let it go, the next lookup finds what KakaoWork says now.
    w.clock.0.set(w.clock.0.get() + keys::ROOM_UNLISTED_TTL_MS);
    w.kv.delete(&keys::room("default", "999")).unwrap();
    let other = default_channel();
    let http2 = ScriptedHttp::new(vec![
        (
            200,
            &list_page(json!([{"id": "999", "type": "dm"}]), Value::Null),
        ),
        (200, r#"{"success":true,"users":[{"id":"12"}]}"#),
        (200, &sent_to(3003, 999)),
    ]);
    other
        .send(&w.ports(&http2), &req_k("999", "later", "c"))
        .unwrap();
    assert_eq!(
        methods(&http2),
        ["conversations.list", "users", "messages.send"]
    );
    assert_eq!(record_of(&w, "3003").user, "12");
}

#[test]
fn a_list_kakaowork_refuses_sends_as_a_group_and_an_outage_is_reported() {
    let ch = default_channel();
    let w = World::new();
    let refused = r#"{"success":false,"error":{"code":"unauthorized","message":"no"}}"#;
    let http = ScriptedHttp::new(vec![(403, refused), (200, &sent_to(4001, 902))]);
    ch.send(&w.ports(&http), &req_k("902", "hi", "a")).unwrap();
    assert!(record_of(&w, "4001").group);
    // Not written down: another instance asks again.
    assert!(w.kv.get(&keys::room("default", "902")).unwrap().is_none());

    let w = World::new();
    let http = ScriptedHttp::from_results(vec![Err(crate::contract::ports::HttpError::Timeout); 4]);
    let e = default_channel()
        .send(&w.ports(&http), &req_k("903", "hi", "b"))
        .unwrap_err();
    assert!(
        !matches!(e, ChannelError::Api(_) | ChannelError::InvalidMessage(_)),
        "{e:?}"
    );
    // Nothing was sent or claimed: the host's next try starts from the lookup.
    assert!(
        methods(&http).iter().all(|m| m == "conversations.list"),
        "{:?}",
        methods(&http)
    );
}
