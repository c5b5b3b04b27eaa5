//! The OpenClaw package's JSON schema of `channels.kakao` (in `openclaw/plugin/openclaw.plugin.json`,
//! what `openclaw config` validates against) is the one generated from the guest's configuration
//! model, and it and the guest's parser agree on the keys and on the values of every enumerated
//! key.

use kakaowork_channel::model::config::{ACCOUNT_KEYS, TOP_ONLY_KEYS, parse};
use serde_json::{Map, Value, json};

fn schema() -> Map<String, Value> {
    let manifest: Value =
        serde_json::from_str(include_str!("../../openclaw/plugin/openclaw.plugin.json")).unwrap();
    manifest
        .pointer("/channelConfigs/kakao/schema/properties")
        .and_then(Value::as_object)
        .cloned()
        .expect("channelConfigs.kakao.schema.properties")
}

/// The committed manifest is the generated one, byte for byte: nobody edits its schema by hand,
/// and a change to the configuration model reaches the package.
#[test]
fn the_committed_manifest_is_the_generated_one() {
    use kakaowork_channel::model::config::schema::manifest_text;
    let template: Map<String, Value> =
        serde_json::from_str(include_str!("../../openclaw/openclaw.plugin.template.json")).unwrap();
    let generated = manifest_text(&template);
    let committed = include_str!("../../openclaw/plugin/openclaw.plugin.json");
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(
                committed.lines().count().min(generated.lines().count()),
                |i| i,
            );
        panic!(
            "openclaw/plugin/openclaw.plugin.json is not the generated manifest (first difference at \
             line {}); regenerate it with `cargo run -p host-test --bin openclaw-manifest` (or \
             `npm run build` in openclaw/), and edit openclaw/openclaw.plugin.template.json or \
             src/model/config/schema.rs instead of the file",
            line + 1
        );
    }
}

fn sorted(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = keys.collect();
    v.sort();
    v
}

#[test]
fn the_schema_has_exactly_the_keys_the_guest_reads() {
    let section = schema();
    let mut expected: Vec<String> = ACCOUNT_KEYS.iter().map(|k| k.to_string()).collect();
    let account = section["accounts"]
        .pointer("/additionalProperties/properties")
        .and_then(Value::as_object)
        .expect("accounts.*.properties");
    assert_eq!(
        sorted(account.keys().cloned()),
        sorted(expected.clone().into_iter())
    );
    expected.extend(TOP_ONLY_KEYS.iter().map(|k| k.to_string()));
    assert_eq!(
        sorted(section.keys().cloned()),
        sorted(expected.into_iter())
    );
}

/// Every secret is hidden in OpenClaw's views of the configuration, wherever it can be set.
#[test]
fn every_secret_key_is_sensitive_at_every_level() {
    use kakaowork_channel::model::config::SECRET_KEYS;
    let manifest: Value =
        serde_json::from_str(include_str!("../../openclaw/plugin/openclaw.plugin.json")).unwrap();
    let hints = manifest
        .pointer("/channelConfigs/kakao/uiHints")
        .and_then(Value::as_object)
        .expect("channelConfigs.kakao.uiHints");
    let mut paths: Vec<String> = SECRET_KEYS.iter().map(|k| k.to_string()).collect();
    paths.extend(
        SECRET_KEYS
            .iter()
            .filter(|k| ACCOUNT_KEYS.contains(k))
            .map(|k| format!("accounts.*.{k}")),
    );
    assert!(paths.len() >= 5, "{paths:?}");
    for p in paths {
        assert_eq!(
            hints.get(&p).map(|h| &h["sensitive"]),
            Some(&json!(true)),
            "{p}"
        );
    }
}

#[test]
fn every_enumerated_value_in_the_schema_is_accepted_by_the_guest_and_nothing_else() {
    let section = schema();
    let mut checked = 0;
    for (key, prop) in &section {
        let Some(values) = prop["enum"].as_array() else {
            continue;
        };
        for v in values {
            let cfg =
                json!({ key.clone(): v, "callbackSecret": "test-callback-secret-0123456789" });
            assert!(parse(&cfg).is_ok(), "the guest rejects {cfg}");
            checked += 1;
        }
        let bad = json!({ key.clone(): "not-a-choice", "callbackSecret": "test-callback-secret-0123456789" });
        let issues = parse(&bad).expect_err("an unlisted value must be rejected");
        assert!(
            issues
                .iter()
                .any(|i| i.path == format!("channels.kakao.{key}")),
            "{issues:?}"
        );
    }
    assert!(
        checked >= 9,
        "dmPolicy, groupPolicy and delivery: {checked} values"
    );
}

/// The plugin declares no runtime dependency: OpenClaw copies a plugin's declared dependencies on
/// every start (node-redis's 1,955 files took 2.4 s of each `openclaw` command). node-redis is
/// bundled by the build (`openclaw/scripts/build.js`) from the exact version the tests run with.
#[test]
fn the_plugin_declares_no_dependency_and_bundles_the_pinned_redis_client() {
    let plugin: Value =
        serde_json::from_str(include_str!("../../openclaw/plugin/package.json")).unwrap();
    let dev: Value = serde_json::from_str(include_str!("../../openclaw/package.json")).unwrap();
    let lock: Value =
        serde_json::from_str(include_str!("../../openclaw/package-lock.json")).unwrap();
    let declared = plugin
        .get("dependencies")
        .and_then(Value::as_object)
        .map_or(0, |d| d.len());
    assert_eq!(
        declared, 0,
        "the plugin's dependencies: {}",
        plugin["dependencies"]
    );
    let version = dev["devDependencies"]["@redis/client"]
        .as_str()
        .expect("@redis/client in openclaw/package.json's devDependencies");
    assert!(
        version.chars().all(|c| c.is_ascii_digit() || c == '.'),
        "@redis/client is pinned to an exact version, not {version}"
    );
    assert_eq!(
        lock["packages"]["node_modules/@redis/client"]["version"], version,
        "the lockfile installs the pinned @redis/client"
    );
    let build = include_str!("../../openclaw/scripts/build.js");
    assert!(build.contains("redis-client.cjs"), "the build bundles it");
}
