//! Access control through wasmtime: the guest's check-policy over the host's pairing store
//! (`moltbot:channel/pairing`), and one pairing state shared by separate SQLite connections, as
//! a serving process and an admin's command line would have.

mod common;

use std::sync::Arc;

use host_test::runtime::clock::Clock;
use host_test::runtime::config::prepare;
use host_test::runtime::http::HttpPolicy;
use host_test::runtime::kv::{KvStore, SqliteKv};
use host_test::runtime::pairing::{Pairing, PairingError};
use host_test::runtime::{HostEnv, Plugin};
use host_test::wit::{ChatType, CredentialSource, DmPolicy, PolicyDecision};
use serde_json::json;

fn instance(kv: Arc<dyn KvStore>, clock: &Clock, section: serde_json::Value) -> Plugin {
    let prepared = prepare(common::with_secret(section), Some("k")).unwrap();
    let env = HostEnv {
        http: Arc::new(HttpPolicy::new(Default::default())),
        kv,
        clock: clock.clone(),
    };
    let mut p = common::runtime().instantiate(&env).unwrap();
    p.configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    p
}

fn db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kw-access-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("state.sqlite3")
}

fn code_of(d: PolicyDecision) -> (String, bool) {
    match d {
        PolicyDecision::PairingRequired(p) => (p.code, p.created),
        other => panic!("expected pairing, got {other:?}"),
    }
}

#[test]
fn approval_in_one_connection_is_seen_by_another() {
    let path = db("shared");
    let clock = Clock::fake(1_700_000_000_000);
    let mut server = instance(SqliteKv::open(&path).unwrap(), &clock, json!({}));
    // The admin's command line: the host's store over its own connection.
    let admin_kv = SqliteKv::open(&path).unwrap();
    let admin = Pairing::new(&*admin_kv, "default");

    let (code, created) = code_of(
        server
            .check_policy(None, "10000003", ChatType::Direct)
            .unwrap()
            .unwrap(),
    );
    assert!(created);
    let listed = admin.snapshot(clock.now_ms()).unwrap().pending;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].code.as_str(), listed[0].user_id.as_str()),
        (code.as_str(), "10000003")
    );

    let approval = admin.approve(clock.now_ms(), &code.to_lowercase()).unwrap();
    assert_eq!(approval.user_id, "10000003");
    assert!(matches!(
        server
            .check_policy(None, "10000003", ChatType::Direct)
            .unwrap()
            .unwrap(),
        PolicyDecision::Allow(_)
    ));
    // The approval survives a restart: a new connection still allows the user.
    let mut restarted = instance(SqliteKv::open(&path).unwrap(), &clock, json!({}));
    assert!(matches!(
        restarted
            .check_policy(None, "10000003", ChatType::Direct)
            .unwrap()
            .unwrap(),
        PolicyDecision::Allow(_)
    ));
}

#[test]
fn concurrent_approvals_never_lose_one() {
    let path = db("concurrent");
    let clock = Clock::fake(1_700_000_000_000);
    let section = json!({"accounts": {"a": {}}});
    let mut server = instance(SqliteKv::open(&path).unwrap(), &clock, section.clone());
    let codes: Vec<String> = ["1001", "1002", "1003"]
        .iter()
        .map(|u| {
            code_of(
                server
                    .check_policy(None, u, ChatType::Direct)
                    .unwrap()
                    .unwrap(),
            )
            .0
        })
        .collect();
    let threads: Vec<_> = codes
        .into_iter()
        .map(|code| {
            let path = path.clone();
            let clock = clock.clone();
            let section = section.clone();
            std::thread::spawn(move || {
                let _ = section;
                let admin_kv = SqliteKv::open(&path).unwrap();
                Pairing::new(&*admin_kv, "a")
                    .approve(clock.now_ms(), &code)
                    .unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for u in ["1001", "1002", "1003"] {
        assert!(
            matches!(
                server
                    .check_policy(None, u, ChatType::Direct)
                    .unwrap()
                    .unwrap(),
                PolicyDecision::Allow(_)
            ),
            "{u} was lost"
        );
    }
    let kv = SqliteKv::open(&path).unwrap();
    let store = Pairing::new(&*kv, "a").snapshot(clock.now_ms()).unwrap();
    assert!(store.pending.is_empty());
    assert_eq!(store.allowed.len(), 3);
}

#[test]
fn pairing_expires_after_an_hour_on_the_fake_clock() {
    let clock = Clock::fake(1_700_000_000_000);
    let kv: Arc<dyn KvStore> = host_test::runtime::kv::MemoryKv::new();
    let mut p = instance(kv.clone(), &clock, json!({}));
    let (code, _) = code_of(
        p.check_policy(None, "77", ChatType::Direct)
            .unwrap()
            .unwrap(),
    );
    for u in ["78", "79"] {
        p.check_policy(None, u, ChatType::Direct).unwrap().unwrap();
    }
    assert!(matches!(
        p.check_policy(None, "80", ChatType::Direct)
            .unwrap()
            .unwrap(),
        PolicyDecision::Deny(_)
    ));
    clock.advance(3_599_999);
    let (same, created) = code_of(
        p.check_policy(None, "77", ChatType::Direct)
            .unwrap()
            .unwrap(),
    );
    assert_eq!((same.as_str(), created), (code.as_str(), false));
    clock.advance(1);
    let store = Pairing::new(&*kv, "default");
    assert!(store.snapshot(clock.now_ms()).unwrap().pending.is_empty());
    match store.approve(clock.now_ms(), &code) {
        Err(e @ PairingError::NotFound(_)) => assert!(e.to_string().contains("expire"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A new request gets a new code.
    let (fresh, created) = code_of(
        p.check_policy(None, "77", ChatType::Direct)
            .unwrap()
            .unwrap(),
    );
    assert!(created);
    assert_ne!(fresh, code);
}

#[test]
fn configure_reports_each_account() {
    let clock = Clock::Real;
    let prepared = prepare(
        common::with_secret(json!({
            "enabled": true,
            "accounts": {
                "support": {"appKey": "SUPPORT_BOT_APP_KEY", "dmPolicy": "open"},
                "internal": {"appKey": "INTERNAL_BOT_APP_KEY", "dmPolicy": "allowlist", "allowFrom": ["12345", "67890"]},
                "spare": {}
            },
            "defaultAccount": "support"
        })),
        None,
    )
    .unwrap();
    let kv: Arc<dyn KvStore> = host_test::runtime::kv::MemoryKv::new();
    let env = HostEnv {
        http: Arc::new(prepared.policy.clone()),
        kv: kv.clone(),
        clock: clock.clone(),
    };
    let mut p = common::runtime().instantiate(&env).unwrap();
    let r = p
        .configure(&prepared.redacted_json, &prepared.credentials)
        .unwrap()
        .unwrap();
    let summary: Vec<_> = r
        .accounts
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.enabled,
                a.configured,
                a.credential_source,
                a.dm_policy,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "internal",
                true,
                true,
                CredentialSource::Config,
                DmPolicy::Allowlist
            ),
            (
                "spare",
                true,
                false,
                CredentialSource::None,
                DmPolicy::Pairing
            ),
            (
                "support",
                true,
                true,
                CredentialSource::Config,
                DmPolicy::Open
            ),
        ]
    );
    let paths: Vec<_> = r.warnings.iter().map(|w| w.path.as_str()).collect();
    assert!(
        paths.contains(&"channels.kakao.accounts.support"),
        "open is warned about: {paths:?}"
    );
    assert!(
        paths.contains(&"channels.kakao.accounts.spare"),
        "no credential is warned about: {paths:?}"
    );
    // Each account has its own pairing store.
    let (code, _) = code_of(
        p.check_policy(Some("spare"), "5", ChatType::Direct)
            .unwrap()
            .unwrap(),
    );
    assert!(matches!(
        Pairing::new(&*kv, "internal").approve(clock.now_ms(), &code),
        Err(PairingError::NotFound(_))
    ));
    assert!(matches!(
        p.check_policy(Some("internal"), "12345", ChatType::Direct)
            .unwrap()
            .unwrap(),
        PolicyDecision::Allow(_)
    ));
    assert!(matches!(
        p.check_policy(Some("internal"), "5", ChatType::Direct)
            .unwrap()
            .unwrap(),
        PolicyDecision::Deny(_)
    ));
}
