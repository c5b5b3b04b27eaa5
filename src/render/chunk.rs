//! Splitting long text into messages KakaoWork accepts.
//!
//! Chunks hold at most `limit` characters (Unicode scalar values). Paragraphs and fenced code
//! blocks are kept whole where they fit; a code block that does not fit is split at line
//! breaks and its fence is closed and reopened, so every chunk renders on its own. Text is
//! never dropped: without code fences, the chunks concatenate back to the input exactly.

use std::borrow::Cow;

/// Characters that must stay with the character before them (combining marks, joiners,
/// variation selectors, emoji modifiers).
fn is_attached(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
        | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0x200C | 0x200D | 0x1F3FB..=0x1F3FF
        | 0xE0100..=0xE01EF | 0xE0020..=0xE007F)
}

/// Is a split allowed right before `chars[i]`?
fn can_split_before(chars: &[char], i: usize) -> bool {
    i > 0 && i < chars.len() && !is_attached(chars[i]) && chars[i - 1] != '\u{200D}'
}

/// Split a run of plain text (no fences) into pieces of at most `limit` characters,
/// preferring paragraph breaks, then line breaks, then spaces, then any character boundary.
fn split_plain(text: &str, limit: usize, out: &mut Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut start = 0;
    while chars.len() - start > limit {
        let window = start + limit; // first index that does not fit
        let best = |pred: &dyn Fn(usize) -> bool| {
            (start + 1..=window)
                .rev()
                .find(|&i| pred(i) && can_split_before(&chars, i))
        };
        let cut = best(&|i| i >= 2 && chars[i - 1] == '\n' && chars[i - 2] == '\n')
            .or_else(|| best(&|i| chars[i - 1] == '\n'))
            .or_else(|| best(&|i| chars[i - 1].is_whitespace()))
            .or_else(|| best(&|_| true))
            .unwrap_or(window);
        out.push(chars[start..cut].iter().collect());
        start = cut;
    }
    if start < chars.len() {
        out.push(chars[start..].iter().collect());
    }
}

#[derive(Debug, PartialEq)]
enum Block {
    Text(String),
    /// A fenced code block: opening line (e.g. "```rust\n"), body lines, closing line.
    Fence {
        open: String,
        body: String,
        close: String,
    },
}

/// Cut the text into plain runs and fenced code blocks (``` or ~~~ at line start).
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let marker = if trimmed.starts_with("```") {
            "```"
        } else if trimmed.starts_with("~~~") {
            "~~~"
        } else {
            ""
        };
        if marker.is_empty() {
            plain.push_str(line);
            continue;
        }
        // Find the closing fence; an unclosed fence is plain text.
        let mut body = String::new();
        let mut close = None;
        let mut consumed = Vec::new();
        while let Some(next) = lines.peek() {
            let l = *next;
            lines.next();
            consumed.push(l);
            if l.trim_start().starts_with(marker)
                && l.trim()
                    .chars()
                    .all(|c| c == marker.chars().next().unwrap())
            {
                close = Some(l.to_owned());
                break;
            }
            body.push_str(l);
        }
        match close {
            Some(close) => {
                if !plain.is_empty() {
                    out.push(Block::Text(std::mem::take(&mut plain)));
                }
                out.push(Block::Fence {
                    open: line.to_owned(),
                    body,
                    close,
                });
            }
            None => {
                plain.push_str(line);
                consumed.iter().for_each(|l| plain.push_str(l));
            }
        }
    }
    if !plain.is_empty() {
        out.push(Block::Text(plain));
    }
    out
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// Split `text` into chunks of at most `limit` characters (`limit` ≥ 16). A text that is one
/// chunk comes back borrowed.
pub fn split(text: &str, limit: usize) -> Vec<Cow<'_, str>> {
    let limit = limit.max(16);
    if is_one_chunk(text, limit) {
        return vec![Cow::Borrowed(text)];
    }
    split_apart(text, limit)
        .into_iter()
        .map(Cow::Owned)
        .collect()
}

/// Whether `text` is one chunk: the common case, a short text without fences (what the general
/// path gives it too, without taking it apart and putting it together again).
fn is_one_chunk(text: &str, limit: usize) -> bool {
    text.len() <= limit
        // A byte scan first: most texts hold neither character, and a substring search
        // costs more to set up than the scan.
        && (!text.bytes().any(|b| b == b'`' || b == b'~')
            || !(text.contains("```") || text.contains("~~~")))
        && !text.trim().is_empty()
}

/// The general path of [`split`]: cut the text into unsplittable pieces, pack them into
/// chunks, then drop chunks that would show as empty bubbles.
fn split_apart(text: &str, limit: usize) -> Vec<String> {
    // Pieces that must not be split further, then packed greedily into chunks.
    let mut pieces: Vec<String> = Vec::new();
    for b in blocks(text) {
        match b {
            Block::Text(t) => push_paragraphs(&t, &mut pieces),
            Block::Fence { open, body, close } => {
                push_fence(&open, &body, &close, limit, &mut pieces);
            }
        }
    }
    fold_blank_chunks(pack(pieces, limit), limit)
}

/// Paragraphs are the packing unit of plain text; each keeps its trailing blank lines.
fn push_paragraphs(t: &str, pieces: &mut Vec<String>) {
    let mut para = String::new();
    for line in t.split_inclusive('\n') {
        para.push_str(line);
        if line == "\n" || line == "\r\n" {
            pieces.push(std::mem::take(&mut para));
        }
    }
    if !para.is_empty() {
        pieces.push(para);
    }
}

/// A code block is one piece when it fits; otherwise its body is split and each part gets
/// its own fence, so every chunk renders as code on its own.
fn push_fence(open: &str, body: &str, close: &str, limit: usize, pieces: &mut Vec<String>) {
    let whole = format!("{open}{body}{close}");
    if len(&whole) <= limit {
        pieces.push(whole);
        return;
    }
    // Close and reopen the fence around each part.
    let close_nl = if close.ends_with('\n') {
        close.to_owned()
    } else {
        format!("{close}\n")
    };
    let reopen = if open.ends_with('\n') {
        open.to_owned()
    } else {
        format!("{open}\n")
    };
    let room = limit.saturating_sub(len(&reopen) + len(&close_nl)).max(1);
    let mut parts = Vec::new();
    split_plain(body, room, &mut parts);
    let n = parts.len();
    for (i, p) in parts.into_iter().enumerate() {
        let mut p = p;
        if !p.ends_with('\n') && i + 1 < n {
            p.push('\n');
        }
        let end = if i + 1 == n {
            close.to_owned()
        } else {
            close_nl.clone()
        };
        let body_nl = if p.ends_with('\n') || p.is_empty() {
            p
        } else {
            format!("{p}\n")
        };
        pieces.push(format!("{reopen}{body_nl}{end}"));
    }
}

/// Pack pieces greedily into chunks of at most `limit` characters; a piece too long for any
/// chunk is split as plain text.
fn pack(pieces: Vec<String>, limit: usize) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for piece in pieces {
        if len(&current) + len(&piece) <= limit {
            current.push_str(&piece);
            continue;
        }
        if !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
        }
        if len(&piece) <= limit {
            current = piece;
        } else {
            let mut parts = Vec::new();
            split_plain(&piece, limit, &mut parts);
            let last = parts.pop().unwrap_or_default();
            chunks.extend(parts);
            current = last;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// A chunk of only whitespace says nothing (and KakaoWork would show an empty bubble):
/// fold it into a neighbour when that fits; only whitespace can be left out.
fn fold_blank_chunks(chunks: Vec<String>, limit: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut carry = String::new();
    for c in chunks {
        if c.trim().is_empty() {
            match out.last_mut() {
                Some(prev) if len(prev) + len(&c) <= limit => prev.push_str(&c),
                _ => carry = c,
            }
            continue;
        }
        if !carry.is_empty() && len(&carry) + len(&c) <= limit {
            out.push(format!("{}{c}", std::mem::take(&mut carry)));
        } else {
            carry.clear();
            out.push(c);
        }
    }
    out.retain(|c| !c.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split("안녕하세요", 2000), ["안녕하세요"]);
    }

    #[test]
    fn paragraphs_are_kept_whole() {
        let p1 = "a".repeat(30);
        let p2 = "b".repeat(30);
        let p3 = "c".repeat(30);
        let text = format!("{p1}\n\n{p2}\n\n{p3}");
        let chunks = split(&text, 70);
        assert_eq!(chunks, [format!("{p1}\n\n{p2}\n\n"), p3.clone()]);
        assert_eq!(chunks.concat(), text);
        assert_eq!(
            split(&text, 40),
            [format!("{p1}\n\n"), format!("{p2}\n\n"), p3]
        );
    }

    #[test]
    fn long_paragraph_splits_at_spaces_then_anywhere() {
        let text = "word ".repeat(50);
        let chunks = split(&text, 32);
        assert!(chunks.iter().all(|c| c.chars().count() <= 32));
        assert!(chunks.iter().all(|c| c.ends_with(' ')), "{chunks:?}");
        assert_eq!(chunks.concat(), text);
        let hangul = "가".repeat(100);
        let chunks = split(&hangul, 30);
        assert_eq!(
            chunks.iter().map(|c| c.chars().count()).collect::<Vec<_>>(),
            [30, 30, 30, 10]
        );
    }

    #[test]
    fn code_fence_that_fits_stays_in_one_chunk() {
        let code = "```rust\nfn main() {}\n```\n";
        let text = format!("{}\n\n{code}", "x".repeat(50));
        let chunks = split(&text, 60);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1], code);
    }

    #[test]
    fn long_code_fence_is_closed_and_reopened() {
        let body: String = (0..40).map(|i| format!("let x{i} = {i};\n")).collect();
        let text = format!("```rust\n{body}```\n");
        let chunks = split(&text, 100);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.chars().count() <= 100, "{c}");
            assert!(c.starts_with("```rust\n"), "{c}");
            assert_eq!(c.matches("```").count(), 2, "balanced: {c}");
        }
        let lines: Vec<&str> = chunks
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| !l.starts_with("```"))
            .collect();
        assert_eq!(lines, body.lines().collect::<Vec<_>>());
    }

    #[test]
    fn never_splits_inside_a_combining_sequence() {
        // "e" + combining acute accent, repeated: a split may not separate the pair.
        let text = "e\u{301}".repeat(40);
        for c in split(&text, 17) {
            assert!(!c.starts_with('\u{301}'), "{c:?}");
        }
        let family = "👨\u{200D}👩\u{200D}👧".repeat(10);
        for c in split(&family, 16) {
            assert!(
                !c.starts_with('\u{200D}') && !c.ends_with('\u{200D}'),
                "{c:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn no_text_lost_and_limits_hold(text in "[a-z가-힣 \\n.]{0,600}", limit in 16usize..200) {
            let chunks = split(&text, limit);
            for c in &chunks {
                prop_assert!(c.chars().count() <= limit);
                prop_assert!(!c.trim().is_empty());
            }
            // Every non-whitespace character survives, in order.
            let got: String = chunks.concat().chars().filter(|c| !c.is_whitespace()).collect();
            let want: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn a_short_text_is_one_chunk_either_way(text in "[a-z가-힣 \\n.]{1,60}", limit in 16usize..200) {
            // The short-text shortcut gives what the general path gives.
            prop_assume!(text.len() <= limit && !text.trim().is_empty());
            prop_assert_eq!(split_apart(&text, limit), vec![text.clone()]);
            prop_assert_eq!(split(&text, limit), vec![text.clone()]);
        }

        #[test]
        fn chunks_are_the_text_in_order_without_fences(text in "[a-z가-힣 \\n]{1,600}", limit in 16usize..200) {
            // Each chunk is a verbatim slice of the input, in order; only whitespace may
            // lie between two chunks.
            let chunks = split(&text, limit);
            let mut rest = text.as_str();
            for c in &chunks {
                let at = rest.find(&**c);
                prop_assert!(at.is_some(), "{:?} not found in {:?}", c, rest);
                let at = at.unwrap();
                prop_assert!(rest[..at].trim().is_empty(), "skipped {:?}", &rest[..at]);
                rest = &rest[at + c.len()..];
            }
            prop_assert!(rest.trim().is_empty());
        }
    }
}
