use super::*;

fn plain(t: &str) -> Block {
    Block::Text(Text::plain(t))
}

fn styled(t: &str) -> Inline {
    with(t, |_, _, _, _| {})
}

fn with(t: &str, f: impl FnOnce(&mut bool, &mut bool, &mut bool, &mut Option<Color>)) -> Inline {
    let (mut b, mut i, mut s, mut c) = (false, false, false, None);
    f(&mut b, &mut i, &mut s, &mut c);
    Inline::Styled {
        text: t.into(),
        bold: b,
        italic: i,
        strike: s,
        color: c,
    }
}

fn rich(inlines: Vec<Inline>) -> Block {
    let text = Text {
        text: String::new(),
        markdown: false,
        inlines,
    };
    Block::Text(Text {
        text: text.shown(),
        ..text
    })
}

fn header(t: &str) -> Block {
    Block::Header {
        text: t.into(),
        style: HeaderStyle::Blue,
    }
}

#[test]
fn the_mapping_table() {
    let bold = |t: &str| with(t, |b, _, _, _| *b = true);
    let italic = |t: &str| with(t, |_, i, _, _| *i = true);
    let grey = |t: &str| with(t, |_, _, _, c| *c = Some(Color::Grey));
    let cases: Vec<(&str, Vec<Block>)> = vec![
        ("안녕하세요", vec![plain("안녕하세요")]),
        (
            "**배포** 완료",
            vec![rich(vec![bold("배포"), styled(" 완료")])],
        ),
        (
            "*기울임*과 ~~취소~~",
            vec![rich(vec![
                italic("기울임"),
                styled("과 "),
                with("취소", |_, _, s, _| *s = true),
            ])],
        ),
        (
            "***둘 다***",
            vec![rich(vec![with("둘 다", |b, i, _, _| {
                *b = true;
                *i = true
            })])],
        ),
        (
            "[로그 보기](https://logs.example.com/7) 참고",
            vec![rich(vec![
                Inline::Link {
                    text: "로그 보기".into(),
                    url: "https://logs.example.com/7".into(),
                },
                styled(" 참고"),
            ])],
        ),
        (
            "[설명서](docs/guide.md)",
            vec![plain("설명서 (docs/guide.md)")],
        ),
        (
            "`cargo test` 실행",
            vec![rich(vec![
                with("cargo test", |_, _, _, c| *c = Some(Color::Blue)),
                styled(" 실행"),
            ])],
        ),
        (
            "# 배포 알림\n본문",
            vec![header("배포 알림"), plain("본문")],
        ),
        (
            "## 이 제목은 스무 글자를 훌쩍 넘어서 헤더 블록에 들어가지 않습니다",
            vec![rich(vec![bold(
                "이 제목은 스무 글자를 훌쩍 넘어서 헤더 블록에 들어가지 않습니다",
            )])],
        ),
        (
            "```rust\nfn main() {\n    println!(\"hi\");\n}\n```",
            vec![plain("fn main() {\n    println!(\"hi\");\n}")],
        ),
        (
            "- 하나\n- 둘\n  - 둘의 하나\n  - 둘의 둘\n- 셋",
            vec![plain("• 하나\n• 둘\n  • 둘의 하나\n  • 둘의 둘\n• 셋")],
        ),
        (
            "1. 첫째\n2. **둘째**\n3. 셋째",
            vec![rich(vec![
                styled("1. 첫째\n2. "),
                bold("둘째"),
                styled("\n3. 셋째"),
            ])],
        ),
        (
            "앞\n\n---\n\n뒤",
            vec![plain("앞"), Block::Divider, plain("뒤")],
        ),
        ("> 인용문", vec![rich(vec![grey("> 인용문")])]),
        (
            "| a | b |\n|---|---|\n| 1 | 2 |",
            vec![plain("| a | b |\n|---|---|\n| 1 | 2 |")],
        ),
        ("<b>html</b>", vec![plain("<b>html</b>")]),
        (
            "- [x] 완료\n- [ ] 남음",
            vec![plain("• [x] 완료\n• [ ] 남음")],
        ),
    ];
    for (md, want) in cases {
        assert_eq!(render(md), want, "{md}");
    }
}

/// The text the blocks show, without the markup: what a reader sees.
/// What the blocks show: their text, and the address of each image.
fn shown(blocks: &[Block]) -> String {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::ImageLink(url) => Some(url.clone()),
            b => b.plain_text(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn text_over_one_block_continues_in_the_next_within_the_limit() {
    let sentence = "한국어 문장이 길게 이어집니다. ";
    let md = format!("**시작** {}", sentence.repeat(60));
    let blocks = render(&md);
    assert!(blocks.len() >= 3, "{}", blocks.len());
    let mut all = String::new();
    for b in &blocks {
        let Block::Text(t) = b else { panic!("{b:?}") };
        let n = t.shown().chars().count();
        assert!((1..=blockkit::MAX_TEXT_CHARS).contains(&n), "{n}");
        assert_eq!(t.text, t.shown());
        all.push_str(&t.shown());
        all.push(' ');
    }
    // Nothing is lost: every word arrives, in order.
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(words(&all), words(&md.replace("**", "")));
    // Every block passes the same checks as a card from a host.
    let stored = blockkit::to_stored(&blocks);
    assert_eq!(blockkit::parse_stored(&stored).unwrap(), blocks);
}

#[test]
fn a_long_code_block_is_split_and_kept_verbatim() {
    let code: String = (0..80).map(|i| format!("let x{i} = {i};\n")).collect();
    let blocks = render(&format!("```\n{code}```"));
    assert!(blocks.len() > 1);
    let joined = shown(&blocks).replace('\n', "");
    assert_eq!(joined, code.replace('\n', ""));
}

#[test]
fn nothing_is_lost_for_any_markup() {
    let md = "# 제목\n\n본문 *강조* 와 `코드`\n\n- a\n  1. b\n\n> 인용 [링크](https://x.example)\n\n![그림](https://x.example/a.png)";
    let text = shown(&render(md));
    for w in [
        "제목",
        "본문",
        "강조",
        "코드",
        "a",
        "b",
        "인용",
        "링크",
        "그림",
        "https://x.example/a.png",
    ] {
        assert!(text.contains(w), "{w} missing from {text}");
    }
}

#[test]
fn an_image_url_becomes_an_image_block_where_it_stands_and_other_urls_stay_links() {
    let blocks = render("배포 화면\n\n![](https://ci.example.com/shot.PNG?size=2)\n\n끝");
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert_eq!(
        blocks[1],
        Block::ImageLink("https://ci.example.com/shot.PNG?size=2".into())
    );
    assert!(matches!(&blocks[2], Block::Text(t) if t.shown() == "끝"));
    // Not an image, or not on the web: text and a link, as before.
    for url in [
        "https://ci.example.com/report.pdf",
        "https://example.com/",
        "https://example.com/png",
        "file:///tmp/a.png",
    ] {
        let blocks = render(&format!("![]({url})"));
        assert!(
            blocks.iter().all(|b| !matches!(b, Block::ImageLink(_))),
            "{url}: {blocks:?}"
        );
    }
    assert!(crate::render::blockkit::is_image_url(
        "http://a.example/x/y.jpeg#f"
    ));
    assert!(!crate::render::blockkit::is_image_url(
        "https://a.example/x.png.exe"
    ));
}
