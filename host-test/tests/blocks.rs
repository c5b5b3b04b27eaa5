//! Block Kit end to end: cards, the agent's markdown and buttons through wasmtime to the
//! emulator's validator, and a button's click back as an `action` event.

mod common;

use common::inbound::inbound;
use common::*;
use host_test::wit::{ActionButton, ButtonStyle, ChannelError, EventKind, SendRequest, TextFormat};
use serde_json::{Value, json};

const CARD: &str = r#"{"blocks": [
    {"type": "header", "text": "배포 승인 요청", "style": "yellow"},
    {"type": "text", "text": "api-server v1.4.2 배포를 승인하시겠습니까?", "inlines": [
        {"type": "styled", "text": "api-server v1.4.2", "bold": true},
        {"type": "styled", "text": " 배포를 승인하시겠습니까?"}]},
    {"type": "description", "term": "요청자", "content": {"type": "text", "text": "이영희"}, "accent": true},
    {"type": "image_link", "url": "https://example.com/deploy.png"},
    {"type": "action", "elements": [
        {"type": "button", "text": "승인", "style": "primary", "action_type": "submit_action",
         "action_name": "deploy_approve", "value": "deploy:9913"},
        {"type": "button", "text": "변경 내역", "action": {"type": "open_system_browser",
         "name": "changelog", "value": "https://git.example.com/compare"}}]}
]}"#;

fn card_request(target: &str, key: &str) -> SendRequest {
    SendRequest {
        account: None,
        target: target.into(),
        text: "배포 승인 요청: api-server v1.4.2".into(),
        idempotency_key: key.into(),
        format: TextFormat::Plain,
        blocks: Some(CARD.into()),
        buttons: vec![ActionButton {
            label: "반려".into(),
            name: "deploy_reject".into(),
            value: "deploy:9913".into(),
            style: ButtonStyle::Danger,
        }],
    }
}

fn find<'a>(blocks: &'a Value, kind: &str) -> Vec<&'a Value> {
    blocks
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == kind)
        .collect()
}

#[test]
fn a_card_is_accepted_and_a_click_on_its_button_is_an_action_event() {
    let t = inbound(json!({"dmPolicy": "allowlist", "allowFrom": ["10000003"]}));
    let req = card_request("user:10000003", "card-1");
    let receipt = t.plugin.lock().unwrap().send(&req).unwrap().unwrap();
    let msg = receipt.message_id.unwrap();
    assert!(t.emulator.refused_blocks().is_empty());
    let posted = t.emulator.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].text, "배포 승인 요청: api-server v1.4.2");
    let blocks = &posted[0].blocks;
    for kind in ["header", "text", "description", "image_link", "action"] {
        assert!(!find(blocks, kind).is_empty(), "no {kind} in {blocks}");
    }
    // The card's row, the host's button, the Reply button.
    let rows = find(blocks, "action");
    assert_eq!(rows.len(), 3, "{blocks}");
    let approve = &rows[0]["elements"][0];
    assert_eq!(approve["action_name"], "deploy_approve");
    let value = approve["value"].as_str().unwrap();
    assert!(
        value.starts_with("kw2|") && value.contains("deploy:9913"),
        "a submit value is signed: {value}"
    );
    assert_eq!(
        rows[0]["elements"][1]["value"], "https://git.example.com/compare",
        "a link button keeps its address"
    );

    let (status, _) = t.emulator.click(&t.url(), &msg, "승인", 10000003).unwrap();
    assert_eq!(status, 200);
    let (status, _) = t.emulator.click(&t.url(), &msg, "반려", 10000003).unwrap();
    assert_eq!(status, 200);
    let events = t.events();
    let got: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.action_name.clone(),
                e.action_value.clone(),
                e.action_label.clone(),
                e.text.clone(),
            )
        })
        .collect();
    // A click, with its caption and value: the value is data, never the message itself.
    let action = |name: &str, label: &str| {
        (
            EventKind::Action,
            Some(name.to_owned()),
            Some("deploy:9913".to_owned()),
            Some(label.to_owned()),
            format!("[Clicked the button \"{label}\" (value: deploy:9913)]"),
        )
    };
    assert_eq!(
        got,
        [
            action("deploy_approve", "승인"),
            action("deploy_reject", "반려")
        ]
    );

    // Another member clicking the DM's button is refused.
    let (status, _) = t.emulator.click(&t.url(), &msg, "승인", 10000004).unwrap();
    assert_eq!(status, 403);
    assert_eq!(t.events().len(), 2);

    // The same key again posts nothing twice.
    let again = t.plugin.lock().unwrap().send(&req).unwrap().unwrap();
    assert_eq!(again.message_id.as_deref(), Some(msg.as_str()));
    assert_eq!(t.emulator.posted().len(), 1);
}

#[test]
fn an_invalid_card_is_refused_before_any_request() {
    let mut r = rig();
    let mut req = card_request("conversation:3000001", "bad-card");
    req.blocks = Some(CARD.replace("요청자", "요청자의 이름과 소속"));
    let e = r.plugin.send(&req).unwrap().unwrap_err();
    let ChannelError::InvalidMessage(m) = e else {
        panic!("{e:?}")
    };
    assert_eq!(m, "blocks[2].term: over 10 characters (11)");
    req.blocks = Some(CARD.into());
    req.buttons[0].label = "반려".repeat(11);
    let e = r.plugin.send(&req).unwrap().unwrap_err();
    assert!(
        matches!(&e, ChannelError::InvalidMessage(m) if m.starts_with("buttons[0].text: over 20")),
        "{e:?}"
    );
    assert!(
        r.emulator.requests().is_empty(),
        "nothing was asked of KakaoWork"
    );
}

#[test]
fn the_agents_markdown_is_posted_as_blocks_the_emulator_accepts() {
    let mut r = rig();
    let section = "## 결과 요약\n\n**빌드**는 *성공*했고 `cargo test`가 통과했습니다. [로그](https://ci.example.com/7)\n\n- 단위 테스트\n  - 가이드\n  - 호스트\n- 종단 테스트\n\n```\nok: 126 passed\n```\n\n";
    let mut req = send_req("conversation:3000002", &section.repeat(40));
    req.format = TextFormat::Markdown;
    req.buttons = vec![ActionButton {
        label: "다시 실행".into(),
        name: "rerun".into(),
        value: "ci:7".into(),
        style: ButtonStyle::Primary,
    }];
    // Sent as a host sends it: its parts and the conversation's lookup exceed the burst.
    let clock = r.clock.clone();
    let receipt = host_test::serve::delivery::deliver(&mut r.plugin, &req, &clock, 20, |_, _| {})
        .unwrap()
        .outcome
        .unwrap();
    assert!(
        receipt.chunks.len() > 1,
        "a long reply takes several messages"
    );
    assert!(!receipt.ambiguous);
    assert!(
        r.emulator.refused_blocks().is_empty(),
        "{:?}",
        r.emulator.refused_blocks()
    );
    let posted = r.emulator.posted();
    assert_eq!(posted.len(), receipt.chunks.len());
    let headers: usize = posted.iter().map(|p| find(&p.blocks, "header").len()).sum();
    assert_eq!(headers, 40);
    let last = &posted.last().unwrap().blocks;
    assert!(
        last.to_string().contains("rerun"),
        "the buttons end the reply"
    );
    assert!(
        !posted[0].blocks.to_string().contains("rerun"),
        "and only the last part"
    );
    assert!(posted[0].blocks.to_string().contains("\"bold\":true"));
}

#[test]
fn message_send_takes_markdown_a_card_and_buttons_on_the_command_line() {
    let dir = std::env::temp_dir().join(format!("kw-blocks-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| common::cli::run(&dir, args);
    let (rc, out, err) = run(&[
        "message",
        "send",
        "--target",
        "user:10000001",
        "--markdown",
        "--message",
        "**배포** 완료: [로그](https://ci.example.com/7)",
        "--button",
        "확인=ack:deploy-7",
    ]);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains("Sent."), "{out}");
    assert!(
        out.contains(r#""bold":true"#) && out.contains(r#""action_name":"ack""#),
        "{out}"
    );
    assert!(out.contains("POST /v1/messages.send -> 200"), "{out}");

    let card = dir.join("card.json");
    let send_card = |json: &str| {
        std::fs::write(&card, json).unwrap();
        run(&[
            "message",
            "send",
            "-t",
            "3000001",
            "--blocks",
            card.to_str().unwrap(),
        ])
    };
    let (rc, out, err) = send_card(CARD);
    assert_eq!(rc, 0, "{out}\n{err}");
    assert!(out.contains(r#""type":"description""#), "{out}");

    let (rc, out, err) =
        send_card(r#"[{"type": "header", "text": "스무 글자가 넘는 아주 긴 헤더 제목입니다"}]"#);
    assert_eq!(rc, 2, "{out}\n{err}");
    assert!(err.contains("blocks[0].text: over 20 characters"), "{err}");
    assert!(out.contains("received no request"), "{out}");

    for (args, why) in [
        (
            vec!["message", "send", "-t", "1", "--button", "확인"],
            "LABEL=NAME:VALUE",
        ),
        (vec!["message", "send", "-t", "1"], "required"),
        (
            vec![
                "message",
                "send",
                "-t",
                "1",
                "--blocks",
                "/nonexistent.json",
            ],
            "cannot read --blocks",
        ),
    ] {
        let (rc, _, err) = run(&args);
        assert_eq!(rc, 2, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
