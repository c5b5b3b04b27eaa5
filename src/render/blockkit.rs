//! Block Kit: KakaoWork's message blocks as types, read from JSON with every limit KakaoWork
//! publishes checked, so that a bad block is named with its field before any request is made
//! (`blocks[3].text: over 500 characters`).

use serde_json::{Map, Value, json};

/// A text block's text, and the sum of its inlines' texts.
pub const MAX_TEXT_CHARS: usize = 500;
pub const MAX_BUTTON_CHARS: usize = 20;
pub const MAX_HEADER_CHARS: usize = 20;
pub const MAX_TERM_CHARS: usize = 10;
/// Buttons in one `action` row.
pub const MAX_ROW_BUTTONS: usize = 3;
/// Blocks in one message. KakaoWork publishes no number; its builder's examples stay far below.
pub const MAX_BLOCKS: usize = 50;
/// A message's `text` (with blocks, its notification preview).
pub const MAX_MESSAGE_TEXT_CHARS: usize = 3000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Text(Text),
    ImageLink(String),
    Button(Button),
    Divider,
    Header {
        text: String,
        style: HeaderStyle,
    },
    Action(Vec<Button>),
    Description {
        term: String,
        content: Text,
        accent: bool,
    },
    Section {
        content: Text,
        accessory: String,
    },
    Context {
        content: Text,
        image: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    pub text: String,
    pub markdown: bool,
    pub inlines: Vec<Inline>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Styled {
        text: String,
        bold: bool,
        italic: bool,
        strike: bool,
        color: Option<Color>,
    },
    Link {
        text: String,
        url: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Default,
    Grey,
    Blue,
    Red,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderStyle {
    Blue,
    Red,
    Yellow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Default,
    Primary,
    Danger,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub text: String,
    pub style: Style,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    OpenInappBrowser(String),
    OpenSystemBrowser(String),
    OpenExternalApp(String),
    /// A click comes back as a `submit_action` callback: its value is signed when sent.
    Submit {
        name: String,
        value: String,
    },
    /// Only the plugin's own Reply button: it opens the modal the plugin serves.
    CallModal(String),
}

impl Text {
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// The inlines' texts in order, or the text itself.
    pub fn shown(&self) -> String {
        if self.inlines.is_empty() {
            return self.text.clone();
        }
        self.inlines
            .iter()
            .map(|i| match i {
                Inline::Styled { text, .. } | Inline::Link { text, .. } => text.as_str(),
            })
            .collect()
    }
}

impl Block {
    /// What the block shows as plain text, for a message's notification preview.
    pub fn plain_text(&self) -> Option<String> {
        match self {
            Self::Text(t) => Some(t.shown()),
            Self::Header { text, .. } => Some(text.clone()),
            Self::Description { term, content, .. } => Some(format!("{term}: {}", content.shown())),
            Self::Section { content, .. } | Self::Context { content, .. } => Some(content.shown()),
            _ => None,
        }
    }

    /// The block as KakaoWork takes it. `sign` turns a `submit_action` button's name, caption
    /// and value into the value sent (the stored form passes the value through unchanged).
    pub fn to_json(&self, sign: &mut dyn FnMut(&str, &str, &str) -> String) -> Value {
        match self {
            Self::Text(t) => text_json(t),
            Self::ImageLink(url) => json!({"type": "image_link", "url": url}),
            Self::Button(b) => button_json(b, sign),
            Self::Divider => json!({"type": "divider"}),
            Self::Header { text, style } => json!({"type": "header", "text": text,
            "style": match style {
                HeaderStyle::Blue => "blue",
                HeaderStyle::Red => "red",
                HeaderStyle::Yellow => "yellow",
            }}),
            Self::Action(buttons) => json!({"type": "action",
                "elements": buttons.iter().map(|b| button_json(b, sign)).collect::<Vec<_>>()}),
            Self::Description {
                term,
                content,
                accent,
            } => json!({"type": "description", "term": term, "content": text_json(content),
                "accent": accent}),
            Self::Section { content, accessory } => json!({"type": "section",
                "content": text_json(content), "accessory": {"type": "image_link", "url": accessory}}),
            Self::Context { content, image } => json!({"type": "context",
                "content": text_json(content), "image": {"type": "image_link", "url": image}}),
        }
    }

    pub fn has_submit(&self) -> bool {
        let submit = |b: &Button| matches!(b.action, Action::Submit { .. });
        match self {
            Self::Button(b) => submit(b),
            Self::Action(bs) => bs.iter().any(submit),
            _ => false,
        }
    }
}

fn text_json(t: &Text) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), "text".into());
    o.insert("text".into(), t.text.clone().into());
    if t.markdown {
        o.insert("markdown".into(), true.into());
    }
    if !t.inlines.is_empty() {
        let inlines = t.inlines.iter().map(inline_json).collect();
        o.insert("inlines".into(), Value::Array(inlines));
    }
    Value::Object(o)
}

fn inline_json(i: &Inline) -> Value {
    match i {
        Inline::Link { text, url } => json!({"type": "link", "text": text, "url": url}),
        Inline::Styled {
            text,
            bold,
            italic,
            strike,
            color,
        } => {
            let mut o = Map::new();
            o.insert("type".into(), "styled".into());
            o.insert("text".into(), text.clone().into());
            for (k, on) in [("bold", bold), ("italic", italic), ("strike", strike)] {
                if *on {
                    o.insert(k.into(), true.into());
                }
            }
            if let Some(c) = color {
                let c = match c {
                    Color::Default => "default",
                    Color::Grey => "grey",
                    Color::Blue => "blue",
                    Color::Red => "red",
                };
                o.insert("color".into(), c.into());
            }
            Value::Object(o)
        }
    }
}

fn button_json(b: &Button, sign: &mut dyn FnMut(&str, &str, &str) -> String) -> Value {
    let style = match b.style {
        Style::Default => "default",
        Style::Primary => "primary",
        Style::Danger => "danger",
    };
    let (kind, name, value) = match &b.action {
        Action::OpenInappBrowser(u) => ("open_inapp_browser", None, u.clone()),
        Action::OpenSystemBrowser(u) => ("open_system_browser", None, u.clone()),
        Action::OpenExternalApp(u) => ("open_external_app", None, u.clone()),
        Action::Submit { name, value } => ("submit_action", Some(name), sign(name, &b.text, value)),
        Action::CallModal(v) => ("call_modal", None, v.clone()),
    };
    let mut o = json!({"type": "button", "text": b.text, "style": style, "action_type": kind,
        "value": value});
    if let Some(n) = name {
        o["action_name"] = n.clone().into();
    }
    o
}

mod check;
pub use check::{
    Card, Problem, check_button, describe, is_image_url, is_web_url, parse_card, parse_stored,
    to_stored,
};

#[cfg(test)]
mod tests;
