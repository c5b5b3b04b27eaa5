use super::*;
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

#[test]
fn a_send_only_account_refuses_callbacks_and_the_opt_out_admits_them() {
    let w = World::new();
    let http = ScriptedHttp::new(vec![]);
    let body = serde_json::json!({"type": "submit_action", "message_id": 1, "conversation_id": 2,
        "react_user_id": 3, "value": "x"});
    let mut req = callback_req(body);
    req.query = String::new();
    let mut ch = Channel::default();
    ch.configure(
        r#"{"replyButton": false}"#,
        &[CredentialStatus {
            account: "default".into(),
            source: CredentialSource::Env,
            key_id: None,
        }],
    )
    .unwrap();
    let r = ch.handle_callback(&w.ports(&http), &req).unwrap();
    assert_eq!(r.response.status, 401);
    let mut open = Channel::default();
    open.configure(
        r#"{"dangerouslyAcceptUnauthenticatedCallbacks": true}"#,
        &[CredentialStatus {
            account: "default".into(),
            source: CredentialSource::Env,
            key_id: None,
        }],
    )
    .unwrap();
    // Past authentication: refused later, by the checks of the body.
    let r = open.handle_callback(&w.ports(&http), &req).unwrap();
    assert!(matches!(r.response.status, 400 | 403), "{r:?}");
}

#[test]
fn submit_action_becomes_an_action_event() {
    let ch = configured(
        r#"{"groupPolicy":"open"}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    w.kv.set("sent/v1/default/555", b"g|77|n555|", None)
        .unwrap();
    w.kv.set("user/v1/default/10", "홍길동".as_bytes(), None)
        .unwrap();
    let key = binding::Keys::new(&callback::signing_key(&w.kv, &w.random, "default").unwrap());
    let http = ScriptedHttp::new(vec![]);
    let body = serde_json::json!({"type": "submit_action", "action_time": "t", "message": {"id": "555", "conversation_id": 77},
                                  "react_user_id": 10, "action_name": "approve", "value": binding::button_value(&key, "deploy:9913", "default", "77", "", "n555")});
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
