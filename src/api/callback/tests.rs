use super::*;

fn req(method: &str, ctype: &str, query: &str, body: &[u8]) -> CallbackRequest {
    CallbackRequest {
        method: method.into(),
        path: "/cb".into(),
        query: query.into(),
        headers: vec![("Content-Type".into(), ctype.into())],
        body: body.to_vec(),
    }
}

#[test]
fn constant_time_equality() {
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"abcd"));
    assert!(!ct_eq(b"", b"a"));
    assert!(ct_eq(b"", b""));
}

#[test]
fn transport_checks_in_order() {
    let s = Some("secret-secret-secret-secret");
    let status = |r: &CallbackRequest| check_transport(r, s).err().map(|e| e.status);
    assert_eq!(
        status(&req(
            "GET",
            "application/json",
            "token=secret-secret-secret-secret",
            b"{}"
        )),
        Some(405)
    );
    assert_eq!(
        status(&req("POST", "application/json", "", b"{}")),
        Some(401)
    );
    assert_eq!(
        status(&req("POST", "application/json", "token=nope", b"{}")),
        Some(401)
    );
    assert_eq!(
        status(&req(
            "POST",
            "text/plain",
            "token=secret-secret-secret-secret",
            b"{}"
        )),
        Some(415)
    );
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        status(&req(
            "POST",
            "application/json",
            "token=secret-secret-secret-secret",
            &big
        )),
        Some(413)
    );
    assert_eq!(
        status(&req(
            "POST",
            "application/json; charset=utf-8",
            "a=1&token=secret-secret-secret-secret",
            b"{}"
        )),
        None
    );
    assert_eq!(
        check_transport(&req("POST", "application/json", "", b"{}"), None)
            .err()
            .map(|e| e.status),
        None
    );
}

#[test]
fn parse_accepts_ids_as_strings_or_numbers_and_rejects_garbage() {
    let ok = br#"{"type":"submit_action","action_time":"2023-11-14T22:13:20+09:00","message":{"id":"757617552587034624","conversation_id":2092305},
                 "react_user_id":10000003,"action_name":"a","value":"v"}"#;
    let c = parse(ok).unwrap();
    assert_eq!(c.kind, Kind::SubmitAction);
    assert_eq!(c.user_id.as_str(), "10000003");
    assert_eq!(c.message_id.as_str(), "757617552587034624");
    for bad_body in [
        &b"not json"[..],
        b"[]",
        b"{}",
        br#"{"type":"dance"}"#,
        br#"{"type":"submit_action"}"#,
        br#"{"type":"submit_action","message":{"id":1},"react_user_id":1,"value":"v"}"#,
        br#"{"type":"submission","message":{"id":1,"conversation_id":2},"react_user_id":1,"value":"v"}"#,
        br#"{"type":"submit_action","message":{"id":-1,"conversation_id":2},"react_user_id":1,"value":"v"}"#,
        br#"{"type":"submit_action","message":{"id":1.5,"conversation_id":2},"react_user_id":1,"value":"v"}"#,
        br#"{"type":"submit_action","message":{"id":"12a","conversation_id":2},"react_user_id":1,"value":"v"}"#,
        br#"{"type":"submit_action","message":{"id":"1","conversation_id":"99999999999999999999"},"react_user_id":1,"value":"v"}"#,
        br#"{"type":"submit_action","message":{"id":"1","conversation_id":2},"react_user_id":"../../x","value":"v"}"#,
        b"\xff\xfe",
    ] {
        assert_eq!(parse(bad_body).unwrap_err().status, 400, "{}", String::from_utf8_lossy(bad_body));
    }
    let long = format!(
        r#"{{"type":"submit_action","message":{{"id":"{}","conversation_id":2}},"react_user_id":1,"value":"v"}}"#,
        "7".repeat(5000)
    );
    assert_eq!(parse(long.as_bytes()).unwrap_err().status, 400);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(parse(deep.as_bytes()).unwrap_err().status, 400);
}

fn with(field: &str, v: Value) -> Vec<u8> {
    let mut b = json!({"type": "submit_action", "action_time": "1700000000",
        "message": {"id": "757617552587034624", "conversation_id": 2092305, "user_id": "9000001"},
        "react_user_id": 10000003, "action_name": "a", "value": "v"});
    match field.split_once('.') {
        Some((outer, inner)) => b[outer][inner] = v,
        None => b[field] = v,
    }
    b.to_string().into_bytes()
}

/// 400 naming `field`, or the parsed callback.
fn refused_naming(body: &[u8], field: &str) {
    let e = parse(body).unwrap_err();
    let text = String::from_utf8_lossy(&e.body);
    assert_eq!(e.status, 400, "{text}");
    assert!(text.contains(field), "{text} should name {field}");
}

#[test]
fn action_time_must_be_a_time_kakaowork_sends() {
    for good in [
        json!("2023-11-14T22:13:20+09:00"),
        json!("2023-11-14T13:13:20Z"),
        json!("2023-11-14T13:13:20.123Z"),
        json!("2023-11-14 13:13:20"),
        json!("1700000000"),
        json!("1700000000123"),
        json!(1700000000u64),
    ] {
        assert!(parse(&with("action_time", good.clone())).is_ok(), "{good}");
    }
    for junk in [
        json!(""),
        json!("-1"),
        json!(-1),
        json!(1.5),
        json!("t"),
        json!("yesterday"),
        json!("2023-11-14T22:13:20+0900x"),
        json!("2023-11-14T22:13:20."),
        json!("2023-11-14"),
        json!("99999999999999999999"),
        json!("1700000000\n"),
        json!(["1700000000"]),
        json!({}),
        json!(true),
        Value::Null,
    ] {
        refused_naming(&with("action_time", junk), "action_time");
    }
    let mut missing: Value = serde_json::from_slice(&with("value", json!("v"))).unwrap();
    missing.as_object_mut().unwrap().remove("action_time");
    refused_naming(missing.to_string().as_bytes(), "action_time");
}

#[test]
fn the_clicking_member_is_a_member_and_not_the_bot() {
    for id in [json!(0), json!("0"), json!(1u64 << 53), json!(u64::MAX)] {
        refused_naming(&with("react_user_id", id), "react_user_id");
    }
    assert!(parse(&with("react_user_id", json!(MAX_MEMBER_ID))).is_ok());
    // The bot's own user id, as a number or a string.
    refused_naming(&with("react_user_id", json!(9000001)), "react_user_id");
    refused_naming(&with("react_user_id", json!("9000001")), "react_user_id");
    // The message's sender must be an id when it is there.
    refused_naming(&with("message.user_id", json!("bot")), "user_id");
    let c = parse(&with("react_user_id", json!(10000003))).unwrap();
    assert_eq!(c.bot_id.as_ref().map(Id::as_str), Some("9000001"));
}

#[test]
fn reply_modal_is_complete() {
    let m = reply_modal("kw1|modal:reply|00");
    let view = &m["view"];
    for k in ["title", "accept", "decline"] {
        assert!(view[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
    }
    assert_eq!(view["value"], "kw1|modal:reply|00");
    assert_eq!(view["blocks"][1]["name"], REPLY_INPUT);
    assert_eq!(view["blocks"][1]["required"], true);
}

#[test]
fn fingerprints_ignore_the_callers_time_but_not_what_was_entered() {
    let c = parse(br#"{"type":"submission","action_time":"1700000000","message":{"id":"1","conversation_id":2},"react_user_id":3,"value":"v","actions":{"reply":"hi"}}"#).unwrap();
    let key = [7u8; 16];
    let fingerprint = |c: &Callback| fingerprint(&key, c);
    let mut d = c.clone();
    d.action_time = "1700000001".into();
    assert_eq!(
        fingerprint(&c),
        fingerprint(&d),
        "a replay with another time"
    );
    d.action_name = Some("renamed".into());
    assert_eq!(fingerprint(&c), fingerprint(&d), "or another action name");
    d.actions = vec![("reply".into(), "hello".into())];
    assert_ne!(fingerprint(&c), fingerprint(&d), "another reply");
    let mut e = c.clone();
    e.user_id = crate::model::id::Id("4".into());
    assert_ne!(fingerprint(&c), fingerprint(&e));
    assert_ne!(
        fingerprint(&c),
        super::fingerprint(&[8u8; 16], &c),
        "another account's key, another fingerprint"
    );
}
