use super::*;

fn full() -> Ledger {
    let mut l = Ledger::new(
        "user:10000001",
        fnv1a("안녕 \"quoted\"\nline"),
        vec![
            ("안녕 \"quoted\"\nline".into(), None),
            ("둘째".into(), Some(r#"[{"type":"divider"}]"#.into())),
        ],
    );
    l.conversation_id = Some("3000001".into());
    let c = &mut l.chunks[0];
    c.state = ChunkState::Sent;
    c.message_id = Some("757617552587034624".into());
    c.send_time = Some(1_700_000_000);
    c.attempts = 2;
    c.last_error = Some("reset \\ by peer".into());
    let c = &mut l.chunks[1];
    c.state = ChunkState::Inflight;
    c.since = Some(u64::MAX);
    c.attempts = u32::MAX;
    l
}

#[test]
fn every_field_survives_the_stored_form() {
    let l = full();
    assert_eq!(Ledger::decode(&l.encode()).unwrap(), l);
    let fresh = Ledger::new("5", 0, vec![("x".into(), None)]);
    assert_eq!(Ledger::decode(&fresh.encode()).unwrap(), fresh);
}

#[test]
fn the_stored_form_is_binary_with_the_texts_as_they_are() {
    let l = full();
    let raw = l.encode();
    assert_eq!(raw[0], 3, "the version byte");
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    // Strings are copied, not escaped: the quotes and the line break stay single bytes.
    assert!(has("안녕 \"quoted\"\nline".as_bytes()));
    assert!(has(br#"[{"type":"divider"}]"#));
    for name in [
        "target",
        "chunks",
        "state",
        "message_id",
        "attempts",
        "\\\"",
    ] {
        assert!(!has(name.as_bytes()), "{name} in {raw:?}");
    }
    // Smaller than the JSON arrays the previous version wrote for the same ledger.
    let json = r#"[2,"user:10000001",0,"3000001",[["안녕 \"quoted\"\nline",null,"sent","757617552587034624",1700000000,2,null,"reset \\ by peer"],["둘째","[{\"type\":\"divider\"}]","inflight",null,null,4294967295,18446744073709551615,null]]]"#;
    assert!(raw.len() < json.len(), "{} >= {}", raw.len(), json.len());
}

#[test]
fn a_ledger_the_previous_version_wrote_still_reads() {
    // The positional JSON of the previous version: a send in flight across an upgrade resumes.
    let l = full();
    let v2 = format!(
        r#"[2,"user:10000001",{},"3000001",[["안녕 \"quoted\"\nline",null,"sent","757617552587034624",1700000000,2,null,"reset \\ by peer"],["둘째","[{{\"type\":\"divider\"}}]","inflight",null,null,4294967295,18446744073709551615,null]]]"#,
        l.text_hash
    );
    assert_eq!(Ledger::decode(v2.as_bytes()).unwrap(), l);
}

#[test]
fn a_ledger_an_earlier_version_wrote_still_reads() {
    // The named form written before the positional one: a send in flight across an upgrade
    // resumes from it.
    let old = r#"{"target":"user:10000001","text_hash":17,"conversation_id":"3000001","chunks":[
        {"text":"하나","state":"sent","message_id":"1","send_time":1700000000,"attempts":1,
         "since":null,"last_error":null},
        {"text":"둘","blocks":"[]","state":"pending","message_id":null,"send_time":null,
         "attempts":0,"since":null,"last_error":null}]}"#;
    let l = Ledger::decode(old.as_bytes()).unwrap();
    assert_eq!(l.target, "user:10000001");
    assert_eq!(l.text_hash, 17);
    assert_eq!(l.conversation_id.as_deref(), Some("3000001"));
    assert_eq!(l.chunks.len(), 2);
    assert_eq!(l.chunks[0].state, ChunkState::Sent);
    assert_eq!(l.chunks[0].message_id.as_deref(), Some("1"));
    assert_eq!(l.chunks[1].blocks.as_deref(), Some("[]"));
    assert_eq!(l.chunks[1].state, ChunkState::Pending);
    // Written again, it takes the binary form and keeps every field.
    assert_eq!(Ledger::decode(&l.encode()).unwrap(), l);
}

#[test]
fn a_damaged_or_unknown_ledger_is_an_error_that_says_what() {
    for (raw, says) in [
        (r#"[3,"5",1,null,[]]"#, "unknown ledger version 3"),
        (r#"[2,"5",1,null]"#, "5 fields, not 4"),
        (r#"[2,"5",-1,null,[]]"#, "`text_hash`"),
        (
            r#"[2,"5",1,null,[["x",null,"lost",null,null,0,null,null]]]"#,
            "`lost`",
        ),
        (r#"[2,"5",1,null,[["x",null,"sent"]]]"#, "8 fields, not 3"),
        (
            r#"[2,"5",1,null,[[1,null,"sent",null,null,0,null,null]]]"#,
            "`text`",
        ),
        (r#"[2,"5",1,7,[]]"#, "`conversation_id`"),
        (r#"[2,"5",1,null,{}]"#, "`chunks`"),
    ] {
        let err = Ledger::decode(raw.as_bytes()).unwrap_err();
        assert!(err.contains(says), "{raw}: {err}");
    }
    // The binary form, cut short, with bytes after it, or with a state that does not exist.
    let good = full().encode();
    for (raw, says) in [
        (good[..good.len() - 3].to_vec(), "the binary form"),
        ([&good[..], b"x"].concat(), "1 bytes after"),
        (vec![3], "the binary form"),
    ] {
        let err = Ledger::decode(&raw).unwrap_err();
        assert!(err.contains(says), "{raw:?}: {err}");
    }
    let mut bad_state = Ledger::new("5", 1, vec![("x".into(), None)]).encode();
    // [3, len 1, '5', hash 1, None, 1 chunk, len 1, 'x', None, state]
    assert_eq!(bad_state[9], 0, "Pending is state 0");
    bad_state[9] = 9;
    let err = Ledger::decode(&bad_state).unwrap_err();
    assert!(err.contains("the binary form"), "{err}");
}
