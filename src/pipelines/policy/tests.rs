use super::*;
use crate::testkit::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Allow,
    Deny,
    Pair,
}

fn decide(ch: &Channel, w: &World, sender: &str, chat: ChatType) -> Want {
    let http = ScriptedHttp::new(vec![]);
    match ch
        .check_policy(&w.ports(&http), None, sender, chat)
        .unwrap()
    {
        PolicyDecision::Allow(_) => Want::Allow,
        PolicyDecision::Deny(_) => Want::Deny,
        PolicyDecision::PairingRequired { .. } => Want::Pair,
    }
}

#[test]
fn policy_table() {
    use Want::*;
    // Sender 100 is in allowFrom, 200 was approved by pairing, 300 is unknown.
    // Columns: direct 100, 200, 300; group 100, 200, 300.
    let table: &[(&str, [Want; 6])] = &[
        (
            r#"{"dmPolicy":"pairing","allowFrom":["100"]}"#,
            [Allow, Allow, Pair, Allow, Allow, Deny],
        ),
        (
            r#"{"dmPolicy":"allowlist","allowFrom":["100"]}"#,
            [Allow, Allow, Deny, Allow, Allow, Deny],
        ),
        (
            r#"{"dmPolicy":"open","allowFrom":["100"]}"#,
            [Allow, Deny, Deny, Allow, Allow, Deny],
        ),
        (
            r#"{"dmPolicy":"open"}"#,
            [Allow, Allow, Allow, Deny, Allow, Deny],
        ),
        (
            r#"{"dmPolicy":"disabled","allowFrom":["100"]}"#,
            [Deny, Deny, Deny, Allow, Allow, Deny],
        ),
        // The wildcard admits everyone, except where DMs are disabled.
        (
            r#"{"dmPolicy":"pairing","allowFrom":["*"]}"#,
            [Allow, Allow, Allow, Allow, Allow, Allow],
        ),
        (
            r#"{"dmPolicy":"allowlist","allowFrom":["*"]}"#,
            [Allow, Allow, Allow, Allow, Allow, Allow],
        ),
        (
            r#"{"dmPolicy":"open","allowFrom":["*"]}"#,
            [Allow, Allow, Allow, Allow, Allow, Allow],
        ),
        (
            r#"{"dmPolicy":"disabled","allowFrom":["*"]}"#,
            [Deny, Deny, Deny, Allow, Allow, Allow],
        ),
        // Group policies and their own allowlist.
        (
            r#"{"groupPolicy":"open"}"#,
            [Pair, Allow, Pair, Allow, Allow, Allow],
        ),
        (
            r#"{"groupPolicy":"disabled","allowFrom":["100"]}"#,
            [Allow, Allow, Pair, Deny, Deny, Deny],
        ),
        (
            r#"{"allowFrom":["100"],"groupAllowFrom":["300"]}"#,
            [Allow, Allow, Pair, Deny, Allow, Allow],
        ),
        // The default policy is pairing; prefixed and numeric entries match.
        (
            r#"{"allowFrom":["kakao:100"]}"#,
            [Allow, Allow, Pair, Allow, Allow, Deny],
        ),
        (
            r#"{"allowFrom":[100]}"#,
            [Allow, Allow, Pair, Allow, Allow, Deny],
        ),
        (
            r#"{"enabled":false,"allowFrom":["*"]}"#,
            [Deny, Deny, Deny, Deny, Deny, Deny],
        ),
    ];
    for (cfg, want) in table {
        let ch = configured(cfg, &[("default", CredentialSource::Env)]);
        let w = World::new();
        // The host's store approved 200 (as `kw:200`: entries are normalised).
        w.pairing
            .allowed
            .borrow_mut()
            .push(("default".into(), "kw:200".into()));
        let got: Vec<Want> = [ChatType::Direct, ChatType::Group]
            .iter()
            .flat_map(|chat| ["100", "200", "300"].map(|s| (s, *chat)))
            .map(|(s, chat)| decide(&ch, &w, s, chat))
            .collect();
        assert_eq!(got, want, "{cfg}");
    }
}

#[test]
fn pairing_through_check_policy_then_approval_in_the_host_store() {
    let ch = default_channel();
    let w = World::new();
    let http = ScriptedHttp::new(vec![]);
    let ports = w.ports(&http);
    let (code, reply) = match ch
        .check_policy(&ports, None, "kw:555", ChatType::Direct)
        .unwrap()
    {
        PolicyDecision::PairingRequired(PairingChallenge {
            code,
            created: true,
            reply,
        }) => (code, reply),
        other => panic!("{other:?}"),
    };
    // The host issued the code for the normalised sender of this account.
    assert_eq!(
        w.pairing.pending.borrow()[0],
        ("default".to_string(), "555".to_string(), code.clone())
    );
    // The host gave no text of its own, so the guest wrote it.
    assert!(
        reply.contains("Your KakaoWork user id: 555")
            && reply.contains(&format!("Pairing code: {code}"))
    );
    // Asked again: same code, not created, so the host does not repeat the reply.
    match ch
        .check_policy(&ports, None, "555", ChatType::Direct)
        .unwrap()
    {
        PolicyDecision::PairingRequired(PairingChallenge {
            code: c2,
            created: false,
            ..
        }) => assert_eq!(c2, code),
        other => panic!("{other:?}"),
    }
    // Approved with the host's own command: allowed from then on.
    w.pairing.approve("default", &code);
    assert!(matches!(
        ch.check_policy(&ports, None, "555", ChatType::Direct)
            .unwrap(),
        PolicyDecision::Allow(_)
    ));
    assert!(matches!(
        ch.check_policy(&ports, None, "", ChatType::Direct),
        Err(ChannelError::InvalidTarget(_))
    ));
}

#[test]
fn the_hosts_own_reply_text_is_used_and_a_full_store_denies() {
    let ch = default_channel();
    let mut w = World::new();
    w.pairing.reply = Some("OpenClaw: ask the owner to run openclaw pairing approve".into());
    w.pairing.capacity = 1;
    let http = ScriptedHttp::new(vec![]);
    let ports = w.ports(&http);
    match ch
        .check_policy(&ports, None, "1", ChatType::Direct)
        .unwrap()
    {
        PolicyDecision::PairingRequired(PairingChallenge { reply, .. }) => {
            assert!(reply.starts_with("OpenClaw:"), "{reply}")
        }
        other => panic!("{other:?}"),
    }
    match ch
        .check_policy(&ports, None, "2", ChatType::Direct)
        .unwrap()
    {
        PolicyDecision::Deny(why) => assert!(why.contains("pending"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unavailable_pairing_store_fails_closed() {
    let ch = configured(
        r#"{"dmPolicy":"allowlist","allowFrom":["100"]}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    w.pairing.fail.set(true);
    let http = ScriptedHttp::new(vec![]);
    let ports = w.ports(&http);
    // allowFrom alone decides: the store is not needed.
    assert!(matches!(
        ch.check_policy(&ports, None, "100", ChatType::Direct),
        Ok(PolicyDecision::Allow(_))
    ));
    assert!(matches!(
        ch.check_policy(&ports, None, "300", ChatType::Direct),
        Err(ChannelError::Storage(_))
    ));
}
