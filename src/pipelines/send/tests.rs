use super::*;
use crate::contract::ports::HttpError;
use crate::contract::records::ChunkOutcome;
use crate::state::binding;
use crate::testkit::*;

#[test]
fn user_target_opens_once_then_uses_the_cache() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::new(vec![(200, OPEN), (200, SENT), (200, SENT)]);
    let ports = w.ports(&http);
    let r = ch.send(&ports, &req("user:10000003")).unwrap();
    assert_eq!(r.message_id.as_deref(), Some("9007199254740993"));
    assert_eq!(r.conversation_id.as_deref(), Some("77"));
    assert_eq!(r.send_time, Some(1700000000));
    assert!(!r.ambiguous);
    ch.send(&ports, &req_k("kakaowork:user:10000003", "again", "key-2"))
        .unwrap();
    assert_eq!(
        endpoints(&http),
        ["conversations.open", "messages.send", "messages.send"]
    );
}

#[test]
fn same_key_twice_sends_once() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::new(vec![(200, SENT)]);
    let ports = w.ports(&http);
    let a = ch.send(&ports, &req("5")).unwrap();
    let b = ch.send(&ports, &req("5")).unwrap();
    assert_eq!(a, b);
    assert_eq!(http.requests().len(), 1);
    let e = ch
        .send(&ports, &req_k("5", "other text", "key-1"))
        .unwrap_err();
    assert!(matches!(e, ChannelError::InvalidMessage(m) if m.contains("different message")));
}

#[test]
fn a_warm_send_makes_four_kv_calls_and_a_repeat_costs_no_budget() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::new(vec![(200, SENT), (200, SENT), (200, SENT)]);
    let ports = w.ports(&http);
    ch.send(&ports, &req_k("5", "first", "k1")).unwrap();
    let before = w.kv.calls.get();
    ch.send(&ports, &req_k("5", "second", "k2")).unwrap();
    // Admission, the ledger created claiming its part, the sent record, the ledger's outcome.
    assert_eq!(w.kv.calls.get() - before, 4);
    let budget = |w: &World| {
        crate::state::limiter::Limiter::new(&w.kv, "ws:1", Default::default())
            .admit(w.clock.0.get())
            .unwrap()
    };
    // A repeated call posts nothing and leaves the budget as it was.
    let probe = World::new();
    let twin = default_channel();
    let http2 = ScriptedHttp::new(vec![(200, SENT)]);
    twin.send(&probe.ports(&http2), &req_k("5", "first", "k1"))
        .unwrap();
    for _ in 0..3 {
        twin.send(&probe.ports(&http2), &req_k("5", "first", "k1"))
            .unwrap();
    }
    assert_eq!(http2.requests().len(), 1);
    // Burst 5: one request spent, so four more are admitted at once, then a wait.
    for _ in 0..4 {
        assert_eq!(budget(&probe), crate::state::limiter::Decision::Admit);
    }
    assert!(matches!(
        budget(&probe),
        crate::state::limiter::Decision::Wait(_)
    ));
}

#[test]
fn failure_part_way_resumes_at_the_first_unsent_chunk() {
    // at-least-once: a 5xx part is sent again when the send is resumed.
    let ch = configured(
        r#"{"textChunkLimit": 16, "delivery": "at-least-once"}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let text = "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbb ccccccccccccccc";
    let s1 = sent(1);
    let s3 = sent(3);
    let http = ScriptedHttp::new(vec![(200, &s1), (500, E500)]);
    let ports = w.ports(&http);
    match ch.send(&ports, &req_k("5", text, "long")).unwrap_err() {
        ChannelError::Transport(t) => {
            assert!(t.retry_after_ms.is_some(), "{t:?}");
            assert!(t.message.contains("at-least-once"), "{t:?}");
        }
        other => panic!("{other:?}"),
    }
    let http2 = ScriptedHttp::new(vec![(200, &sent(2)), (200, &s3)]);
    let r = ch
        .send(&w.ports(&http2), &req_k("5", text, "long"))
        .unwrap();
    let ids: Vec<_> = r
        .chunks
        .iter()
        .map(|c| c.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    let bodies: Vec<String> = http
        .requests()
        .iter()
        .chain(http2.requests().iter())
        .map(|r| String::from_utf8(r.body.clone().unwrap()).unwrap())
        .collect();
    assert!(
        bodies[0].contains("aaaa")
            && bodies[1].contains("bbbb")
            && bodies[2].contains("bbbb")
            && bodies[3].contains("cccc")
    );
}

#[test]
fn a_long_message_has_one_reply_button_under_its_last_chunk() {
    let ch = configured(
        r#"{"textChunkLimit": 16}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let text = "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbb ccccccccccccccc";
    let http = ScriptedHttp::new(vec![(200, &sent(1)), (200, &sent(2)), (200, &sent(3))]);
    ch.send(&w.ports(&http), &req_k("5", text, "long-button"))
        .unwrap();
    let bodies: Vec<serde_json::Value> = http
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(r.body.as_ref().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 3);
    for b in &bodies[..2] {
        assert!(b.get("blocks").is_none(), "no button mid-message: {b}");
    }
    assert!(bodies[0]["text"].as_str().unwrap().contains("aaaa"));
    let last = bodies[2]["blocks"].as_array().unwrap();
    assert!(last[0]["text"].as_str().unwrap().contains("cccc"));
    assert_eq!(
        last.last().unwrap()["elements"][0]["action_type"],
        "call_modal"
    );
}

#[test]
fn unknown_outcome_is_ambiguous_and_never_resent_by_default() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::from_results(vec![Err(HttpError::Timeout)]);
    let r = ch.send(&w.ports(&http), &req("5")).unwrap();
    assert!(r.ambiguous);
    assert_eq!(r.chunks[0].outcome, ChunkOutcome::Ambiguous);
    let http2 = ScriptedHttp::new(vec![]);
    let again = ch.send(&w.ports(&http2), &req("5")).unwrap();
    assert!(again.ambiguous);
    assert!(
        http2.requests().is_empty(),
        "an ambiguous chunk is not resent"
    );
}

#[test]
fn at_least_once_resends_unknown_outcomes() {
    let ch = configured(
        r#"{"delivery": "at-least-once"}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let http = ScriptedHttp::from_results(vec![Err(HttpError::Transport {
        message: "reset".into(),
        maybe_delivered: true,
    })]);
    match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
        ChannelError::Transport(t) => assert!(t.retry_after_ms.is_some()),
        other => panic!("{other:?}"),
    }
    let http2 = ScriptedHttp::new(vec![(200, SENT)]);
    let r = ch.send(&w.ports(&http2), &req("5")).unwrap();
    assert!(!r.ambiguous);
}

#[test]
fn abandoned_inflight_chunk_becomes_ambiguous_after_the_lease() {
    let ch = default_channel();
    let w = World::new();
    let mut l = Ledger::new(
        "5",
        crate::state::ledger::fnv1a("hello"),
        vec![("hello".into(), None)],
    );
    l.chunks[0].state = ChunkState::Inflight;
    l.chunks[0].since = Some(w.clock.0.get());
    w.kv.set(
        &crate::state::keys::ledger("default", "key-1"),
        &l.encode(),
        None,
    )
    .unwrap();
    let http = ScriptedHttp::new(vec![]);
    match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
        ChannelError::Deferred(ms) => assert_eq!(ms, INFLIGHT_LEASE_MS),
        other => panic!("{other:?}"),
    }
    w.clock.0.set(w.clock.0.get() + INFLIGHT_LEASE_MS);
    let r = ch.send(&w.ports(&http), &req("5")).unwrap();
    assert!(r.ambiguous);
    assert!(http.requests().is_empty());
}

#[test]
fn rate_limit_429_defers_and_blocks_other_instances() {
    let ch = default_channel();
    let w = World::new();
    let mut resp = crate::contract::ports::HttpResponse {
        status: 429,
        headers: vec![("Retry-After".into(), "30".into())],
        body: br#"{"success":false,"error":{"code":"too_many_requests","message":"x"}}"#.to_vec(),
    };
    resp.headers.push(("RateLimit-Limit".into(), "100".into()));
    let http = ScriptedHttp::from_results(vec![Ok(resp)]);
    match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
        ChannelError::Deferred(ms) => assert!((30_000..=31_000).contains(&ms), "{ms}"),
        other => panic!("{other:?}"),
    }
    // Another message, another instance: deferred without a request.
    let other = default_channel();
    let http2 = ScriptedHttp::new(vec![]);
    assert!(matches!(
        other.send(&w.ports(&http2), &req_k("6", "x", "k2")),
        Err(ChannelError::Deferred(_))
    ));
    assert!(http2.requests().is_empty());
    assert_eq!(
        crate::state::limiter::Limiter::new(&w.kv, "ws:1", Default::default())
            .budget(w.clock.0.get())
            .unwrap(),
        100
    );
}

#[test]
fn spent_budget_defers_without_a_request() {
    let ch = configured(
        r#"{"rateLimit": {"requestsPerMinute": 2, "burst": 1}}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let http = ScriptedHttp::new(vec![(200, &sent(1))]);
    ch.send(&w.ports(&http), &req_k("5", "a", "a")).unwrap();
    match ch.send(&w.ports(&http), &req_k("5", "b", "b")).unwrap_err() {
        ChannelError::Deferred(ms) => assert_eq!(ms, 30_000),
        other => panic!("{other:?}"),
    }
    assert_eq!(http.requests().len(), 1);
}

#[test]
fn kv_failure_fails_closed() {
    let ch = default_channel();
    let w = World::new();
    w.kv.fail.set(true);
    let http = ScriptedHttp::new(vec![]);
    assert!(matches!(
        ch.send(&w.ports(&http), &req("5")),
        Err(ChannelError::Storage(_))
    ));
    assert!(http.requests().is_empty());
}

#[test]
fn workspace_budget_is_shared_by_accounts() {
    let ch = configured(
        r#"{"accounts": {"a": {}, "b": {}}}"#,
        &[
            ("a", CredentialSource::Config),
            ("b", CredentialSource::Config),
        ],
    );
    let w = World::new();
    let space = r#"{"success":true,"space":{"id":230021}}"#;
    let http = ScriptedHttp::new(vec![
        (200, space),
        (200, &sent(1)),
        (200, space),
        (200, &sent(2)),
    ]);
    let ports = w.ports(&http);
    let mut ra = req_k("5", "x", "1");
    ra.account = Some("a".into());
    let mut rb = req_k("5", "y", "2");
    rb.account = Some("b".into());
    ch.send(&ports, &ra).unwrap();
    ch.send(&ports, &rb).unwrap();
    assert_eq!(w.kv.get("ws/v1/a").unwrap().unwrap(), b"ws:230021");
    assert_eq!(w.kv.get("ws/v1/b").unwrap().unwrap(), b"ws:230021");
    assert_eq!(
        endpoints(&http),
        [
            "spaces.info",
            "messages.send",
            "spaces.info",
            "messages.send"
        ]
    );
}

#[test]
fn repeated_authentication_failures_stop_calls_until_the_key_changes() {
    let ch = default_channel();
    let w = World::new();
    let bad = r#"{"success":false,"error":{"code":"invalid_authentication","message":"x"}}"#;
    let http = ScriptedHttp::new(vec![(401, bad), (401, bad), (401, bad)]);
    for i in 0..3 {
        assert!(matches!(
            ch.send(&w.ports(&http), &req_k("5", "x", &format!("k{i}"))),
            Err(ChannelError::Authentication(_))
        ));
    }
    match ch
        .send(&w.ports(&http), &req_k("5", "x", "k9"))
        .unwrap_err()
    {
        ChannelError::Authentication(f) => {
            assert!(f.message.contains("stopped"), "{}", f.message)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(http.requests().len(), 3, "no call once stopped");
    // A new key (a new configuration) lifts the stop.
    let mut fixed = Channel::default();
    fixed
        .configure(
            &with_secret("{}"),
            &[CredentialStatus {
                account: "default".into(),
                source: CredentialSource::Env,
                key_id: Some("k2".into()),
            }],
        )
        .unwrap();
    let http2 = ScriptedHttp::new(vec![(200, SENT)]);
    fixed
        .send(&w.ports(&http2), &req_k("5", "x", "k10"))
        .unwrap();
    assert!(w.kv.get("authfail/v1/default").unwrap().is_none());
}

#[test]
fn validation_errors_are_not_retryable() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::new(vec![(
        400,
        r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#,
    )]);
    match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
        ChannelError::Api(f) => {
            assert_eq!(f.code, "conversation_not_found");
            assert!(!f.retryable && f.retry_after_ms.is_none());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retries_stop_being_offered_after_max_attempts() {
    let ch = configured(
        r#"{"delivery": "at-least-once"}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    for attempt in 1..=MAX_ATTEMPTS {
        w.clock.0.set(w.clock.0.get() + 60_000);
        let http = ScriptedHttp::new(vec![(503, E500)]);
        match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
            ChannelError::Transport(t) => assert_eq!(
                t.retry_after_ms.is_some(),
                attempt < MAX_ATTEMPTS,
                "attempt {attempt}"
            ),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_5xx_to_messages_send_is_ambiguous_and_not_resent_at_most_once() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::new(vec![(500, E500)]);
    let r = ch.send(&w.ports(&http), &req("5")).unwrap();
    assert!(r.ambiguous, "{r:?}");
    assert_eq!(r.chunks[0].outcome, ChunkOutcome::Ambiguous);
    // The same key again: reported again, and nothing is posted a second time.
    let again = ScriptedHttp::new(vec![]);
    let r2 = ch.send(&w.ports(&again), &req("5")).unwrap();
    assert!(r2.ambiguous);
    assert!(again.requests().is_empty(), "{:?}", endpoints(&again));
    // A 4xx is a refusal: not ambiguous, an error.
    let bad = r#"{"success":false,"error":{"code":"invalid_parameter","message":"x"}}"#;
    let http = ScriptedHttp::new(vec![(400, bad)]);
    match ch.send(&w.ports(&http), &req_k("5", "other", "key-2")) {
        Err(ChannelError::Api(f)) => assert!(!f.retryable, "{f:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stale_dm_cache_reopens() {
    let ch = default_channel();
    let w = World::new();
    w.kv.set("dm/v1/default/5", b"666", None).unwrap();
    let nf = r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#;
    let http = ScriptedHttp::new(vec![(404, nf), (200, OPEN), (200, SENT)]);
    // One call: the stale DM is dropped, reopened, and the message sent there.
    ch.send(&w.ports(&http), &req("user:5")).unwrap();
    assert_eq!(
        w.kv.get("dm/v1/default/5").unwrap().as_deref(),
        Some(&b"77"[..])
    );
    assert_eq!(
        endpoints(&http),
        ["messages.send", "conversations.open", "messages.send"]
    );
}

#[test]
fn a_dm_that_is_gone_even_when_reopened_fails_after_one_retry() {
    let ch = default_channel();
    let w = World::new();
    w.kv.set("dm/v1/default/5", b"666", None).unwrap();
    let nf = r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#;
    let http = ScriptedHttp::new(vec![(404, nf), (200, OPEN), (404, nf)]);
    match ch.send(&w.ports(&http), &req("user:5")).unwrap_err() {
        ChannelError::Api(f) => assert_eq!(f.code, "conversation_not_found"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        endpoints(&http),
        ["messages.send", "conversations.open", "messages.send"]
    );
}

#[test]
fn bad_input_fails_before_any_request() {
    let ch = configured(
        r#"{"accounts":{"a":{},"off":{"enabled":false},"nokey":{}}}"#,
        &[
            ("a", CredentialSource::Config),
            ("off", CredentialSource::Config),
        ],
    );
    let w = World::new();
    let http = ScriptedHttp::new(vec![]);
    let ports = w.ports(&http);
    type Check = fn(&ChannelError) -> bool;
    let cases: Vec<(SendRequest, Check)> = vec![
        (req("#general"), |e| {
            matches!(e, ChannelError::InvalidTarget(_))
        }),
        (
            SendRequest {
                text: " ".into(),
                ..req("1")
            },
            |e| matches!(e, ChannelError::InvalidMessage(_)),
        ),
        (
            SendRequest {
                text: "가".repeat(MAX_TEXT_CHARS + 1),
                ..req("1")
            },
            |e| matches!(e, ChannelError::InvalidMessage(_)),
        ),
        (
            SendRequest {
                idempotency_key: "".into(),
                ..req("1")
            },
            |e| matches!(e, ChannelError::InvalidMessage(_)),
        ),
        (
            SendRequest {
                account: Some("zzz".into()),
                ..req("1")
            },
            |e| matches!(e, ChannelError::UnknownAccount(_)),
        ),
        (
            SendRequest {
                account: Some("off".into()),
                ..req("1")
            },
            |e| matches!(e, ChannelError::AccountDisabled(_)),
        ),
        (
            SendRequest {
                account: Some("nokey".into()),
                ..req("1")
            },
            |e| matches!(e, ChannelError::MissingCredential(_)),
        ),
    ];
    for (r, check) in cases {
        let e = ch.send(&ports, &r).unwrap_err();
        assert!(check(&e), "{r:?} gave {e:?}");
    }
    assert!(http.requests().is_empty());
    let fresh = Channel::default();
    assert_eq!(
        fresh.send(&ports, &req("1")),
        Err(ChannelError::NotConfigured)
    );
}

#[test]
fn reply_button_can_be_turned_off_and_relabelled() {
    let w = World::new();
    let off = configured(
        r#"{"replyButton": false}"#,
        &[("default", CredentialSource::Env)],
    );
    let http = ScriptedHttp::new(vec![(200, SENT)]);
    off.send(&w.ports(&http), &req_k("5", "plain", "off-1"))
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(http.requests()[0].body.as_ref().unwrap()).unwrap();
    assert!(body.get("blocks").is_none(), "{body}");

    let on = configured(
        r#"{"replyButton": {"label": "Reply"}}"#,
        &[("default", CredentialSource::Env)],
    );
    let http = ScriptedHttp::new(vec![(200, SENT)]);
    on.send(&w.ports(&http), &req_k("5", "with button", "on-1"))
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(http.requests()[0].body.as_ref().unwrap()).unwrap();
    assert_eq!(body["blocks"][0]["text"], "with button");
    let button = &body["blocks"][1]["elements"][0];
    assert_eq!(button["text"], "Reply");
    assert_eq!(button["action_type"], "call_modal");
    // The message is remembered as ours, with its button's nonce, so the button may call
    // back, from that conversation only.
    let raw =
        w.kv.get("sent/v1/default/9007199254740993")
            .unwrap()
            .unwrap();
    let record = binding::SentRecord::decode(&String::from_utf8(raw).unwrap()).unwrap();
    assert!(record.group && !record.nonce.is_empty(), "{record:?}");
    let key = binding::Keys::new(
        &crate::api::callback::signing_key(&w.kv, &w.random, "default").unwrap(),
    );
    let claim = binding::Claim {
        account: "default",
        message_id: "9007199254740993",
        conversation: &record.conversation,
        user: "5",
    };
    let checked = binding::check(&key, button["value"].as_str().unwrap(), &record, &claim);
    assert_eq!(
        checked.unwrap().purpose,
        crate::state::binding::Purpose::Reply
    );
    let elsewhere = binding::Claim {
        conversation: "999",
        ..claim
    };
    assert!(binding::check(&key, button["value"].as_str().unwrap(), &record, &elsewhere).is_err());
}

#[test]
fn a_group_send_deferred_after_its_room_was_opened_opens_no_second_room() {
    // The budget lets the open through, not the message: the call is deferred after the open.
    let ch = configured(
        r#"{"rateLimit": {"requestsPerMinute": 60, "burst": 1}}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let open = r#"{"success":true,"conversation":{"id":"88","type":"group"}}"#;
    let http = ScriptedHttp::new(vec![(200, open), (200, &sent(5))]);
    let req = req_k("users:10,11", "hello", "group-1");
    let wait = match ch.send(&w.ports(&http), &req) {
        Err(ChannelError::Deferred(ms)) => ms,
        other => panic!("expected a deferral, got {other:?}"),
    };
    // Called again when told: the room the first call opened, no new one.
    w.clock.0.set(w.clock.0.get() + wait);
    let receipt = ch.send(&w.ports(&http), &req).unwrap();
    assert_eq!(receipt.conversation_id.as_deref(), Some("88"));
    assert_eq!(endpoints(&http), ["conversations.open", "messages.send"]);
}
