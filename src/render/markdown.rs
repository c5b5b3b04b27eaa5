//! The agent's markdown as KakaoWork blocks. Paragraphs become text blocks with styled and
//! link inlines; short headings become header blocks (longer ones bold text); lists become
//! bulleted or numbered lines, indented by depth; code stays verbatim in its own text blocks
//! (inline code is coloured); rules become dividers. Anything Block Kit cannot show (tables,
//! HTML, footnotes) stays as its plain text: nothing is dropped. Every text block keeps
//! within 500 characters; longer paragraphs continue in the next block.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::render::blockkit::{self, Block, Color, HeaderStyle, Inline, MAX_HEADER_CHARS, Text};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Span {
    text: String,
    bold: bool,
    italic: bool,
    strike: bool,
    code: bool,
    grey: bool,
    link: Option<String>,
}

impl Span {
    fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    fn same_style(&self, o: &Self) -> bool {
        (
            self.bold,
            self.italic,
            self.strike,
            self.code,
            self.grey,
            &self.link,
        ) == (o.bold, o.italic, o.strike, o.code, o.grey, &o.link)
    }

    fn is_plain(&self) -> bool {
        self.same_style(&Span::default())
    }
}

#[derive(Default)]
struct Render {
    blocks: Vec<Block>,
    /// The spans of the paragraph, heading or whole list being read.
    spans: Vec<Span>,
    strong: u32,
    emphasis: u32,
    strike: u32,
    quote: u32,
    link: Option<String>,
    /// The open link's address, whether or not it can be a link inline.
    link_target: Option<String>,
    /// For each open list: the next number of an ordered one.
    lists: Vec<Option<u64>>,
    /// Inside a heading (its level), a code block, an image.
    heading: Option<HeadingLevel>,
    code_block: Option<String>,
    image: Option<String>,
}

impl Render {
    fn push(&mut self, text: &str, code: bool) {
        if text.is_empty() {
            return;
        }
        let span = Span {
            text: text.to_owned(),
            bold: self.strong > 0 || self.heading.is_some(),
            italic: self.emphasis > 0,
            strike: self.strike > 0,
            code,
            grey: self.quote > 0,
            link: self.link.clone(),
        };
        self.push_span(span);
    }

    /// Adds a span, merged into the last one when they look the same.
    fn push_span(&mut self, span: Span) {
        match self.spans.last_mut() {
            Some(last) if last.same_style(&span) => last.text.push_str(&span.text),
            _ => self.spans.push(span),
        }
    }

    /// A new line inside the current unit (a list's next item, a quote's next paragraph).
    fn line(&mut self, prefix: &str) {
        if !self.spans.is_empty() {
            self.push_span(Span::plain("\n"));
        }
        if !prefix.is_empty() {
            self.push_span(Span {
                grey: self.quote > 0,
                ..Span::plain(prefix)
            });
        }
    }

    fn flush(&mut self) {
        let spans = std::mem::take(&mut self.spans);
        self.blocks
            .extend(text_blocks(spans).into_iter().map(Block::Text));
    }

    fn event(&mut self, e: Event<'_>) {
        if let Some(code) = &mut self.code_block {
            match e {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let code = self.code_block.take().unwrap_or_default();
                    let code = code.strip_suffix('\n').unwrap_or(&code);
                    if self.lists.is_empty() {
                        self.flush();
                        for piece in crate::render::chunk::split(code, blockkit::MAX_TEXT_CHARS) {
                            self.blocks.push(Block::Text(Text::plain(piece)));
                        }
                    } else {
                        for l in code.lines() {
                            self.line("    ");
                            self.push(l, false);
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        match e {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.push(&t, false),
            Event::Code(t) => self.push(&t, true),
            Event::SoftBreak | Event::HardBreak => self.push("\n", false),
            Event::Html(t) | Event::InlineHtml(t) => self.push(&t, false),
            Event::Rule => {
                self.flush();
                self.blocks.push(Block::Divider);
            }
            Event::TaskListMarker(done) => self.push(if done { "[x] " } else { "[ ] " }, false),
            Event::FootnoteReference(t) => self.push(&format!("[^{t}]"), false),
            _ => {}
        }
    }

    fn in_list(&self) -> bool {
        !self.lists.is_empty()
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                if self.in_list() {
                    // A second paragraph of an item: a new, indented line.
                    if self.spans.last().is_some_and(|s| !s.text.ends_with(' ')) {
                        let indent = "  ".repeat(self.lists.len());
                        self.line(&indent);
                    }
                } else if self.quote > 0 {
                    self.flush();
                    self.line("> ");
                } else {
                    self.flush();
                }
            }
            Tag::Heading { level, .. } => {
                self.flush();
                self.heading = Some(level);
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote += 1;
            }
            Tag::CodeBlock(_) => self.code_block = Some(String::new()),
            Tag::List(first) => {
                if self.lists.is_empty() {
                    self.flush();
                }
                self.lists.push(first);
            }
            Tag::Item => {
                let depth = self.lists.len().saturating_sub(1);
                let bullet = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "• ".to_owned(),
                };
                self.line(&format!("{}{bullet}", "  ".repeat(depth)));
            }
            Tag::Emphasis => self.emphasis += 1,
            Tag::Strong => self.strong += 1,
            Tag::Strikethrough => self.strike += 1,
            Tag::Link { dest_url, .. } => {
                if blockkit::is_web_url(&dest_url) {
                    self.link = Some(dest_url.to_string());
                }
                self.link_target = Some(dest_url.into_string());
            }
            Tag::Image { dest_url, .. } => self.image = Some(dest_url.into_string()),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph if !self.in_list() => self.flush(),
            TagEnd::Heading(_) => {
                self.heading = None;
                let shown: String = self.spans.iter().map(|s| s.text.as_str()).collect();
                let shown = shown.trim();
                let n = shown.chars().count();
                if n > 0 && n <= MAX_HEADER_CHARS && self.quote == 0 {
                    self.spans.clear();
                    self.blocks.push(Block::Header {
                        text: shown.to_owned(),
                        style: HeaderStyle::Blue,
                    });
                } else {
                    self.flush();
                }
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
            }
            TagEnd::List(_) => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.flush();
                }
            }
            TagEnd::Emphasis => self.emphasis = self.emphasis.saturating_sub(1),
            TagEnd::Strong => self.strong = self.strong.saturating_sub(1),
            TagEnd::Strikethrough => self.strike = self.strike.saturating_sub(1),
            TagEnd::Link => {
                let target = self.link_target.take().unwrap_or_default();
                match self.link.take() {
                    // A link without a label shows its address.
                    Some(url)
                        if self
                            .spans
                            .last()
                            .is_none_or(|s| s.link.as_ref() != Some(&url)) =>
                    {
                        self.link = Some(url.clone());
                        self.push(&url, false);
                        self.link = None;
                    }
                    Some(_) => {}
                    // Not a web address (relative, mailto:): kept as text after its label.
                    None if !target.is_empty() => self.push(&format!(" ({target})"), false),
                    None => {}
                }
            }
            TagEnd::Image => {
                if let Some(url) = self.image.take() {
                    // An image KakaoWork can show gets its own block, where it stands; its
                    // alt text (already in the text) stays before it.
                    if blockkit::is_image_url(&url) {
                        self.flush();
                        self.blocks.push(Block::ImageLink(url));
                        return;
                    }
                    let web = blockkit::is_web_url(&url);
                    if web {
                        self.link = Some(url.clone());
                    }
                    self.push(&format!(" ({url})"), false);
                    self.link = None;
                }
            }
            _ => {}
        }
    }
}

/// The agent's markdown as blocks: text blocks within 500 characters, headers, dividers.
pub fn render(markdown: &str) -> Vec<Block> {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut r = Render::default();
    for e in Parser::new_ext(markdown, options) {
        r.event(e);
    }
    if let Some(code) = r.code_block.take() {
        r.push(&code, false);
    }
    r.flush();
    r.blocks
}

/// Spans as text blocks, each within the text block's limit, split at a line or word end.
fn text_blocks(spans: Vec<Span>) -> Vec<Text> {
    let max = blockkit::MAX_TEXT_CHARS;
    let mut out: Vec<Vec<Span>> = vec![];
    let mut cur: Vec<Span> = vec![];
    let mut used = 0;
    for span in spans {
        let mut rest = span.text.as_str();
        while !rest.is_empty() {
            let room = max - used;
            let n = rest.chars().count();
            if n <= room {
                cur.push(Span {
                    text: rest.to_owned(),
                    ..span.clone()
                });
                used += n;
                break;
            }
            let cut = cut_at(rest, room);
            if cut == 0 {
                // No room left in this block: the span starts the next one.
                out.push(std::mem::take(&mut cur));
                used = 0;
                continue;
            }
            cur.push(Span {
                text: rest[..cut].to_owned(),
                ..span.clone()
            });
            out.push(std::mem::take(&mut cur));
            used = 0;
            rest = &rest[cut..];
        }
    }
    out.push(cur);
    out.into_iter().filter_map(text_of).collect()
}

/// Where to cut `s` to keep at most `room` characters: after the last line end or space in
/// the second half of that room, else at the room itself (0 when there is no room).
fn cut_at(s: &str, room: usize) -> usize {
    let end = s.char_indices().nth(room).map_or(s.len(), |(i, _)| i);
    let window = &s[..end];
    match window.rfind(['\n', ' ']) {
        Some(i) if window[..i].chars().count() >= room / 2 => i + 1,
        _ => end,
    }
}

fn text_of(mut spans: Vec<Span>) -> Option<Text> {
    // Line ends at the edges of a block show as empty lines.
    while spans.first().is_some_and(|s| s.text.trim().is_empty()) {
        spans.remove(0);
    }
    while spans.last().is_some_and(|s| s.text.trim().is_empty()) {
        spans.pop();
    }
    if let Some(first) = spans.first_mut() {
        first.text = first.text.trim_start_matches('\n').to_owned();
    }
    if let Some(last) = spans.last_mut() {
        last.text = last.text.trim_end().to_owned();
    }
    let text: String = spans.iter().map(|s| s.text.as_str()).collect();
    if text.trim().is_empty() {
        return None;
    }
    if spans.iter().all(Span::is_plain) {
        return Some(Text::plain(text));
    }
    let inlines = spans
        .into_iter()
        .filter(|s| !s.text.is_empty())
        .map(|s| match s.link {
            Some(url) => Inline::Link { text: s.text, url },
            None => Inline::Styled {
                text: s.text,
                bold: s.bold,
                italic: s.italic,
                strike: s.strike,
                color: if s.code {
                    Some(Color::Blue)
                } else if s.grey {
                    Some(Color::Grey)
                } else {
                    None
                },
            },
        })
        .collect();
    Some(Text {
        text,
        markdown: false,
        inlines,
    })
}

#[cfg(test)]
mod tests;
