use super::*;
use serde_json::json;

fn card(blocks: Value) -> Result<Card, Vec<Problem>> {
    parse_card(&blocks.to_string())
}

fn s(n: usize) -> String {
    "가".repeat(n)
}

fn button(text: &str) -> Value {
    json!({"type": "button", "text": text, "style": "primary", "action_type": "submit_action",
           "action_name": "approve", "value": "req-42"})
}

/// Each limit: one under and at it are accepted; one over is refused, naming the field.
#[test]
fn every_length_limit_one_under_at_and_one_over() {
    type Make = fn(usize) -> Value;
    let cases: Vec<(&str, usize, Make, &str)> = vec![
        (
            "text",
            MAX_TEXT_CHARS,
            |n| json!([{"type": "text", "text": s(n)}]),
            "blocks[0].text",
        ),
        (
            "inlines",
            MAX_TEXT_CHARS,
            |n| {
                json!([{"type": "text", "text": "x", "inlines": [
                {"type": "styled", "text": s(n - 1), "bold": true},
                {"type": "link", "text": "a", "url": "https://example.com"}]}])
            },
            "blocks[0].inlines",
        ),
        (
            "button",
            MAX_BUTTON_CHARS,
            |n| json!([button(&s(n))]),
            "blocks[0].text",
        ),
        (
            "header",
            MAX_HEADER_CHARS,
            |n| json!([{"type": "header", "text": s(n), "style": "yellow"}]),
            "blocks[0].text",
        ),
        (
            "description term",
            MAX_TERM_CHARS,
            |n| {
                json!([{"type": "description", "term": s(n),
                        "content": {"type": "text", "text": "이영희"}, "accent": true}])
            },
            "blocks[0].term",
        ),
        (
            "section content",
            MAX_TEXT_CHARS,
            |n| {
                json!([{"type": "section", "content": {"type": "text", "text": s(n)},
                        "accessory": {"type": "image_link", "url": "https://example.com/a.png"}}])
            },
            "blocks[0].content.text",
        ),
        (
            "context content",
            MAX_TEXT_CHARS,
            |n| {
                json!([{"type": "context", "content": {"type": "text", "text": s(n)},
                        "image": {"type": "image_link", "url": "https://example.com/a.png"}}])
            },
            "blocks[0].content.text",
        ),
        (
            "row",
            MAX_ROW_BUTTONS,
            |n| json!([{"type": "action", "elements": vec![button("ok"); n]}]),
            "blocks[0].elements",
        ),
        (
            "action name",
            40,
            |n| {
                json!([{"type": "button", "text": "ok", "action_type": "submit_action",
                        "action_name": "a".repeat(n), "value": "v"}])
            },
            "blocks[0].action_name",
        ),
        (
            "action value",
            200,
            |n| {
                json!([{"type": "button", "text": "ok", "action_type": "submit_action",
                        "action_name": "a", "value": "v".repeat(n)}])
            },
            "blocks[0].value",
        ),
        (
            "blocks",
            MAX_BLOCKS,
            |n| Value::Array(vec![json!({"type": "divider"}); n]),
            "blocks",
        ),
    ];
    for (what, limit, make, path) in cases {
        for n in [limit - 1, limit] {
            if let Err(p) = card(make(n)) {
                panic!("{what} at {n}: {}", describe(&p));
            }
        }
        let Err(p) = card(make(limit + 1)) else {
            panic!("{what} at {} was accepted", limit + 1)
        };
        assert_eq!(p[0].path, path, "{what}: {}", describe(&p));
    }
}

#[test]
fn empty_texts_and_rows_are_refused() {
    for (blocks, path) in [
        (json!([{"type": "text", "text": ""}]), "blocks[0].text"),
        (json!([{"type": "header", "text": ""}]), "blocks[0].text"),
        (json!([button("")]), "blocks[0].text"),
        (
            json!([{"type": "action", "elements": []}]),
            "blocks[0].elements",
        ),
        (
            json!([{"type": "description", "term": "", "content": {"type": "text", "text": "x"}}]),
            "blocks[0].term",
        ),
    ] {
        let p = card(blocks.clone())
            .err()
            .unwrap_or_else(|| panic!("{blocks}"));
        assert_eq!(p[0].path, path, "{}", describe(&p));
    }
    assert_eq!(
        describe(&card(json!([])).err().unwrap()),
        "blocks: there are no blocks"
    );
}

#[test]
fn wrong_kinds_styles_and_urls_are_named() {
    let p = card(json!([
        {"type": "divider"},
        {"type": "image_link", "url": "ftp://example.com/a.png"},
        {"type": "header", "text": "배포", "style": "green"},
        {"type": "text", "text": "x", "markdown": true, "inlines": [{"type": "styled", "text": "x"}]},
        {"type": "label", "text": "x"},
        {"type": "button", "text": "열기", "action_type": "open_system_browser", "value": "not a url"},
        {"type": "button", "text": "모달", "action_type": "call_modal", "value": "x"},
        {"type": "button", "text": "x", "action_type": "submit_action", "action_name": "a b", "value": "x|y"},
        {"type": "text", "text": "x", "inlines": [{"type": "styled", "text": "x", "color": "pink"}]}
    ]))
    .err()
    .unwrap();
    let got: Vec<_> = p.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        got,
        [
            "blocks[1].url",
            "blocks[2].style",
            "blocks[3].markdown",
            "blocks[4].type",
            "blocks[5].value",
            "blocks[6].action_type",
            "blocks[7].action_name",
            "blocks[7].value",
            "blocks[8].inlines[0].color",
        ]
    );
    assert!(p[3].message.contains("not a message block"), "{}", p[3]);
}

#[test]
fn a_full_card_round_trips_through_the_stored_form() {
    let c = card(json!({"text": "배포 승인 요청", "blocks": [
        {"type": "header", "text": "배포 승인 요청", "style": "yellow"},
        {"type": "text", "text": "api-server v1.4.2 배포를 승인하시겠습니까?", "inlines": [
            {"type": "styled", "text": "api-server v1.4.2", "bold": true},
            {"type": "styled", "text": " 배포를 승인하시겠습니까?"}]},
        {"type": "description", "term": "요청자", "content": {"type": "text", "text": "이영희"}, "accent": true},
        {"type": "divider"},
        {"type": "image_link", "url": "https://example.com/chart.png"},
        {"type": "action", "elements": [
            button("승인"),
            {"type": "button", "text": "변경 내역", "action": {"type": "open_system_browser",
             "name": "changelog", "value": "https://git.example.com/compare"}}]}
    ]}))
    .unwrap();
    assert_eq!(c.text.as_deref(), Some("배포 승인 요청"));
    assert_eq!(c.blocks.len(), 6);
    let stored = to_stored(&c.blocks);
    assert_eq!(parse_stored(&stored).unwrap(), c.blocks);
    // Sending signs the submit buttons only.
    let mut sign = |n: &str, _: &str, v: &str| format!("signed:{n}:{v}");
    let sent: Vec<Value> = c.blocks.iter().map(|b| b.to_json(&mut sign)).collect();
    assert_eq!(sent[5]["elements"][0]["value"], "signed:approve:req-42");
    assert_eq!(sent[5]["elements"][0]["action_name"], "approve");
    assert_eq!(
        sent[5]["elements"][1]["value"],
        "https://git.example.com/compare"
    );
    assert_eq!(sent[5]["elements"][1]["action_type"], "open_system_browser");
    assert_eq!(
        sent[1]["inlines"][0],
        json!({"type": "styled", "text": "api-server v1.4.2", "bold": true})
    );
}

#[test]
fn not_json_and_wrong_shapes_say_what_is_expected() {
    for (input, want) in [
        ("[", "not JSON"),
        ("{}", "needs a `blocks` array"),
        ("\"text\"", "expected an array of blocks"),
        (r#"{"blocks": [], "text": 5}"#, "`text` is not a string"),
    ] {
        let p = parse_card(input).err().unwrap();
        assert!(describe(&p).contains(want), "{input}: {}", describe(&p));
    }
}
