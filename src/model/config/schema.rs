//! The configuration model as data: every key of `channels.kakao`, the JSON its value may be,
//! and what OpenClaw shows of it. The OpenClaw manifest's `channelConfigs.kakao` (the schema
//! `openclaw config` validates against, and `uiHints`) is generated from it, so the manifest
//! cannot restate the parser's keys or values differently. Native only: the component never
//! needs it.

use serde_json::{Map, Value, json};

use super::fields::TOP_ONLY_KEYS;
use super::model::*;

/// One key of the section (of its top, or of the top and every account).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: &'static str,
    pub shape: Shape,
    /// Only at the top of the section (`TOP_ONLY_KEYS`), not in an account.
    pub top_only: bool,
    /// What the parser assumes when the key is absent. Not written into the schema: the
    /// hand-written schema had none, and a validator that fills in defaults would then write
    /// them into users' configurations.
    pub default: Option<Value>,
    pub description: Option<&'static str>,
    /// OpenClaw's label for the key, in `uiHints`.
    pub label: Option<&'static str>,
}

impl Key {
    fn new(name: &'static str, shape: Shape) -> Self {
        Self {
            name,
            shape,
            top_only: TOP_ONLY_KEYS.contains(&name),
            default: None,
            description: None,
            label: None,
        }
    }

    fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }

    fn describe(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }

    fn label(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
    }

    /// Hidden in every view of the configuration (`SECRET_KEYS`).
    pub fn secret(&self) -> bool {
        SECRET_KEYS.contains(&self.name)
    }

    fn schema(&self) -> Value {
        let mut schema = self.shape.schema();
        if let (Some(d), Value::Object(o)) = (self.description, &mut schema) {
            o.insert("description".into(), d.into());
        }
        schema
    }
}

/// The JSON a key's value may be.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Bool,
    Text {
        min_len: Option<u64>,
        max_len: Option<u64>,
        pattern: Option<String>,
    },
    /// A whole number in `min..=max`.
    Int {
        min: u64,
        max: u64,
    },
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A list of KakaoWork user ids, as strings or numbers (`allowFrom`).
    UserIds,
    /// `false`, or the shape given.
    OffOr(Box<Shape>),
    /// An object with these keys only, none required.
    Object(Vec<(&'static str, Shape)>),
    /// The `accounts` object: each value an account, with the account keys.
    Accounts,
}

impl Shape {
    fn text() -> Self {
        Self::Text {
            min_len: None,
            max_len: None,
            pattern: None,
        }
    }

    fn non_empty() -> Self {
        Self::Text {
            min_len: Some(1),
            max_len: None,
            pattern: None,
        }
    }

    fn matching(pattern: impl Into<String>) -> Self {
        Self::Text {
            min_len: None,
            max_len: None,
            pattern: Some(pattern.into()),
        }
    }

    /// Its JSON schema (draft 07).
    pub fn schema(&self) -> Value {
        match self {
            Self::Bool => json!({ "type": "boolean" }),
            Self::Text {
                min_len,
                max_len,
                pattern,
            } => {
                let mut s = Map::new();
                s.insert("type".into(), "string".into());
                if let Some(n) = min_len {
                    s.insert("minLength".into(), (*n).into());
                }
                if let Some(n) = max_len {
                    s.insert("maxLength".into(), (*n).into());
                }
                if let Some(p) = pattern {
                    s.insert("pattern".into(), p.as_str().into());
                }
                Value::Object(s)
            }
            Self::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
            Self::OneOf(names) => json!({ "type": "string", "enum": names }),
            Self::UserIds => json!({
                "type": "array",
                "items": { "anyOf": [
                    { "type": "string", "minLength": 1 },
                    { "type": "integer", "minimum": 0 },
                ] },
            }),
            Self::OffOr(shape) => json!({ "anyOf": [{ "const": false }, shape.schema()] }),
            Self::Object(keys) => json!({
                "type": "object",
                "additionalProperties": false,
                "properties": keys
                    .iter()
                    .map(|(name, shape)| ((*name).to_owned(), shape.schema()))
                    .collect::<Map<_, _>>(),
            }),
            Self::Accounts => json!({
                "type": "object",
                // Account ids are cut to 64 characters (`normalize_account_id`).
                "propertyNames": { "pattern": "^.{1,64}$" },
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": properties(keys().iter().filter(|k| !k.top_only)),
                },
            }),
        }
    }
}

/// Every key of the section: the account keys (`ACCOUNT_KEYS`' order), then the top-only ones.
pub fn keys() -> Vec<Key> {
    let mut keys = account_keys();
    keys.extend(top_only_keys());
    keys
}

fn account_keys() -> Vec<Key> {
    let url = || Shape::matching("^https?://");
    let rate_limit = Shape::Object(vec![
        (
            "requestsPerMinute",
            Shape::Int {
                min: 1,
                max: 100_000,
            },
        ),
        ("burst", Shape::Int { min: 1, max: 1000 }),
    ]);
    let reply_button = Shape::OffOr(Box::new(Shape::Object(vec![(
        "label",
        Shape::Text {
            min_len: Some(1),
            // KakaoWork's limit on a button's text.
            max_len: Some(20),
            pattern: None,
        },
    )])));
    vec![
        Key::new("enabled", Shape::Bool).default(json!(true)),
        Key::new("name", Shape::text()),
        Key::new("appKey", Shape::non_empty()).label("App Key"),
        Key::new("keyFile", Shape::non_empty()),
        Key::new("callbackUrl", url()),
        Key::new("callbackPath", Shape::matching("^/")),
        Key::new("dmPolicy", Shape::OneOf(&DmPolicy::NAMES))
            .default(DmPolicy::Pairing.as_str().into()),
        Key::new("allowFrom", Shape::UserIds).default(json!([])),
        Key::new("proxy", url()),
        Key::new("apiBase", url()).default(DEFAULT_API_BASE.into()),
        Key::new("rateLimit", rate_limit).default(json!({
            "requestsPerMinute": DEFAULT_REQUESTS_PER_MINUTE,
            "burst": DEFAULT_BURST,
        })),
        Key::new(
            "textChunkLimit",
            Shape::Int {
                min: 16,
                max: MAX_TEXT_CHUNK_LIMIT.into(),
            },
        )
        .default(DEFAULT_TEXT_CHUNK_LIMIT.into()),
        Key::new("delivery", Shape::OneOf(&Delivery::NAMES))
            .default(Delivery::NAMES[Delivery::default() as usize].into()),
        Key::new("groupPolicy", Shape::OneOf(&GroupPolicy::NAMES))
            .default(GroupPolicy::NAMES[GroupPolicy::default() as usize].into()),
        Key::new("groupAllowFrom", Shape::UserIds),
        Key::new(
            "callbackSecret",
            Shape::matching(format!("^[A-Za-z0-9_-]{{{MIN_SECRET_CHARS},}}$")),
        )
        .label("Callback secret"),
        Key::new("replyButton", reply_button).default(json!(true)),
        Key::new(UNAUTHENTICATED_OPT_OUT, Shape::Bool)
            .default(json!(false))
            .describe("Accept callbacks without a callbackSecret (closed test networks only)."),
    ]
}

fn top_only_keys() -> Vec<Key> {
    vec![
        Key::new("accounts", Shape::Accounts),
        Key::new("defaultAccount", Shape::non_empty()).default(DEFAULT_ACCOUNT_ID.into()),
        Key::new("state", Shape::matching("^rediss?://.+"))
            .label("State (Redis URL)")
            .describe("Keep the plugin's state (rate budget, send ledgers, caches) in Redis, redis://host:port/db (rediss:// for TLS; user:password@ before the host when it asks for them), shared with every gateway and kakaowork-host pointing at it; default: KAKAOWORK_STATE, else SQLite in OpenClaw's state directory"),
        Key::new("stateCa", Shape::non_empty())
            .describe("The PEM file of the CA that signed a rediss:// state's server certificate; default: KAKAOWORK_STATE_CA, else the system's CAs"),
        // The default (4 instances) is the hosts', which the guest does not know.
        Key::new("workers", Shape::Int { min: 1, max: MAX_WORKERS })
            .describe("Plugin instances the gateway runs (default 4): a callback never waits on a KakaoWork call held by another instance"),
    ]
}

fn properties<'a>(keys: impl Iterator<Item = &'a Key>) -> Map<String, Value> {
    keys.map(|k| (k.name.to_owned(), k.schema())).collect()
}

/// `uiHints`: each labelled key, at the top and (unless top-only) as `accounts.*.<key>`.
fn ui_hints(keys: &[Key]) -> Map<String, Value> {
    let mut hints = Map::new();
    for k in keys {
        let Some(label) = k.label else { continue };
        let mut hint = json!({ "label": label });
        if k.secret() {
            hint["sensitive"] = true.into();
        }
        if !k.top_only {
            hints.insert(format!("accounts.*.{}", k.name), hint.clone());
        }
        hints.insert(k.name.to_owned(), hint);
    }
    hints
}

/// The manifest's `channelConfigs.kakao`: the section's schema and `uiHints`.
pub fn channel_config() -> Value {
    let keys = keys();
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": false,
    });
    schema["properties"] = properties(keys.iter()).into();
    json!({
        "label": "KakaoWork",
        "description": "KakaoWork bots (the channels.kakao section; see the plugin's README).",
        "schema": schema,
        "uiHints": ui_hints(&keys),
    })
}

/// The OpenClaw manifest: `template` (the package's own fields) with the generated
/// `channelConfigs.kakao`.
pub fn manifest(template: &Map<String, Value>) -> Value {
    let mut manifest = template.clone();
    manifest.insert(
        "channelConfigs".into(),
        json!({ "kakao": channel_config() }),
    );
    Value::Object(manifest)
}

/// The manifest as the file holds it: two-space indents and a final newline, so that the
/// generated text and the committed one compare byte for byte.
pub fn manifest_text(template: &Map<String, Value>) -> String {
    // Keys come out sorted (serde_json's map without `preserve_order`): the same text each time.
    // `{:#}` is serde_json's pretty form, two-space indents.
    format!("{:#}\n", manifest(template))
}

#[cfg(test)]
mod tests;
