//! The cases both hosts share (`spec/targets.json`), against the guest's own target parser:
//! the OpenClaw host restates the grammar (`openclaw/plugin/src/channel.js`) and runs the same
//! cases.

use kakaowork_channel::model::target::{Target, parse};

#[test]
fn targets_parse_as_the_shared_cases_say() {
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../../spec/targets.json")).unwrap();
    let cases = spec["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let kind = parse(c["input"].as_str().unwrap()).ok().map(|t| match t {
            Target::Conversation(_) => "conversation",
            Target::User(_) => "user",
            Target::Users(_) => "users",
            Target::Email(_) => "email",
        });
        assert_eq!(kind, c["kind"].as_str(), "{}", c["about"]);
    }
}
