//! Reading Block Kit from JSON: every field and limit checked, each problem named by its path.

use serde_json::{Map, Value};

use super::*;

/// At most this many problems are reported at once.
const MAX_PROBLEMS: usize = 10;

/// One problem with a block, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found (at most ten), joined for an error message.
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A Block Kit message as a host passes it: an array of blocks, or an object with `blocks`
/// and optionally `text`.
pub struct Card {
    pub blocks: Vec<Block>,
    pub text: Option<String>,
}

pub fn parse_card(json: &str) -> Result<Card, Vec<Problem>> {
    let one = |m: &str| {
        vec![Problem {
            path: "blocks".into(),
            message: m.into(),
        }]
    };
    let v: Value = serde_json::from_str(json).map_err(|e| one(&format!("not JSON: {e}")))?;
    let (list, text) = match v {
        Value::Array(a) => (a, None),
        Value::Object(mut o) => {
            let text = match o.remove("text") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(_) => return Err(one("`text` is not a string")),
            };
            match o.remove("blocks") {
                Some(Value::Array(a)) => (a, text),
                _ => return Err(one("an object needs a `blocks` array")),
            }
        }
        _ => return Err(one("expected an array of blocks or {\"blocks\": [...]}")),
    };
    if list.is_empty() {
        return Err(one("there are no blocks"));
    }
    if list.len() > MAX_BLOCKS {
        return Err(one(&format!(
            "{} blocks; one message takes at most {MAX_BLOCKS}",
            list.len()
        )));
    }
    let blocks = Checker::default().blocks(&list)?;
    Ok(Card { blocks, text })
}

/// Blocks as the plugin stored them (already checked when the message was accepted).
pub fn parse_stored(json: &str) -> Result<Vec<Block>, String> {
    let list: Vec<Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let c = Checker {
        modal_ok: true,
        ..Checker::default()
    };
    c.blocks(&list).map_err(|p| describe(&p))
}

/// Blocks in the form the plugin stores them: submit values unsigned.
pub fn to_stored(blocks: &[Block]) -> String {
    let mut keep = |_: &str, _: &str, v: &str| v.to_owned();
    Value::Array(blocks.iter().map(|b| b.to_json(&mut keep)).collect()).to_string()
}

/// Checks a button as a host gives it (not inside blocks): the same rules, under `path`.
pub fn check_button(path: &str, b: &Button) -> Vec<Problem> {
    let mut c = Checker::default();
    c.len(path, "text", &b.text, 1, MAX_BUTTON_CHARS);
    if let Action::Submit { name, value } = &b.action {
        c.submit(path, name, value);
    }
    c.problems
}

pub fn is_web_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control()))
}

/// An http(s) URL whose path ends in an image format KakaoWork's `image_link` block shows.
pub fn is_image_url(s: &str) -> bool {
    if !is_web_url(s) {
        return false;
    }
    let path = s.split(['?', '#']).next().unwrap_or("");
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    let ext = after_host.rsplit_once('.').map_or("", |(_, e)| e);
    ["png", "jpg", "jpeg", "gif", "webp", "bmp"]
        .iter()
        .any(|k| ext.eq_ignore_ascii_case(k))
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    /// The stored form may hold the plugin's own modal button.
    modal_ok: bool,
}

impl Checker {
    /// Every block of `list`, or every problem found in them.
    fn blocks(mut self, list: &[Value]) -> Result<Vec<Block>, Vec<Problem>> {
        let blocks = list
            .iter()
            .enumerate()
            .filter_map(|(i, b)| self.block(&format!("blocks[{i}]"), b))
            .collect();
        if self.problems.is_empty() {
            Ok(blocks)
        } else {
            Err(self.problems)
        }
    }

    fn fail(&mut self, path: &str, message: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                path: path.to_owned(),
                message: message.into(),
            });
        }
    }

    fn len(&mut self, path: &str, key: &str, s: &str, min: usize, max: usize) {
        let n = s.chars().count();
        if n < min {
            self.fail(&format!("{path}.{key}"), "must not be empty");
        } else if n > max {
            self.fail(
                &format!("{path}.{key}"),
                format!("over {max} characters ({n})"),
            );
        }
    }

    fn string(&mut self, path: &str, o: &Map<String, Value>, key: &str) -> Option<String> {
        match o.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => {
                self.fail(&format!("{path}.{key}"), "is missing");
                None
            }
            Some(_) => {
                self.fail(&format!("{path}.{key}"), "is not a string");
                None
            }
        }
    }

    fn flag(&mut self, path: &str, o: &Map<String, Value>, key: &str) -> bool {
        match o.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.fail(&format!("{path}.{key}"), "is not true or false");
                false
            }
        }
    }

    /// An optional enum field: `None` when absent, else the index of its value in `allowed`.
    fn choice(
        &mut self,
        path: &str,
        o: &Map<String, Value>,
        key: &str,
        allowed: &[&str],
    ) -> Option<usize> {
        let v = o.get(key).filter(|v| !v.is_null())?;
        let found = v
            .as_str()
            .and_then(|s| allowed.iter().position(|a| *a == s));
        if found.is_none() {
            self.fail(
                &format!("{path}.{key}"),
                format!("must be one of {}", allowed.join(", ")),
            );
        }
        found
    }

    fn object<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Map<String, Value>> {
        let o = v.as_object();
        if o.is_none() {
            self.fail(path, "is not an object");
        }
        o
    }

    fn url(&mut self, path: &str, url: &str) {
        if !is_web_url(url) {
            self.fail(path, "is not an http(s) URL");
        }
    }

    fn submit(&mut self, path: &str, name: &str, value: &str) {
        let ok_name = (1..=40).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok_name {
            self.fail(
                &format!("{path}.action_name"),
                "must be 1-40 of a-z, A-Z, 0-9, _, -, .",
            );
        }
        if value.is_empty() || value.len() > 200 {
            self.fail(&format!("{path}.value"), "must be 1-200 bytes");
        } else if value.contains('|') || value.chars().any(char::is_control) {
            self.fail(
                &format!("{path}.value"),
                "must not hold `|` or control characters",
            );
        }
    }

    fn text(&mut self, path: &str, v: &Value, max: usize) -> Option<Text> {
        let o = self.object(path, v)?;
        if o.get("type").and_then(Value::as_str) != Some("text") {
            self.fail(&format!("{path}.type"), "must be `text`");
        }
        let text = self.string(path, o, "text")?;
        self.len(path, "text", &text, 1, max);
        let markdown = self.flag(path, o, "markdown");
        let mut inlines = vec![];
        match o.get("inlines") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(inline) = self.inline(&format!("{path}.inlines[{i}]"), item) {
                        inlines.push(inline);
                    }
                }
            }
            Some(_) => self.fail(&format!("{path}.inlines"), "is not a list"),
        }
        if markdown && !inlines.is_empty() {
            self.fail(
                &format!("{path}.markdown"),
                "cannot be combined with inlines",
            );
        }
        let t = Text {
            text,
            markdown,
            inlines,
        };
        let n = t.shown().chars().count();
        if !t.inlines.is_empty() && n > max {
            self.fail(
                &format!("{path}.inlines"),
                format!("their texts are over {max} characters ({n})"),
            );
        }
        Some(t)
    }

    fn inline(&mut self, path: &str, v: &Value) -> Option<Inline> {
        let o = self.object(path, v)?;
        let text = self.string(path, o, "text")?;
        if text.is_empty() {
            self.fail(&format!("{path}.text"), "must not be empty");
        }
        match o.get("type").and_then(Value::as_str) {
            Some("link") => {
                let url = self.string(path, o, "url")?;
                self.url(&format!("{path}.url"), &url);
                Some(Inline::Link { text, url })
            }
            Some("styled") => {
                let color = self
                    .choice(path, o, "color", &["default", "grey", "blue", "red"])
                    .map(|i| [Color::Default, Color::Grey, Color::Blue, Color::Red][i]);
                Some(Inline::Styled {
                    bold: self.flag(path, o, "bold"),
                    italic: self.flag(path, o, "italic"),
                    strike: self.flag(path, o, "strike"),
                    color,
                    text,
                })
            }
            _ => {
                self.fail(&format!("{path}.type"), "must be `styled` or `link`");
                None
            }
        }
    }

    fn image(&mut self, path: &str, v: &Value) -> Option<String> {
        let o = self.object(path, v)?;
        if o.get("type").and_then(Value::as_str) != Some("image_link") {
            self.fail(&format!("{path}.type"), "must be `image_link`");
        }
        let url = self.string(path, o, "url")?;
        self.url(&format!("{path}.url"), &url);
        Some(url)
    }

    fn button(&mut self, path: &str, o: &Map<String, Value>) -> Option<Button> {
        let text = self.string(path, o, "text")?;
        self.len(path, "text", &text, 1, MAX_BUTTON_CHARS);
        let style = self
            .choice(path, o, "style", &["default", "primary", "danger"])
            .map_or(Style::Default, |i| {
                [Style::Default, Style::Primary, Style::Danger][i]
            });
        // The new form (`action` object) or the legacy flat one.
        let (kind, name, value) = match o.get("action") {
            Some(Value::Object(a)) => (a.get("type"), a.get("name"), a.get("value")),
            Some(_) => {
                self.fail(&format!("{path}.action"), "is not an object");
                return None;
            }
            None => (o.get("action_type"), o.get("action_name"), o.get("value")),
        };
        let value = value.and_then(Value::as_str).unwrap_or("").to_owned();
        let name = name.and_then(Value::as_str).unwrap_or("").to_owned();
        let action = match kind.and_then(Value::as_str) {
            Some(k @ ("open_inapp_browser" | "open_system_browser")) => {
                self.url(&format!("{path}.value"), &value);
                if k == "open_inapp_browser" {
                    Action::OpenInappBrowser(value)
                } else {
                    Action::OpenSystemBrowser(value)
                }
            }
            Some("open_external_app") => {
                if value.is_empty() {
                    self.fail(&format!("{path}.value"), "must not be empty");
                }
                Action::OpenExternalApp(value)
            }
            Some("submit_action") => {
                self.submit(path, &name, &value);
                Action::Submit { name, value }
            }
            Some("call_modal") if self.modal_ok => Action::CallModal(value),
            Some("call_modal") => {
                self.fail(
                    &format!("{path}.action_type"),
                    "call_modal opens a modal this plugin does not serve; use submit_action",
                );
                return None;
            }
            _ => {
                self.fail(
                    &format!("{path}.action_type"),
                    "must be open_inapp_browser, open_system_browser, open_external_app or submit_action",
                );
                return None;
            }
        };
        Some(Button {
            text,
            style,
            action,
        })
    }

    fn block(&mut self, path: &str, v: &Value) -> Option<Block> {
        let o = self.object(path, v)?;
        let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
        Some(match kind {
            "text" => Block::Text(self.text(path, v, MAX_TEXT_CHARS)?),
            "image_link" => Block::ImageLink(self.image(path, v)?),
            "button" => Block::Button(self.button(path, o)?),
            "divider" => Block::Divider,
            "header" => self.header(path, o)?,
            "action" => self.action_row(path, o)?,
            "description" => self.description(path, o)?,
            "section" | "context" => self.content_with_image(path, o, kind)?,
            other => {
                self.fail(
                    &format!("{path}.type"),
                    format!(
                        "`{other}` is not a message block (text, image_link, button, divider, header, action, description, section, context)"
                    ),
                );
                return None;
            }
        })
    }

    /// A `header` block: a short title line in one of three colours.
    fn header(&mut self, path: &str, o: &Map<String, Value>) -> Option<Block> {
        let text = self.string(path, o, "text")?;
        self.len(path, "text", &text, 1, MAX_HEADER_CHARS);
        let style = self
            .choice(path, o, "style", &["blue", "red", "yellow"])
            .map_or(HeaderStyle::Blue, |i| {
                [HeaderStyle::Blue, HeaderStyle::Red, HeaderStyle::Yellow][i]
            });
        Some(Block::Header { text, style })
    }

    /// An `action` block: one row of buttons, each checked like a lone button.
    fn action_row(&mut self, path: &str, o: &Map<String, Value>) -> Option<Block> {
        let Some(Value::Array(items)) = o.get("elements") else {
            self.fail(&format!("{path}.elements"), "is not a list of buttons");
            return None;
        };
        if items.is_empty() || items.len() > MAX_ROW_BUTTONS {
            self.fail(
                &format!("{path}.elements"),
                format!(
                    "holds {} buttons; a row takes 1 to {MAX_ROW_BUTTONS}",
                    items.len()
                ),
            );
        }
        let mut buttons = vec![];
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}.elements[{i}]");
            let Some(b) = self.object(&p, item) else {
                continue;
            };
            if b.get("type").and_then(Value::as_str) != Some("button") {
                self.fail(&format!("{p}.type"), "must be `button`");
                continue;
            }
            buttons.extend(self.button(&p, b));
        }
        Some(Block::Action(buttons))
    }

    /// A `description` block: a term and its text, the term optionally accented.
    fn description(&mut self, path: &str, o: &Map<String, Value>) -> Option<Block> {
        let term = self.string(path, o, "term")?;
        self.len(path, "term", &term, 1, MAX_TERM_CHARS);
        let content = self.text(
            &format!("{path}.content"),
            o.get("content").unwrap_or(&Value::Null),
            // KakaoWork shows longer descriptions; a message's text bounds them.
            MAX_MESSAGE_TEXT_CHARS,
        )?;
        Some(Block::Description {
            term,
            content,
            accent: self.flag(path, o, "accent"),
        })
    }

    /// A `section` (text with an accessory image) or `context` (text with a small
    /// image) block: the two differ only in the image's key and the variant built.
    fn content_with_image(
        &mut self,
        path: &str,
        o: &Map<String, Value>,
        kind: &str,
    ) -> Option<Block> {
        let content = self.text(
            &format!("{path}.content"),
            o.get("content").unwrap_or(&Value::Null),
            MAX_TEXT_CHARS,
        )?;
        let key = if kind == "section" {
            "accessory"
        } else {
            "image"
        };
        let image = self.image(&format!("{path}.{key}"), o.get(key).unwrap_or(&Value::Null))?;
        Some(if kind == "section" {
            Block::Section {
                content,
                accessory: image,
            }
        } else {
            Block::Context { content, image }
        })
    }
}
