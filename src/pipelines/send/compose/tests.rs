use super::*;
use crate::testkit::req_k;

fn button(label: &str, name: &str, value: &str) -> ActionButton {
    ActionButton {
        label: label.into(),
        name: name.into(),
        value: value.into(),
        style: ButtonStyle::Primary,
    }
}

fn invalid_message(r: Result<Vec<Part>, ChannelError>) -> String {
    match r {
        Err(ChannelError::InvalidMessage(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn plain_text_without_buttons_stays_text_split_as_before() {
    let req = req_k("1", &"가나다 ".repeat(700), "k");
    let parts = parts(&req, 2000).unwrap();
    let want = chunk::split(&req.text, 2000);
    assert_eq!(parts.len(), want.len());
    for (p, w) in parts.iter().zip(want) {
        assert_eq!(p.text, w);
        assert_eq!(p.blocks, None);
    }
}

#[test]
fn buttons_go_under_the_last_part_three_to_a_row() {
    let mut req = req_k("1", "승인하시겠습니까?", "k");
    req.buttons = (0..4)
        .map(|i| {
            button(
                &format!("선택 {i}"),
                &format!("choice{i}"),
                &format!("v{i}"),
            )
        })
        .collect();
    let parts = parts(&req, 2000).unwrap();
    assert_eq!(parts.len(), 1);
    let blocks = parts[0].blocks.as_ref().unwrap();
    assert_eq!(
        blocks[0],
        Block::Text(blockkit::Text::plain("승인하시겠습니까?"))
    );
    let rows: Vec<usize> = blocks[1..]
        .iter()
        .map(|b| match b {
            Block::Action(bs) => bs.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(rows, [3, 1]);
    assert_eq!(parts[0].text, "승인하시겠습니까?");
}

#[test]
fn bad_buttons_are_named_and_too_many_refused() {
    let mut req = req_k("1", "x", "k");
    req.buttons = vec![
        button("좋아요", "ok", "yes"),
        button(&"가".repeat(21), "ok", "yes"),
        button("x", "has space", "v|w"),
    ];
    let m = invalid_message(parts(&req, 2000));
    assert!(m.contains("buttons[1].text: over 20 characters"), "{m}");
    assert!(m.contains("buttons[2].action_name"), "{m}");
    assert!(m.contains("buttons[2].value"), "{m}");
    req.buttons = vec![button("a", "a", "a"); MAX_BUTTONS + 1];
    assert!(invalid_message(parts(&req, 2000)).contains("at most 15"));
    req.buttons = vec![button("a", "a", "a"); MAX_BUTTONS];
    assert!(parts(&req, 2000).is_ok());
}

#[test]
fn long_markdown_is_split_between_blocks_and_the_buttons_end_it() {
    let para = "**중요**: 배포 결과를 정리합니다. ".repeat(12);
    let md: String = (0..30)
        .map(|i| format!("## 단계 {i}\n\n{para}\n\n"))
        .collect();
    let mut req = req_k("1", &md, "k");
    req.format = TextFormat::Markdown;
    req.buttons = vec![button("확인", "ack", "done")];
    let parts = parts(&req, 2000).unwrap();
    assert!(parts.len() > 3, "{}", parts.len());
    let mut headers = 0;
    for (i, p) in parts.iter().enumerate() {
        let blocks = p.blocks.as_ref().unwrap();
        assert!(blocks.len() < MAX_BLOCKS);
        let shown: usize = blocks
            .iter()
            .filter_map(Block::plain_text)
            .map(|t| t.chars().count())
            .sum();
        assert!(shown <= 2000 + blockkit::MAX_TEXT_CHARS, "{shown}");
        assert!(p.text.chars().count() <= MAX_MESSAGE_TEXT_CHARS);
        let last = i + 1 == parts.len();
        assert_eq!(
            matches!(blocks.last(), Some(Block::Action(_))),
            last,
            "only the last part has the buttons"
        );
        headers += blocks
            .iter()
            .filter(|b| matches!(b, Block::Header { .. }))
            .count();
        // Every part passes the checks a card from a host passes.
        blockkit::parse_stored(&blockkit::to_stored(blocks)).unwrap();
    }
    assert_eq!(headers, 30, "every heading arrives once");
}

#[test]
fn a_card_takes_its_preview_from_the_text_its_own_text_or_its_blocks() {
    let card = r#"{"text": "카드의 글", "blocks": [{"type": "header", "text": "배포 알림"},
        {"type": "text", "text": "완료되었습니다"}]}"#;
    let mut req = req_k("1", "", "k");
    req.blocks = Some(card.into());
    assert_eq!(parts(&req, 2000).unwrap()[0].text, "카드의 글");
    req.text = "미리보기".into();
    assert_eq!(parts(&req, 2000).unwrap()[0].text, "미리보기");
    req.text = String::new();
    req.blocks = Some(r#"[{"type": "header", "text": "배포 알림"}, {"type": "divider"}]"#.into());
    assert_eq!(parts(&req, 2000).unwrap()[0].text, "배포 알림");
    req.blocks = Some(r#"[{"type": "image_link", "url": "https://example.com/a.png"}]"#.into());
    assert_eq!(parts(&req, 2000).unwrap()[0].text, "(카드 메시지)");
    req.text = "가".repeat(MAX_MESSAGE_TEXT_CHARS + 1);
    assert!(invalid_message(parts(&req, 2000)).contains("preview text"));
}

#[test]
fn an_invalid_card_is_refused_with_its_paths() {
    let mut req = req_k("1", "x", "k");
    req.blocks = Some(
        r#"[{"type": "text", "text": "ok"}, {"type": "header", "text": "스무 글자가 넘는 아주 긴 헤더 제목입니다"}]"#.into(),
    );
    let m = invalid_message(parts(&req, 2000));
    assert!(m.starts_with("blocks[1].text: over 20 characters"), "{m}");
    let divs = vec![r#"{"type":"divider"}"#; MAX_BLOCKS - 1].join(",");
    req.blocks = Some(format!("[{divs}]"));
    req.buttons = vec![button("a", "a", "a")];
    assert!(invalid_message(parts(&req, 2000)).contains("make 50 blocks"));
}

#[test]
fn the_identity_of_a_plain_text_is_unchanged_and_anything_else_counts() {
    let plain = req_k("1", "hello", "k");
    assert_eq!(identity(&plain), ledger::fnv1a("hello"));
    let mut md = plain.clone();
    md.format = TextFormat::Markdown;
    let mut with_button = plain.clone();
    with_button.buttons = vec![button("a", "a", "a")];
    let mut other_value = plain.clone();
    other_value.buttons = vec![button("a", "a", "b")];
    let ids = [
        identity(&plain),
        identity(&md),
        identity(&with_button),
        identity(&other_value),
    ];
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            assert_ne!(ids[i], ids[j], "{i} {j}");
        }
    }
}
