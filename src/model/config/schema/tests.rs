use serde_json::{Map, Value, json};

use super::*;
use crate::model::config::{ACCOUNT_KEYS, TOP_ONLY_KEYS, parse};

fn sorted<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.collect();
    v.sort_unstable();
    v
}

fn schema_properties(config: &Value) -> &Map<String, Value> {
    config["schema"]["properties"].as_object().unwrap()
}

/// A value the schema accepts for each key, to see the parser accept it too.
fn example(name: &str) -> Value {
    match name {
        "enabled" | UNAUTHENTICATED_OPT_OUT => json!(true),
        "name" => json!("Support bot"),
        "appKey" => json!("app-key-1"),
        "keyFile" => json!("/run/secrets/kakaowork"),
        "callbackUrl" => json!("https://gateway.example.com/kakaowork/callback"),
        "callbackPath" => json!("/kakaowork/support/callback"),
        "dmPolicy" => json!("allowlist"),
        "allowFrom" | "groupAllowFrom" => json!(["12345", 67890]),
        "proxy" => json!("http://proxy.example.com:3128"),
        "apiBase" => json!("https://api.kakaowork.com"),
        "rateLimit" => json!({ "requestsPerMinute": 100, "burst": 2 }),
        "textChunkLimit" => json!(1000),
        "delivery" => json!("at-least-once"),
        "groupPolicy" => json!("open"),
        "callbackSecret" => json!("test-callback-secret-0123456789"),
        "replyButton" => json!({ "label": "Reply" }),
        "accounts" => json!({ "support": {} }),
        "defaultAccount" => json!("support"),
        "state" => json!("redis://127.0.0.1:6379/0"),
        "stateCa" => json!("/etc/ssl/redis-ca.pem"),
        "workers" => json!(4),
        other => panic!("no example for `{other}`: add one"),
    }
}

#[test]
fn the_schema_names_exactly_the_keys_the_parser_reads() {
    let config = channel_config();
    let top = schema_properties(&config);
    let account = top["accounts"]["additionalProperties"]["properties"]
        .as_object()
        .unwrap();
    assert_eq!(
        sorted(account.keys().map(String::as_str)),
        sorted(ACCOUNT_KEYS.into_iter())
    );
    assert_eq!(
        sorted(top.keys().map(String::as_str)),
        sorted(ACCOUNT_KEYS.into_iter().chain(TOP_ONLY_KEYS))
    );
    let names: Vec<&str> = keys().iter().map(|k| k.name).collect();
    let expected: Vec<&str> = ACCOUNT_KEYS.into_iter().chain(TOP_ONLY_KEYS).collect();
    assert_eq!(sorted(names.into_iter()), sorted(expected.into_iter()));
    for k in keys() {
        assert_eq!(k.top_only, TOP_ONLY_KEYS.contains(&k.name), "{}", k.name);
    }
}

/// The parser warns of a key it does not know (other warnings are about values).
fn unknown(warnings: &[ConfigIssue]) -> bool {
    warnings
        .iter()
        .any(|w| w.message.starts_with("unknown key"))
}

#[test]
fn the_parser_accepts_every_key_the_schema_names_where_the_schema_puts_it() {
    for k in keys() {
        let top = json!({ k.name: example(k.name) });
        let report = parse(&top).unwrap_or_else(|e| panic!("{top}: {e:?}"));
        assert!(!unknown(&report.warnings), "{top}: {:?}", report.warnings);

        let in_account = json!({ "accounts": { "support": { k.name: example(k.name) } } });
        let result = parse(&in_account);
        if k.top_only {
            let issues = result.expect_err("a top-only key in an account is refused");
            let path = format!("{SECTION_PATH}.accounts.support.{}", k.name);
            assert!(issues.iter().any(|i| i.path == path), "{issues:?}");
        } else {
            let report = result.unwrap_or_else(|e| panic!("{in_account}: {e:?}"));
            assert!(
                !unknown(&report.warnings),
                "{in_account}: {:?}",
                report.warnings
            );
        }
    }
}

/// Each enumeration is the parser's: every value accepted, at the top and in an account, and
/// a value outside it refused.
#[test]
fn every_enum_is_the_set_the_parser_accepts() {
    let mut checked = 0;
    for k in keys() {
        let Shape::OneOf(names) = k.shape else {
            continue;
        };
        for name in names {
            for config in [
                json!({ k.name: name }),
                json!({ "accounts": { "a": { k.name: name } } }),
            ] {
                assert!(parse(&config).is_ok(), "the parser refuses {config}");
            }
            checked += 1;
        }
        let issues = parse(&json!({ k.name: "not-a-choice" })).expect_err("refused");
        let path = format!("{SECTION_PATH}.{}", k.name);
        assert!(issues.iter().any(|i| i.path == path), "{issues:?}");
    }
    assert_eq!(
        checked,
        DmPolicy::ALL.len() + GroupPolicy::ALL.len() + Delivery::ALL.len()
    );
}

/// A section with `n` at the key, the key's path, its minimum and its maximum.
type IntKey = (Box<dyn Fn(u64) -> Value>, String, u64, u64);

/// Every whole-number key, nested ones too.
fn int_keys() -> Vec<IntKey> {
    let mut out: Vec<IntKey> = Vec::new();
    for k in keys() {
        match k.shape {
            Shape::Int { min, max } => out.push((
                Box::new(move |n| json!({ k.name: n })),
                format!("{SECTION_PATH}.{}", k.name),
                min,
                max,
            )),
            Shape::Object(fields) => {
                for (sub, shape) in fields {
                    if let Shape::Int { min, max } = shape {
                        out.push((
                            Box::new(move |n| json!({ k.name: { sub: n } })),
                            format!("{SECTION_PATH}.{}.{sub}", k.name),
                            min,
                            max,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_number_range_is_the_one_the_parser_accepts() {
    let ints = int_keys();
    // textChunkLimit, workers, rateLimit's two.
    assert_eq!(ints.len(), 4);
    for (config, path, min, max) in ints {
        for n in [min, max] {
            assert!(parse(&config(n)).is_ok(), "{path} = {n} is refused");
        }
        for n in [min - 1, max + 1] {
            let issues = parse(&config(n)).expect_err(&format!("{path} = {n} is accepted"));
            assert!(issues.iter().any(|i| i.path == path), "{issues:?}");
        }
    }
}

#[test]
fn the_reply_button_label_has_the_parsers_length_limit() {
    let label = |s: String| json!({ "replyButton": { "label": s } });
    let max = match &channel_config()["schema"]["properties"]["replyButton"]["anyOf"][1]["properties"]
        ["label"]["maxLength"]
    {
        Value::Number(n) => n.as_u64().unwrap() as usize,
        other => panic!("{other}"),
    };
    assert!(parse(&label("가".repeat(max))).is_ok());
    assert!(parse(&label("가".repeat(max + 1))).is_err());
    assert!(parse(&label(String::new())).is_err());
}

/// Every secret is hidden in OpenClaw's views, at the top and, unless top-only, in accounts;
/// nothing else is marked.
#[test]
fn every_secret_and_only_a_secret_is_sensitive() {
    let config = channel_config();
    let hints = config["uiHints"].as_object().unwrap();
    let mut expected: Vec<String> = Vec::new();
    for name in SECRET_KEYS {
        let key = keys().into_iter().find(|k| k.name == name).unwrap();
        expected.push(name.to_owned());
        if !key.top_only {
            expected.push(format!("accounts.*.{name}"));
        }
    }
    let mut sensitive: Vec<String> = hints
        .iter()
        .filter(|(_, h)| h["sensitive"] == json!(true))
        .map(|(p, _)| p.clone())
        .collect();
    sensitive.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sensitive, expected);
    assert_eq!(expected.len(), 5);
}

/// A default is what the parser assumes: writing it changes nothing.
#[test]
fn every_default_is_the_parsers() {
    let without = parse(&json!({})).unwrap();
    let mut checked = 0;
    for k in keys() {
        let Some(default) = k.default else { continue };
        assert_eq!(
            parse(&json!({ k.name: default })),
            Ok(without.clone()),
            "{}",
            k.name
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
    // Not a test that cannot fail: another value does change the result.
    assert_ne!(parse(&json!({ "dmPolicy": "disabled" })), Ok(without));
}

#[test]
fn the_manifest_keeps_the_template_and_ends_with_a_newline() {
    let template = json!({ "id": "kakao", "channelConfigs": { "old": {} } });
    let text = manifest_text(template.as_object().unwrap());
    assert!(text.ends_with("}\n"), "{text}");
    assert!(text.contains("\n  \"id\": \"kakao\""), "{text}");
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["channelConfigs"], json!({ "kakao": channel_config() }));
    assert_eq!(text, manifest_text(template.as_object().unwrap()));
}
