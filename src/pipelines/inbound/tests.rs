use super::*;
use crate::contract::ports::HttpError;
use crate::testkit::*;

fn callback_req(body: serde_json::Value) -> CallbackRequest {
    CallbackRequest {
        method: "POST".into(),
        path: "/kakaowork/default/callback".into(),
        query: "token=test-callback-secret-0123456789".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn configured_as(json: &str) -> Channel {
    let mut ch = Channel::default();
    ch.configure(
        json,
        &[CredentialStatus {
            account: "default".into(),
            source: CredentialSource::Env,
            key_id: None,
        }],
    )
    .unwrap();
    ch
}

#[test]
fn without_a_secret_the_plugin_makes_a_token_that_every_instance_shares() {
    let w = World::new();
    let http = ScriptedHttp::new(vec![]);
    let body = serde_json::json!({"type": "submit_action", "action_time": "1700000000",
        "message": {"id": 1, "conversation_id": 2}, "react_user_id": 3, "value": "x"});
    let mut req = callback_req(body);
    req.query = String::new();
    // The seed's setup: an app key and a policy, no secret.
    let a = configured_as(r#"{"dmPolicy": "pairing"}"#);
    let token = a.callback_token(&w.ports(&http), None).unwrap().unwrap();
    assert_eq!(token.len(), 64, "256 bits in hex");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // Without the token, or with another: 401, before anything else is read.
    assert_eq!(
        a.handle_callback(&w.ports(&http), &req)
            .unwrap()
            .response
            .status,
        401
    );
    req.query = format!("token={}", "0".repeat(64));
    assert_eq!(
        a.handle_callback(&w.ports(&http), &req)
            .unwrap()
            .response
            .status,
        401
    );
    // Another instance on the same state (a restart, a second gateway on Redis) has the same
    // token, and a callback carrying it gets past authentication (refused later: no such
    // message).
    let b = configured_as(r#"{"dmPolicy": "pairing"}"#);
    assert_eq!(
        b.callback_token(&w.ports(&http), None).unwrap().as_deref(),
        Some(token.as_str())
    );
    req.query = format!("token={token}");
    assert_eq!(
        b.handle_callback(&w.ports(&http), &req)
            .unwrap()
            .response
            .status,
        403
    );
    // Another state makes another token.
    let w2 = World::new();
    w2.random.0.set(99);
    let fresh = configured_as(r#"{"dmPolicy": "pairing"}"#);
    let other = fresh
        .callback_token(&w2.ports(&http), None)
        .unwrap()
        .unwrap();
    assert_ne!(other, token);
    // A configured secret wins; the opt-out has none.
    let c = configured_as(r#"{"callbackSecret": "test-callback-secret-0123456789"}"#);
    assert_eq!(
        c.callback_token(&w.ports(&http), None).unwrap().as_deref(),
        Some("test-callback-secret-0123456789")
    );
    let open = configured_as(r#"{"dangerouslyAcceptUnauthenticatedCallbacks": true}"#);
    assert_eq!(open.callback_token(&w.ports(&http), None).unwrap(), None);
    req.query = String::new();
    // Past authentication: refused later, by the checks of the body.
    let r = open.handle_callback(&w.ports(&http), &req).unwrap();
    assert!(matches!(r.response.status, 400 | 403), "{r:?}");
}

/// A channel with open groups, the bot's group message 555 in conversation 77, and a click
/// by `user` on its signed `approve` button.
fn group_button_world() -> (Channel, World, impl Fn(u64) -> serde_json::Value) {
    let ch = configured(
        r#"{"groupPolicy":"open"}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    w.kv.set("sent/v1/default/555", b"g|77|n555|", None)
        .unwrap();
    let key = binding::Keys::new(&callback::signing_key(&w.kv, &w.random, "default").unwrap());
    let value = binding::button_value(
        &key,
        &binding::action_purpose("approve", "배포 승인", "deploy:9913"),
        "default",
        "77",
        "",
        "n555",
    );
    let click = move |user: u64| {
        serde_json::json!({"type": "submit_action", "action_time": "1700000000", "message": {"id": "555", "conversation_id": 77},
                           "react_user_id": user, "action_name": "approve", "value": value})
    };
    (ch, w, click)
}

#[test]
fn submit_action_becomes_an_action_event() {
    let (ch, w, click) = group_button_world();
    w.kv.set("user/v1/default/10", "홍길동".as_bytes(), None)
        .unwrap();
    let http = ScriptedHttp::new(vec![]);
    let body = click(10);
    let out = ch
        .handle_callback(&w.ports(&http), &callback_req(body))
        .unwrap();
    assert_eq!(out.response.status, 200);
    assert_eq!(
        out.events.len(),
        1,
        "{}",
        String::from_utf8_lossy(&out.response.body)
    );
    let e = &out.events[0];
    assert_eq!(e.kind, EventKind::Action);
    assert_eq!(e.action_name.as_deref(), Some("approve"));
    assert_eq!(e.action_value.as_deref(), Some("deploy:9913"));
    assert_eq!(e.action_label.as_deref(), Some("배포 승인"));
    // A click, described: its value is data, not a message or a command.
    assert_eq!(
        e.text,
        "[Clicked the button \"배포 승인\" (value: deploy:9913)]"
    );
    assert_eq!(e.chat_type, ChatType::Group);
    assert_eq!(e.sender_name.as_deref(), Some("홍길동"));
    assert_eq!(
        (e.from.as_str(), e.to.as_str()),
        ("kakaowork:10", "kakaowork:77")
    );
    assert!(
        http.requests().is_empty(),
        "the cached name needs no request"
    );
}

#[test]
fn the_sender_name_is_looked_up_quickly_and_a_slow_lookup_costs_only_the_name() {
    let (ch, w, click) = group_button_world();
    // KakaoWork waits for this answer: the lookup is given a short timeout, not the default.
    let http = ScriptedHttp::new(vec![(
        200,
        r#"{"success":true,"user":{"id":"10","name":"홍길동"}}"#,
    )]);
    let out = ch
        .handle_callback(&w.ports(&http), &callback_req(click(10)))
        .unwrap();
    assert_eq!(out.events[0].sender_name.as_deref(), Some("홍길동"));
    let asked = http.requests();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].url.contains("users.info"), "{}", asked[0].url);
    // The README promises 1.5 s, against 10 s for other requests.
    assert_eq!(asked[0].timeout_ms, Some(1_500));
    // A lookup that times out: the event still goes to the agent, without a name.
    let slow = ScriptedHttp::from_results(vec![Err(HttpError::Timeout)]);
    let out = ch
        .handle_callback(&w.ports(&slow), &callback_req(click(11)))
        .unwrap();
    assert_eq!(out.response.status, 200);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].sender_name, None);
}
