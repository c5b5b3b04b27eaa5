use super::*;
use crate::model::config::RateConfig;
use crate::testkit::{TEST_SECRET, with_secret_value};
use serde_json::Value;
use serde_json::json;

fn ok(v: Value) -> Report {
    parse(&with_secret_value(v)).unwrap_or_else(|e| panic!("{e:#?}"))
}
fn errs(v: Value) -> Vec<ConfigIssue> {
    parse(&with_secret_value(v)).expect_err("should be rejected")
}

#[test]
fn no_secret_is_needed_and_the_opt_out_is_warned() {
    // The seed's setups name no callbackSecret: the plugin makes a token itself (tested in
    // `inbound`), so nothing is refused and there is nothing to warn about.
    for v in [
        json!({"appKey": "k"}),
        json!({"accounts": {"a": {"callbackSecret": TEST_SECRET}, "b": {}}}),
        json!({"replyButton": false, "callbackPath": "/cb"}),
    ] {
        let r = parse(&v).unwrap_or_else(|e| panic!("{v}: {e:#?}"));
        assert!(r.warnings.is_empty(), "{v}: {:?}", r.warnings);
    }
    // A send-only account (no button, no callback URL) is known as one.
    let r = parse(&json!({"replyButton": false})).unwrap();
    assert!(!r.config.accounts[0].receives_callbacks);
    // The opt-out: accepted, warned, named in the warning.
    let r = parse(&json!({"dangerouslyAcceptUnauthenticatedCallbacks": true})).unwrap();
    assert!(r.config.accounts[0].accept_unauthenticated);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.path.ends_with(UNAUTHENTICATED_OPT_OUT)),
        "{:?}",
        r.warnings
    );
    // Anything but true is not an opt-out.
    let e = parse(&json!({"dangerouslyAcceptUnauthenticatedCallbacks": "yes"})).unwrap_err();
    assert!(
        e.iter().any(|i| i.path.ends_with(UNAUTHENTICATED_OPT_OUT)),
        "{e:?}"
    );
}

#[test]
fn seed_single_account_example() {
    let r = ok(json!({"enabled": true, "appKey": "your-app-key-here", "dmPolicy": "pairing"}));
    assert_eq!(r.config.default_account, "default");
    let a = &r.config.accounts[0];
    assert!(a.enabled && a.has_inline_key && a.is_default);
    assert_eq!(a.dm_policy, DmPolicy::Pairing);
    assert_eq!(a.api_base, DEFAULT_API_BASE);
    assert_eq!(
        a.callback_path.as_deref(),
        Some("/kakaowork/default/callback")
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // As written in the seed, without a secret: the same, with nothing to warn about.
    let r = parse(&json!({"enabled": true, "appKey": "your-app-key-here", "dmPolicy": "pairing"}))
        .unwrap();
    assert!(r.config.accounts[0].callback_secret.is_none());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn seed_multi_account_example() {
    let r = ok(json!({
        "enabled": true,
        "accounts": {
            "support": {"appKey": "SUPPORT_BOT_APP_KEY", "dmPolicy": "open"},
            "internal": {"appKey": "INTERNAL_BOT_APP_KEY", "dmPolicy": "allowlist", "allowFrom": ["12345", "67890"]}
        },
        "defaultAccount": "support"
    }));
    let ids: Vec<_> = r.config.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["internal", "support"]);
    assert_eq!(r.config.default_account, "support");
    let internal = r.config.account(Some("internal")).unwrap();
    assert_eq!(internal.allow_from, ["12345", "67890"]);
    assert_eq!(internal.dm_policy, DmPolicy::Allowlist);
    assert!(!internal.is_default);
    // `open` is legal but warned about, with the account's path.
    assert!(
        r.warnings
            .iter()
            .any(|w| w.path == "channels.kakao.accounts.support" && w.message.contains("open"))
    );
}

#[test]
fn seed_callback_example_derives_nothing_surprising() {
    let r = ok(json!({
        "callbackUrl": "https://your-domain.com/kakao/callback",
        "callbackPath": "/kakao/callback"
    }));
    assert_eq!(
        r.config.accounts[0].callback_path.as_deref(),
        Some("/kakao/callback")
    );
    let r = ok(json!({"callbackUrl": "https://x.example/hook/kw?x=1"}));
    assert_eq!(
        r.config.accounts[0].callback_path.as_deref(),
        Some("/hook/kw")
    );
}

#[test]
fn every_error_is_reported_with_its_path() {
    let e = errs(json!({
        "enabled": "yes",
        "dmPolicy": "everyone",
        "groupPolicy": "pairing",
        "allowFrom": "12345",
        "callbackUrl": "http://example.com/cb",
        "callbackPath": "cb",
        "proxy": "proxy.local",
        "accounts": {
            "a": {"dmPolicy": 3, "allowFrom": ["1", {"id": 2}, -5], "apiBase": "https://api.kakaowork.com/v1"},
            "b": "not an object",
            "c": {"defaultAccount": "a"}
        },
        "defaultAccount": "zzz"
    }));
    let paths: Vec<&str> = e.iter().map(|i| i.path.as_str()).collect();
    for want in [
        "channels.kakao.enabled",
        "channels.kakao.dmPolicy",
        "channels.kakao.groupPolicy",
        "channels.kakao.allowFrom",
        "channels.kakao.callbackUrl",
        "channels.kakao.callbackPath",
        "channels.kakao.proxy",
        "channels.kakao.accounts.a.dmPolicy",
        "channels.kakao.accounts.a.allowFrom[1]",
        "channels.kakao.accounts.a.allowFrom[2]",
        "channels.kakao.accounts.a.apiBase",
        "channels.kakao.accounts.b",
        "channels.kakao.accounts.c.defaultAccount",
        "channels.kakao.defaultAccount",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:#?}");
    }
    // The invalid base callbackPath is inherited by accounts a and c, which then collide.
    assert!(
        paths.contains(&"channels.kakao.accounts.c.callbackPath"),
        "{paths:#?}"
    );
    assert_eq!(e.len(), 15, "{e:#?}");
    for issue in &e {
        assert!(
            !issue.fix.is_empty() && !issue.message.is_empty(),
            "{issue:?}"
        );
    }
    let policy = e
        .iter()
        .find(|i| i.path == "channels.kakao.dmPolicy")
        .unwrap();
    assert!(policy.fix.contains("pairing, allowlist, open, disabled"));
}

#[test]
fn delivery_settings() {
    let cfg = ok(json!({"rateLimit": {"requestsPerMinute": 100, "burst": 2}, "textChunkLimit": 500,
                        "delivery": "at-least-once", "accounts": {"a": {}, "b": {"delivery": "at-most-once"}}}))
    .config;
    let a = cfg.account(Some("a")).unwrap();
    assert_eq!(
        a.rate_limit,
        RateConfig {
            requests_per_minute: 100,
            burst: 2
        }
    );
    assert_eq!(a.text_chunk_limit, 500);
    assert_eq!(a.delivery, Delivery::AtLeastOnce);
    assert_eq!(
        cfg.account(Some("b")).unwrap().delivery,
        Delivery::AtMostOnce
    );
    let d = ok(json!({})).config;
    assert_eq!(d.accounts[0].rate_limit, RateConfig::default());
    assert_eq!(d.accounts[0].text_chunk_limit, DEFAULT_TEXT_CHUNK_LIMIT);
    let e = errs(
        json!({"rateLimit": {"requestsPerMinute": 0, "burst": "x"}, "textChunkLimit": 4000, "delivery": "exactly-once"}),
    );
    let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channels.kakao.rateLimit.requestsPerMinute",
            "channels.kakao.rateLimit.burst",
            "channels.kakao.textChunkLimit",
            "channels.kakao.delivery"
        ]
    );
}

#[test]
fn callback_settings() {
    let secret = "abcdefghijklmnopqrstuvwxyz012345";
    let r = ok(
        json!({"callbackSecret": secret, "replyButton": {"label": "Reply"},
                      "accounts": {"a": {}, "b": {"replyButton": false, "callbackPath": "/b"}}}),
    );
    let a = r.config.account(Some("a")).unwrap();
    assert_eq!(a.callback_secret.as_deref(), Some(secret));
    assert_eq!(
        a.reply_button,
        ReplyButton {
            enabled: true,
            label: "Reply".into()
        }
    );
    assert!(!r.config.account(Some("b")).unwrap().reply_button.enabled);
    assert!(
        r.warnings
            .iter()
            .all(|w| !w.message.contains("callbackSecret"))
    );
    let e = errs(
        json!({"callbackSecret": "short", "accounts": {"a": {"callbackPath": "/same"}, "b": {"callbackPath": "/same"}},
                        "replyButton": {"label": "this label is far too long for a button"}}),
    );
    let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channels.kakao.callbackSecret",
            "channels.kakao.replyButton.label",
            "channels.kakao.accounts.b.callbackPath"
        ]
    );
}

#[test]
fn not_an_object_and_bad_json() {
    assert_eq!(errs(json!([1]))[0].path, "channels.kakao");
    let e = parse_str("{ not json").unwrap_err();
    assert_eq!(e[0].path, "channels.kakao");
    assert!(e[0].message.contains("not valid JSON"));
}

#[test]
fn account_resolution() {
    let cfg = ok(json!({"accounts": {"b": {}, "a": {}}})).config;
    assert_eq!(cfg.default_account, "a", "first sorted id when no default");
    let cfg = ok(json!({"accounts": {"b": {}, "default": {}}})).config;
    assert_eq!(cfg.default_account, "default");
    let cfg = ok(json!({"accounts": {"b": {}, "a": {}}, "defaultAccount": "B"})).config;
    assert_eq!(cfg.account(None).unwrap().id, "b");
    assert_eq!(cfg.account(Some("A")).unwrap().id, "a");
    let err = cfg.account(Some("nope")).unwrap_err();
    assert!(err.to_string().contains("a, b"), "{err}");
}

#[test]
fn accounts_inherit_base_fields_and_override_them() {
    let cfg = ok(json!({
        "dmPolicy": "allowlist", "allowFrom": [1], "apiBase": "http://127.0.0.1:9000/",
        "enabled": true,
        "accounts": {"x": {"dmPolicy": "disabled"}, "y": {"enabled": false}}
    }))
    .config;
    let x = cfg.account(Some("x")).unwrap();
    assert_eq!(x.dm_policy, DmPolicy::Disabled);
    assert_eq!(x.allow_from, ["1"]);
    assert_eq!(x.api_base, "http://127.0.0.1:9000");
    assert!(x.enabled);
    assert!(!cfg.account(Some("y")).unwrap().enabled);
    let off = ok(json!({"enabled": false, "accounts": {"x": {}}})).config;
    assert!(!off.account(Some("x")).unwrap().enabled);
}

#[test]
fn account_ids_are_normalised_and_collisions_rejected() {
    let r = ok(json!({"accounts": {"Sales Team": {}}}));
    assert_eq!(r.config.accounts[0].id, "sales-team");
    assert!(r.warnings.iter().any(|w| w.fix.contains("sales-team")));
    let e = errs(json!({"accounts": {"Ops": {}, "ops": {}}}));
    assert!(e[0].message.contains("both normalise"));
    assert_eq!(normalize_account_id(&"x".repeat(80)).len(), 64);
}

#[test]
fn plain_http_api_base_only_on_loopback() {
    ok(json!({"apiBase": "http://localhost:8080"}));
    ok(json!({"apiBase": "https://cbt-kw-api.kkep.io"}));
    let e = errs(json!({"apiBase": "http://api.kakaowork.com"}));
    assert_eq!(e[0].path, "channels.kakao.apiBase");
}

#[test]
fn a_host_that_only_starts_with_127_is_not_loopback() {
    ok(json!({"apiBase": "http://127.0.0.1:8080"}));
    ok(json!({"apiBase": "http://127.1.2.3"}));
    ok(json!({"apiBase": "http://[::1]:9000"}));
    for base in [
        "http://127.evil.example",
        "http://127.0.0.1.evil.example",
        "http://127.0.0.256",
        "http://localhost.evil.example",
    ] {
        let e = errs(json!({ "apiBase": base }));
        assert_eq!(e[0].path, "channels.kakao.apiBase", "{base}");
        assert!(e[0].message.contains("must use https"), "{base}: {e:?}");
    }
}

#[test]
fn a_socks_proxy_is_refused_with_a_fix() {
    ok(json!({"proxy": "http://proxy.example.com:3128"}));
    let e = errs(json!({"proxy": "socks5://127.0.0.1:1080"}));
    assert_eq!(e[0].path, "channels.kakao.proxy");
    assert!(e[0].fix.contains("HTTP proxy"), "{e:?}");
}

#[test]
fn allow_entries_must_be_user_ids() {
    let e = errs(json!({"allowFrom": ["123", "abc", "kakao:x1", "**"]}));
    let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channels.kakao.allowFrom[1]",
            "channels.kakao.allowFrom[2]",
            "channels.kakao.allowFrom[3]"
        ]
    );
    assert!(e[0].message.contains("`abc`"), "{e:?}");
}

#[test]
fn allow_entries_are_normalised() {
    let cfg = ok(json!({"allowFrom": ["kakao:123", "KW: 456", 789, "*", "kakaowork:9"]})).config;
    assert_eq!(cfg.accounts[0].allow_from, ["123", "456", "789", "*", "9"]);
}

#[test]
fn unknown_keys_warn_and_odd_keys_get_quoted_paths() {
    let r = ok(json!({"dmPolicyy": "open", "accounts": {"a": {"we ird": 1}}}));
    let paths: Vec<_> = r.warnings.iter().map(|w| w.path.as_str()).collect();
    assert!(paths.contains(&"channels.kakao.dmPolicyy"), "{paths:?}");
    assert!(
        paths.contains(&"channels.kakao.accounts.a[\"we ird\"]"),
        "{paths:?}"
    );
}

#[test]
fn credential_precedence() {
    let cfg = ok(
        json!({"accounts": {"a": {"appKey": "k", "keyFile": "/f"}, "b": {"keyFile": "/f"}, "c": {}},
                        "defaultAccount": "c"}),
    )
    .config;
    let src = |id: &str, env| cfg.account(Some(id)).unwrap().credential_plan(env);
    assert_eq!(src("a", true), CredentialSource::Config);
    assert_eq!(src("b", true), CredentialSource::KeyFile);
    assert_eq!(src("c", true), CredentialSource::Env);
    assert_eq!(src("c", false), CredentialSource::None);
    let cfg2 = ok(json!({"accounts": {"a": {}, "c": {}}, "defaultAccount": "c"})).config;
    assert_eq!(
        cfg2.account(Some("a")).unwrap().credential_plan(true),
        CredentialSource::None,
        "the env var is for the default account only"
    );
}

#[test]
fn redaction_removes_every_key_value() {
    let mut v =
        json!({"appKey": "base-secret", "accounts": {"a": {"appKey": "a-secret"}, "b": {}}});
    assert_eq!(redact_credentials(&mut v), 2);
    let text = v.to_string();
    assert!(!text.contains("secret"), "{text}");
    let cfg = ok(v.clone()).config;
    assert!(cfg.accounts.iter().all(|a| a.has_inline_key));
    let orig = json!({"appKey": "base-secret", "accounts": {"a": {"appKey": "a-secret"}, "b": {}}});
    let a = ok(orig.clone()).config;
    assert_eq!(
        inline_app_key(&orig, a.account(Some("a")).unwrap()),
        Some("a-secret")
    );
    assert_eq!(
        inline_app_key(&orig, a.account(Some("b")).unwrap()),
        Some("base-secret")
    );
}

#[test]
fn the_state_is_a_redis_url_at_the_top_and_leaves_the_sandbox_redacted() {
    let base = json!({"callbackSecret": "test-callback-secret-0123456789"});
    let with = |v: Value| {
        let mut c = base.clone();
        c["state"] = v;
        c
    };
    assert!(parse(&with(json!("redis://:pw@127.0.0.1:6379/2"))).is_ok());
    assert!(parse(&with(json!(true))).is_ok(), "the redacted form");
    for bad in [json!("/var/lib/kakaowork"), json!("redis://"), json!(6379)] {
        let issues = parse(&with(bad.clone())).expect_err("refused");
        assert!(
            issues
                .iter()
                .any(|i| i.path == "channels.kakao.state" && i.fix.contains("redis://")),
            "{bad}: {issues:?}"
        );
    }
    let mut nested = base.clone();
    nested["accounts"] = json!({"a": {"state": "redis://127.0.0.1:6379/0"}});
    let issues = parse(&nested).expect_err("only at the top");
    assert!(
        issues
            .iter()
            .any(|i| i.path == "channels.kakao.accounts.a.state"),
        "{issues:?}"
    );
    let mut v = with(json!("redis://:secret-pw@10.0.0.5:6379/0"));
    redact_credentials(&mut v);
    assert!(!v.to_string().contains("secret-pw"), "{v}");
}

#[test]
fn the_state_may_use_tls_with_a_ca_and_a_refused_value_is_not_repeated() {
    let base = json!({"callbackSecret": "test-callback-secret-0123456789"});
    let mut tls = base.clone();
    tls["state"] = json!("rediss://app:pw@cache.example.com:6380/0");
    tls["stateCa"] = json!("/etc/ssl/redis-ca.pem");
    assert!(parse(&tls).is_ok());
    // A URL of another kind, with its password: refused without repeating it.
    let mut other = base.clone();
    other["state"] = json!("postgres://admin:pg-secret-pw@db/app");
    let issues = parse(&other).expect_err("refused");
    assert!(
        !format!("{issues:?}").contains("pg-secret-pw"),
        "{issues:?}"
    );
    let mut ca = base.clone();
    ca["stateCa"] = json!(7);
    let issues = parse(&ca).expect_err("refused");
    assert!(
        issues.iter().any(|i| i.path == "channels.kakao.stateCa"),
        "{issues:?}"
    );
}

#[test]
fn workers_is_a_small_whole_number_at_the_top() {
    let base = json!({"callbackSecret": "test-callback-secret-0123456789"});
    let with = |v: Value| {
        let mut c = base.clone();
        c["workers"] = v;
        c
    };
    for good in [json!(1), json!(4), json!(16)] {
        assert!(parse(&with(good.clone())).is_ok(), "{good}");
    }
    for bad in [json!(0), json!(17), json!(2.5), json!("4"), json!(-1)] {
        let issues = parse(&with(bad.clone())).expect_err("refused");
        assert!(
            issues
                .iter()
                .any(|i| i.path == "channels.kakao.workers" && i.message.contains("1 to 16")),
            "{bad}: {issues:?}"
        );
    }
    let mut nested = base.clone();
    nested["accounts"] = json!({"a": {"workers": 2}});
    let issues = parse(&nested).expect_err("only at the top");
    assert!(
        issues
            .iter()
            .any(|i| i.path == "channels.kakao.accounts.a.workers"),
        "{issues:?}"
    );
}
