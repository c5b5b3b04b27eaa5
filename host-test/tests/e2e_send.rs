//! End to end through wasmtime: the component talks to the emulator over loopback.

mod common;

use common::{rig, rig_on, runtime, send_req};
use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions, FIRST_GROUP_ROOM};
use host_test::wit::{self, ChannelError};
use serde_json::{Value, json};

fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("JSON body")
}

/// Requests other than the one-time lookups: `spaces.info` (which keys the workspace rate
/// budget) and `conversations.list` (what a conversation the plugin did not open is: a DM or a
/// group; tested in `send_to_a_conversation`).
fn api_requests(emu: &Emulator) -> Vec<host_test::emulator::Recorded> {
    api_requests_with_lookups(emu)
        .into_iter()
        .filter(|r| r.path != "/v1/conversations.list")
        .collect()
}

/// Requests other than the one-time `spaces.info`.
fn api_requests_with_lookups(emu: &Emulator) -> Vec<host_test::emulator::Recorded> {
    let all = emu.requests();
    assert_eq!(
        all.first().map(|r| r.path.as_str()),
        Some("/v1/spaces.info"),
        "the workspace is looked up first"
    );
    assert_eq!(
        all.iter().filter(|r| r.path == "/v1/spaces.info").count(),
        1
    );
    all.into_iter().skip(1).collect()
}

#[test]
fn send_to_a_conversation() {
    let mut r = rig();
    let receipt = r
        .plugin
        .send(&send_req(
            &format!("conversation:{FIRST_GROUP_ROOM}"),
            "배포가 끝났습니다",
        ))
        .unwrap()
        .unwrap();
    let posted = r.emulator.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].text, "배포가 끝났습니다");
    assert_eq!(posted[0].conversation_id, FIRST_GROUP_ROOM);
    // The message id is above 2^53 and must come back exact.
    assert_eq!(receipt.message_id.as_ref(), Some(&posted[0].id));
    assert!(
        receipt
            .message_id
            .as_deref()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1 << 53
    );
    assert_eq!(receipt.conversation_id, Some(FIRST_GROUP_ROOM.to_string()));
    assert_eq!(receipt.send_time, Some(1_700_000_000));
    assert_eq!(receipt.account, "default");

    // A conversation the plugin did not open is looked up once in the bot's list (it is a
    // group here); the next send to it asks nothing more.
    let lookups: Vec<_> = api_requests_with_lookups(&r.emulator)
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(lookups, ["/v1/conversations.list", "/v1/messages.send"]);
    let reqs = api_requests(&r.emulator);
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/v1/messages.send")
    );
    assert!(
        reqs[0]
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = body_json(&reqs[0].body);
    assert_eq!(body["conversation_id"], json!(FIRST_GROUP_ROOM.to_string()));
    assert_eq!(body["text"], json!("배포가 끝났습니다"));
    // The text is rendered in blocks, followed by the Reply button.
    assert_eq!(body["blocks"][0]["text"], json!("배포가 끝났습니다"));
    assert_eq!(
        body["blocks"][1]["elements"][0]["action_type"],
        json!("call_modal")
    );
    r.plugin
        .send(&send_req(
            &format!("conversation:{FIRST_GROUP_ROOM}"),
            "두 번째",
        ))
        .unwrap()
        .unwrap();
    let lists = api_requests_with_lookups(&r.emulator)
        .iter()
        .filter(|r| r.path == "/v1/conversations.list")
        .count();
    assert_eq!(lists, 1, "the kind is remembered");
}

#[test]
fn bare_numeric_id_and_prefixes_go_to_the_conversation() {
    let mut r = rig();
    r.plugin
        .send(&send_req(&FIRST_GROUP_ROOM.to_string(), "a"))
        .unwrap()
        .unwrap();
    r.plugin
        .send(&send_req(&format!("kw:{FIRST_GROUP_ROOM}"), "b"))
        .unwrap()
        .unwrap();
    let posted = r.emulator.posted();
    assert_eq!(posted.len(), 2);
    assert!(posted.iter().all(|p| p.conversation_id == FIRST_GROUP_ROOM));
}

#[test]
fn send_to_a_user_opens_the_dm_once() {
    let mut r = rig();
    let user = r.emulator.users()[2].clone();
    let first = r
        .plugin
        .send(&send_req(&format!("user:{}", user.id), "안녕하세요"))
        .unwrap()
        .unwrap();
    let second = r
        .plugin
        .send(&send_req(&format!("kakaowork:user:{}", user.id), "두 번째"))
        .unwrap()
        .unwrap();
    assert_eq!(first.conversation_id, second.conversation_id);
    let paths: Vec<_> = api_requests(&r.emulator)
        .iter()
        .map(|q| q.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/conversations.open",
            "/v1/messages.send",
            "/v1/messages.send"
        ]
    );
    assert_eq!(
        body_json(&api_requests(&r.emulator)[0].body),
        json!({"user_id": user.id})
    );
    let posted = r.emulator.posted();
    assert_eq!(
        Some(posted[0].conversation_id.to_string()),
        first.conversation_id
    );
    // A new instance sharing the KV reuses the cached DM.
    let env = host_test::runtime::HostEnv {
        http: std::sync::Arc::new(r.prepared.policy.clone()),
        kv: r.kv.clone(),
        clock: r.clock.clone(),
    };
    let mut other = runtime().instantiate(&env).unwrap();
    other
        .configure(&r.prepared.redacted_json, &r.prepared.credentials)
        .unwrap()
        .unwrap();
    other
        .send(&send_req(&format!("user:{}", user.id), "세 번째"))
        .unwrap()
        .unwrap();
    let opens = r
        .emulator
        .requests()
        .iter()
        .filter(|q| q.path == "/v1/conversations.open")
        .count();
    assert_eq!(opens, 1);
}

#[test]
fn send_to_an_email_address() {
    let mut r = rig();
    let user = r.emulator.users()[1].clone();
    let receipt = r
        .plugin
        .send(&send_req(&format!("email:{}", user.email), "메일로 보냄"))
        .unwrap()
        .unwrap();
    let reqs = api_requests(&r.emulator);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/messages.send_by_email");
    let body = body_json(&reqs[0].body);
    assert_eq!(body["email"], json!(user.email));
    assert_eq!(body["text"], json!("메일로 보냄"));
    assert_eq!(Some(r.emulator.posted()[0].id.clone()), receipt.message_id);
}

#[test]
fn unknown_email_is_a_typed_api_error() {
    let mut r = rig();
    match r
        .plugin
        .send(&send_req("email:nobody@example.co.kr", "x"))
        .unwrap()
    {
        Err(ChannelError::Api(f)) => {
            assert_eq!(f.code, "invalid_parameter");
            assert!(!f.retryable);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_app_key_is_an_authentication_error() {
    let mut r = rig_on(runtime(), json!({}), Some("wrong.key"));
    match r.plugin.send(&send_req("3000001", "x")).unwrap() {
        Err(ChannelError::Authentication(f)) => {
            assert_eq!(f.code, "invalid_authentication");
            assert_eq!(f.http_status, 401);
            assert!(!f.retryable);
        }
        other => panic!("{other:?}"),
    }
    assert!(r.emulator.posted().is_empty());
    assert!(matches!(
        r.plugin.probe(None).unwrap(),
        Err(ChannelError::Authentication(_))
    ));
}

#[test]
fn unknown_conversation_is_conversation_not_found() {
    let mut r = rig();
    match r
        .plugin
        .send(&send_req("conversation:999999", "x"))
        .unwrap()
    {
        Err(ChannelError::Api(f)) => assert_eq!(f.code, "conversation_not_found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_target_makes_no_request() {
    let mut r = rig();
    for bad in ["#general", "user:abc", "email:nope", ""] {
        match r.plugin.send(&send_req(bad, "x")).unwrap() {
            Err(ChannelError::InvalidTarget(m)) => assert!(m.contains("conversation:<id>"), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(r.emulator.requests().is_empty());
    assert!(r.plugin.guest_requests().is_empty());
}

#[test]
fn probe_returns_the_bots_title_and_status() {
    let mut r = rig();
    let p = r.plugin.probe(None).unwrap().unwrap();
    assert_eq!(p.title, "Moltbot 에뮬레이터 봇");
    assert_eq!(p.status, host_test::wit::BotStatus::Activated);
    assert_eq!(p.bot_id, "1234");
    assert_eq!(p.account, "default");
    let reqs = api_requests(&r.emulator);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/v1/bots.info")
    );
}

#[test]
fn host_refuses_an_origin_other_than_the_configured_one() {
    // The host's policy says the account lives on `real`; the config handed to the guest
    // claims `evil`. The guest follows its config, and the host must refuse.
    let real = Emulator::start(EmulatorOptions::default()).unwrap();
    let evil = Emulator::start(EmulatorOptions::default()).unwrap();
    let prepared = host_test::runtime::config::prepare(
        common::with_secret(json!({"apiBase": real.base_url()})),
        Some(DEFAULT_APP_KEY),
    )
    .unwrap();
    let env = host_test::runtime::HostEnv {
        http: std::sync::Arc::new(prepared.policy.clone()),
        kv: host_test::runtime::kv::MemoryKv::new(),
        clock: host_test::runtime::clock::Clock::Real,
    };
    let mut plugin = runtime().instantiate(&env).unwrap();
    let lying = common::with_secret(json!({"apiBase": evil.base_url()})).to_string();
    plugin
        .configure(&lying, &prepared.credentials)
        .unwrap()
        .unwrap();
    match plugin.send(&send_req("3000001", "x")).unwrap() {
        Err(ChannelError::Denied(m)) => assert!(m.contains("not the API origin"), "{m}"),
        other => panic!("{other:?}"),
    }
    match plugin.probe(None).unwrap() {
        Err(ChannelError::Denied(_)) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        evil.requests().is_empty(),
        "nothing may reach another origin"
    );
    assert!(real.requests().is_empty());
}

#[test]
fn authorization_is_added_by_the_host_only() {
    let mut r = rig();
    r.plugin
        .send(&send_req("user:10000001", "x"))
        .unwrap()
        .unwrap();
    r.plugin.probe(None).unwrap().unwrap();
    let guest = r.plugin.guest_requests();
    assert_eq!(
        guest.len(),
        4,
        "spaces.info, conversations.open, messages.send, bots.info"
    );
    for g in &guest {
        assert!(
            g.headers
                .iter()
                .all(|(k, _)| !k.eq_ignore_ascii_case("authorization")),
            "guest produced {g:?}"
        );
        assert_eq!(g.account.as_deref(), Some("default"));
    }
    let wire = r.emulator.requests();
    assert_eq!(wire.len(), 4);
    for w in &wire {
        assert_eq!(
            w.header("authorization"),
            Some(format!("Bearer {DEFAULT_APP_KEY}").as_str())
        );
    }
}

#[test]
fn configure_through_wasm_reports_every_error_with_its_path() {
    let mut plugin = runtime()
        .instantiate(&host_test::runtime::HostEnv {
            http: std::sync::Arc::new(
                host_test::runtime::http::HttpPolicy::new(Default::default()),
            ),
            kv: host_test::runtime::kv::MemoryKv::new(),
            clock: host_test::runtime::clock::Clock::Real,
        })
        .unwrap();
    let bad = common::with_secret(
        json!({"dmPolicy": "everyone", "allowFrom": "123", "accounts": {"a": {"callbackUrl": "http://x.example/cb"}}}),
    );
    let issues = plugin
        .configure(&bad.to_string(), &[])
        .unwrap()
        .unwrap_err();
    let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channels.kakao.dmPolicy",
            "channels.kakao.allowFrom",
            "channels.kakao.accounts.a.callbackUrl"
        ]
    );
    assert!(issues.iter().all(|i| !i.fix.is_empty()));
    // An unconfigured instance refuses to send.
    assert!(matches!(
        plugin.send(&send_req("1", "x")).unwrap(),
        Err(ChannelError::NotConfigured)
    ));
}

#[test]
fn several_accounts_each_get_their_own_key() {
    let emu2 = Emulator::start(EmulatorOptions {
        app_key: "second.key".into(),
        ..Default::default()
    })
    .unwrap();
    let section = json!({
        "accounts": {
            "support": {"appKey": DEFAULT_APP_KEY},
            "internal": {"appKey": "second.key", "apiBase": emu2.base_url()}
        },
        "defaultAccount": "support"
    });
    let mut r = rig_on(runtime(), section, None);
    let cfg = r
        .plugin
        .configure(&r.prepared.redacted_json, &r.prepared.credentials)
        .unwrap()
        .unwrap();
    assert_eq!(cfg.default_account, "support");
    assert!(
        cfg.accounts
            .iter()
            .all(|a| a.configured && a.credential_source == wit::CredentialSource::Config)
    );
    // Both workspaces answer with the same space id, so the two accounts share one budget:
    // sent as a host sends, waiting when told to.
    let deliver = |r: &mut common::Rig, req: &wit::SendRequest| {
        host_test::serve::delivery::deliver(&mut r.plugin, req, &r.clock.clone(), 20, |_, _| {})
            .unwrap()
            .outcome
            .unwrap()
    };
    deliver(&mut r, &send_req("3000001", "to support"));
    let mut req = send_req("3000001", "to internal");
    req.account = Some("internal".into());
    let receipt = deliver(&mut r, &req);
    assert_eq!(receipt.account, "internal");
    assert_eq!(r.emulator.posted().len(), 1);
    assert_eq!(emu2.posted().len(), 1);
    assert_eq!(
        emu2.requests()[0].header("authorization"),
        Some("Bearer second.key")
    );
}
