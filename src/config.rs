//! The `channels.kakao` configuration: parsing, validation with JSON paths, and account
//! resolution (base fields, `accounts.<id>` overrides, `defaultAccount`).
//!
//! The host uses this module too (natively) to find each account's credential source and API
//! origin, so that host and guest cannot disagree about which accounts exist.

use serde_json::{Map, Value};

use crate::limiter::RateConfig;
use std::fmt;
use thiserror::Error;

/// Where the section lives in an OpenClaw/Moltbot config; issue paths start here.
pub const SECTION_PATH: &str = "channels.kakao";
pub const DEFAULT_API_BASE: &str = "https://api.kakaowork.com";
pub const DEFAULT_ACCOUNT_ID: &str = "default";
/// Read by the host for the default account only.
pub const APP_KEY_ENV: &str = "KAKAOWORK_APP_KEY";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmPolicy {
    #[default]
    Pairing,
    Allowlist,
    Open,
    Disabled,
}

impl DmPolicy {
    pub const NAMES: [&'static str; 4] = ["pairing", "allowlist", "open", "disabled"];

    pub const ALL: [Self; 4] = [Self::Pairing, Self::Allowlist, Self::Open, Self::Disabled];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    Config,
    KeyFile,
    Env,
    None,
}

impl CredentialSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::KeyFile => "keyFile",
            Self::Env => "env",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.path, self.message, self.fix)
    }
}

/// One resolved account: base fields merged with its `accounts.<id>` overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Normalised id (`[a-z0-9_-]`, at most 64 characters).
    pub id: String,
    /// The key as written under `accounts`, if the account was declared there.
    pub raw_key: Option<String>,
    /// JSON path of the account's own object.
    pub path: String,
    pub name: Option<String>,
    pub enabled: bool,
    /// `appKey` is present (inline or inherited from the base). Its value is the host's business.
    pub has_inline_key: bool,
    pub key_file: Option<String>,
    pub callback_url: Option<String>,
    pub callback_path: Option<String>,
    pub dm_policy: DmPolicy,
    pub allow_from: Vec<String>,
    pub proxy: Option<String>,
    /// Origin of the KakaoWork API, without a trailing slash.
    pub api_base: String,
    pub is_default: bool,
    pub rate_limit: RateConfig,
    pub text_chunk_limit: u32,
    pub delivery: Delivery,
    pub group_policy: GroupPolicy,
    /// `None`: groups use `allow_from`.
    pub group_allow_from: Option<Vec<String>>,
    /// The token KakaoWork's calls must carry (`?token=`). Without one, callbacks are refused
    /// unless `accept_unauthenticated` (the opt-out) is set.
    pub callback_secret: Option<String>,
    pub reply_button: ReplyButton,
    /// `dangerouslyAcceptUnauthenticatedCallbacks`.
    pub accept_unauthenticated: bool,
    /// Its messages carry buttons, or a callback URL or path was configured.
    pub receives_callbacks: bool,
}

impl Account {
    /// The source the host should use, in OpenClaw's precedence: inline `appKey`, then
    /// `keyFile`, then the environment variable (default account only).
    pub fn credential_plan(&self, env_has_key: bool) -> CredentialSource {
        if self.has_inline_key {
            CredentialSource::Config
        } else if self.key_file.is_some() {
            CredentialSource::KeyFile
        } else if self.is_default && env_has_key {
            CredentialSource::Env
        } else {
            CredentialSource::None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    pub enabled: bool,
    /// Sorted by id.
    pub accounts: Vec<Account>,
    pub default_account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    #[error("unknown account `{0}`; configured accounts: {1}")]
    Unknown(String, String),
}

impl ChannelConfig {
    /// The account a call uses: the one named, else the default account.
    pub fn account(&self, id: Option<&str>) -> Result<&Account, AccountError> {
        let wanted = match id {
            Some(raw) => normalize_account_id(raw),
            None => self.default_account.clone(),
        };
        self.accounts
            .iter()
            .find(|a| a.id == wanted)
            .ok_or_else(|| {
                AccountError::Unknown(
                    id.unwrap_or(&wanted).to_owned(),
                    self.accounts
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub config: ChannelConfig,
    pub warnings: Vec<ConfigIssue>,
}

/// OpenClaw's account id rule: lower-case, `[a-z0-9_-]`, 1 to 64 characters.
pub fn normalize_account_id(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// Strip `kakao:`, `kakaowork:`, `kw:` and whitespace from an allowlist entry.
pub fn normalize_allow_entry(raw: &str) -> String {
    let mut s = raw.trim();
    for p in ["kakaowork:", "kakao:", "kw:"] {
        if s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p) {
            s = s[p.len()..].trim();
            break;
        }
    }
    s.to_owned()
}

/// `*`, or a KakaoWork user id (digits; at most 20, a u64).
fn is_allow_entry(entry: &str) -> bool {
    entry == "*"
        || (!entry.is_empty()
            && entry.len() <= 20
            && entry.parse::<u64>().is_ok()
            && entry.bytes().all(|b| b.is_ascii_digit()))
}

fn child(path: &str, key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

/// Every key an account (or the section's base) may have; the OpenClaw manifest's schema lists the same.
pub const ACCOUNT_KEYS: [&str; 18] = [
    "enabled",
    "name",
    "appKey",
    "keyFile",
    "callbackUrl",
    "callbackPath",
    "dmPolicy",
    "allowFrom",
    "proxy",
    "apiBase",
    "rateLimit",
    "textChunkLimit",
    "delivery",
    "groupPolicy",
    "groupAllowFrom",
    "callbackSecret",
    "replyButton",
    UNAUTHENTICATED_OPT_OUT,
];

/// The opt-out from callback authentication: long and alarming, so that nobody sets it by
/// accident or copies it into a production config without reading it.
pub const UNAUTHENTICATED_OPT_OUT: &str = "dangerouslyAcceptUnauthenticatedCallbacks";

/// The Reply button added to agent messages (opens the reply modal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyButton {
    pub enabled: bool,
    pub label: String,
}

impl Default for ReplyButton {
    fn default() -> Self {
        Self {
            enabled: true,
            label: "답장하기".into(),
        }
    }
}

/// A callback secret must carry at least 128 bits: 22 URL-safe base64 characters.
pub const MIN_SECRET_CHARS: usize = 22;

/// Who may use the bot from group conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupPolicy {
    Open,
    /// Senders in `groupAllowFrom` (else `allowFrom`) or approved by pairing.
    #[default]
    Allowlist,
    Disabled,
}

/// KakaoWork's reported cap on message text (reference notes, 4.3).
pub const MAX_TEXT_CHUNK_LIMIT: u32 = 3000;
/// Below the cap, with room to spare.
pub const DEFAULT_TEXT_CHUNK_LIMIT: u32 = 2000;

/// What happens to a chunk whose outcome is unknown (the request left, no answer came).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Reported as ambiguous and never resent: no duplicates, possibly a lost chunk.
    #[default]
    AtMostOnce,
    /// Resent: nothing lost, possibly a duplicate.
    AtLeastOnce,
}
const TOP_ONLY_KEYS: [&str; 2] = ["accounts", "defaultAccount"];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `scheme://host[:port]` split, for the few URL checks the guest needs.
pub fn split_origin(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(']') || authority.starts_with('[') => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                if authority.starts_with('[') && authority.ends_with(']') {
                    authority
                } else {
                    return None;
                }
            } else {
                h
            }
        }
        _ => authority,
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, path))
}

/// `localhost`, `[::1]` or an IPv4 address in 127.0.0.0/8: a host name that merely starts
/// with `127.` (`127.evil.example`) is somebody else's machine.
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    let octets: Vec<&str> = host.split('.').collect();
    octets.len() == 4
        && octets[0] == "127"
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 3 && o.parse::<u8>().is_ok())
}

/// Fields of one object (the base or one account), as found.
#[derive(Debug, Default, Clone)]
struct Fields {
    enabled: Option<bool>,
    name: Option<String>,
    app_key: bool,
    key_file: Option<String>,
    callback_url: Option<String>,
    callback_path: Option<String>,
    dm_policy: Option<DmPolicy>,
    allow_from: Option<Vec<String>>,
    proxy: Option<String>,
    api_base: Option<String>,
    rpm: Option<u32>,
    burst: Option<u32>,
    text_chunk_limit: Option<u32>,
    delivery: Option<Delivery>,
    group_policy: Option<GroupPolicy>,
    group_allow_from: Option<Vec<String>>,
    callback_secret: Option<String>,
    reply_button: Option<ReplyButton>,
    accept_unauthenticated: Option<bool>,
}

impl Fields {
    fn merged_over(self, base: &Fields) -> Fields {
        Fields {
            enabled: Some(base.enabled != Some(false) && self.enabled != Some(false)),
            name: self.name.or_else(|| base.name.clone()),
            app_key: self.app_key || base.app_key,
            key_file: self.key_file.or_else(|| base.key_file.clone()),
            callback_url: self.callback_url.or_else(|| base.callback_url.clone()),
            callback_path: self.callback_path.or_else(|| base.callback_path.clone()),
            dm_policy: self.dm_policy.or(base.dm_policy),
            allow_from: self.allow_from.or_else(|| base.allow_from.clone()),
            proxy: self.proxy.or_else(|| base.proxy.clone()),
            api_base: self.api_base.or_else(|| base.api_base.clone()),
            rpm: self.rpm.or(base.rpm),
            burst: self.burst.or(base.burst),
            text_chunk_limit: self.text_chunk_limit.or(base.text_chunk_limit),
            delivery: self.delivery.or(base.delivery),
            group_policy: self.group_policy.or(base.group_policy),
            group_allow_from: self
                .group_allow_from
                .or_else(|| base.group_allow_from.clone()),
            callback_secret: self
                .callback_secret
                .or_else(|| base.callback_secret.clone()),
            reply_button: self.reply_button.or_else(|| base.reply_button.clone()),
            accept_unauthenticated: self.accept_unauthenticated.or(base.accept_unauthenticated),
        }
    }
}

struct Checker {
    errors: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
}

impl Checker {
    fn error(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigIssue {
            path: path.to_owned(),
            message: message.into(),
            fix: fix.into(),
        });
    }
    fn warn(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.warnings.push(ConfigIssue {
            path: path.to_owned(),
            message: message.into(),
            fix: fix.into(),
        });
    }

    fn string(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<String> {
        match obj.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::String(_) => {
                self.error(
                    &child(path, key),
                    "is empty",
                    format!("give `{key}` a value or remove it"),
                );
                None
            }
            other => {
                self.error(
                    &child(path, key),
                    format!("must be a string, found {}", type_name(other)),
                    format!("write `{key}` as a quoted string"),
                );
                None
            }
        }
    }

    fn int(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        min: u32,
        max: u32,
    ) -> Option<u32> {
        let v = obj.get(key)?;
        match v.as_u64() {
            Some(n) if (min as u64..=max as u64).contains(&n) => Some(n as u32),
            _ => {
                self.error(
                    &child(path, key),
                    format!("must be a whole number from {min} to {max}, found {v}"),
                    format!("set `{key}` between {min} and {max}"),
                );
                None
            }
        }
    }

    /// The index in `names` of the string at `key`; anything else is an error naming them all.
    /// Not generic over the enum: one copy of this code in the component, not three.
    fn one_of(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        what: &str,
        names: &[&str],
    ) -> Option<usize> {
        let v = obj.get(key)?;
        let problem = match v.as_str() {
            Some(s) => match names.iter().position(|name| *name == s) {
                Some(i) => return Some(i),
                None => format!("unknown {what} `{s}`"),
            },
            None => format!("must be a string, found {}", type_name(v)),
        };
        self.error(
            &child(path, key),
            problem,
            format!("use one of {}", names.join(", ")),
        );
        None
    }

    fn allow_list(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<Vec<String>> {
        let v = obj.get(key)?;
        let p = child(path, key);
        let Value::Array(items) = v else {
            self.error(
                &p,
                format!("must be a list, found {}", type_name(v)),
                format!("write it as a list, e.g. \"{key}\": [\"12345\"]"),
            );
            return None;
        };
        let mut list = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if is_allow_entry(&normalize_allow_entry(s)) => {
                    list.push(normalize_allow_entry(s))
                }
                Value::Number(n) if n.is_u64() => list.push(n.to_string()),
                other => self.error(
                    &format!("{p}[{i}]"),
                    format!(
                        "must be a KakaoWork user id or \"*\", found {}",
                        match other {
                            Value::String(s) if s.trim().is_empty() => "an empty string".to_owned(),
                            Value::String(s) => format!("`{s}`"),
                            Value::Number(_) => "a number that is not a user id".to_owned(),
                            o => type_name(o).to_owned(),
                        }
                    ),
                    "write user ids like \"12345\" or 12345, or \"*\" for everyone",
                ),
            }
        }
        Some(list)
    }

    fn fields(&mut self, obj: &Map<String, Value>, path: &str, top: bool) -> Fields {
        for key in obj.keys() {
            let known = ACCOUNT_KEYS.contains(&key.as_str());
            if !known && TOP_ONLY_KEYS.contains(&key.as_str()) {
                if !top {
                    self.error(
                        &child(path, key),
                        format!("`{key}` is only allowed at the top of {SECTION_PATH}"),
                        format!("move `{key}` to {SECTION_PATH}"),
                    );
                }
            } else if !known {
                self.warn(
                    &child(path, key),
                    format!("unknown key `{key}` is ignored"),
                    format!(
                        "remove it or check its spelling; known keys: {}",
                        ACCOUNT_KEYS.join(", ")
                    ),
                );
            }
        }
        let mut f = Fields::default();
        if let Some(v) = obj.get("enabled") {
            match v {
                Value::Bool(b) => f.enabled = Some(*b),
                other => self.error(
                    &child(path, "enabled"),
                    format!("must be true or false, found {}", type_name(other)),
                    "write `enabled: true` or `enabled: false`",
                ),
            }
        }
        f.name = self.string(obj, path, "name");
        if let Some(v) = obj.get("appKey") {
            match v {
                Value::String(s) if !s.trim().is_empty() => f.app_key = true,
                Value::String(_) => self.error(
                    &child(path, "appKey"),
                    "is empty",
                    "paste the bot's App Key from the KakaoWork admin console, or remove the key",
                ),
                // The host replaces values by this marker before the guest sees the config.
                Value::Bool(true) => f.app_key = true,
                other => self.error(
                    &child(path, "appKey"),
                    format!("must be a string, found {}", type_name(other)),
                    "write the App Key as a quoted string",
                ),
            }
        }
        f.key_file = self.string(obj, path, "keyFile");
        f.callback_url = self.string(obj, path, "callbackUrl");
        if let Some(url) = &f.callback_url {
            match split_origin(url) {
                Some(("https", _, _)) => {}
                Some(_) => self.error(
                    &child(path, "callbackUrl"),
                    format!("`{url}` is not HTTPS; KakaoWork only calls HTTPS callback URLs"),
                    "use an https:// URL (a TLS-terminating proxy or tunnel in front of the gateway)",
                ),
                None => self.error(
                    &child(path, "callbackUrl"),
                    format!("`{url}` is not an absolute URL"),
                    "write it like https://your-domain.com/kakao/callback",
                ),
            }
        }
        f.callback_path = self.string(obj, path, "callbackPath");
        if let Some(p) = &f.callback_path
            && !p.starts_with('/')
        {
            self.error(
                &child(path, "callbackPath"),
                format!("`{p}` does not start with `/`"),
                format!("write it as `/{p}`"),
            );
        }
        f.dm_policy = self
            .one_of(obj, path, "dmPolicy", "policy", &DmPolicy::NAMES)
            .map(|i| DmPolicy::ALL[i]);
        f.allow_from = self.allow_list(obj, path, "allowFrom");
        f.group_allow_from = self.allow_list(obj, path, "groupAllowFrom");
        f.group_policy = self
            .one_of(
                obj,
                path,
                "groupPolicy",
                "group policy",
                &["open", "allowlist", "disabled"],
            )
            .map(|i| {
                [
                    GroupPolicy::Open,
                    GroupPolicy::Allowlist,
                    GroupPolicy::Disabled,
                ][i]
            });
        f.proxy = self.string(obj, path, "proxy");
        if let Some(proxy) = &f.proxy {
            match split_origin(proxy) {
                Some(("http" | "https", _, _)) => {}
                Some((scheme, _, _)) if scheme.starts_with("socks") => self.error(
                    &child(path, "proxy"),
                    format!("`{proxy}` is a SOCKS proxy, which the hosts cannot use"),
                    "use an HTTP proxy (http://proxy.example.com:3128), or none",
                ),
                _ => self.error(
                    &child(path, "proxy"),
                    format!("`{proxy}` is not a proxy URL"),
                    "write it like http://proxy.example.com:3128 (http or https)",
                ),
            }
        }
        if let Some(v) = obj.get("rateLimit") {
            let p = child(path, "rateLimit");
            match v {
                Value::Object(rl) => {
                    for k in rl.keys() {
                        if k != "requestsPerMinute" && k != "burst" {
                            self.warn(
                                &child(&p, k),
                                format!("unknown key `{k}` is ignored"),
                                "rateLimit takes requestsPerMinute and burst",
                            );
                        }
                    }
                    f.rpm = self.int(rl, &p, "requestsPerMinute", 1, 100_000);
                    f.burst = self.int(rl, &p, "burst", 1, 1000);
                }
                other => self.error(
                    &p,
                    format!("must be an object, found {}", type_name(other)),
                    "write it as { \"requestsPerMinute\": 200, \"burst\": 5 }",
                ),
            }
        }
        f.text_chunk_limit = self.int(obj, path, "textChunkLimit", 16, MAX_TEXT_CHUNK_LIMIT);
        f.delivery = self
            .one_of(
                obj,
                path,
                "delivery",
                "delivery mode",
                &["at-most-once", "at-least-once"],
            )
            .map(|i| [Delivery::AtMostOnce, Delivery::AtLeastOnce][i]);
        f.callback_secret = self.string(obj, path, "callbackSecret");
        if let Some(secret) = &f.callback_secret
            && (secret.len() < MIN_SECRET_CHARS
                || !secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            self.error(
                &child(path, "callbackSecret"),
                format!(
                    "must be at least {MIN_SECRET_CHARS} characters of A-Z, a-z, 0-9, `-` or `_` (128 bits or more)"
                ),
                "generate one with `kakaowork-host secret`",
            );
        }
        if let Some(v) = obj.get(UNAUTHENTICATED_OPT_OUT) {
            match v {
                Value::Bool(b) => f.accept_unauthenticated = Some(*b),
                other => self.error(
                    &child(path, UNAUTHENTICATED_OPT_OUT),
                    format!("must be true or false, found {}", type_name(other)),
                    "remove it, and set callbackSecret instead",
                ),
            }
        }
        if let Some(v) = obj.get("replyButton") {
            let p = child(path, "replyButton");
            match v {
                Value::Bool(enabled) => {
                    f.reply_button = Some(ReplyButton {
                        enabled: *enabled,
                        ..ReplyButton::default()
                    })
                }
                Value::Object(rb) => match rb.get("label") {
                    None => f.reply_button = Some(ReplyButton::default()),
                    Some(Value::String(l)) if !l.trim().is_empty() && l.chars().count() <= 20 => {
                        f.reply_button = Some(ReplyButton {
                            enabled: rb.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                            label: l.trim().to_owned(),
                        })
                    }
                    Some(_) => self.error(
                        &child(&p, "label"),
                        "must be a non-empty string of at most 20 characters (KakaoWork's button limit)",
                        "shorten the label",
                    ),
                },
                other => self.error(
                    &p,
                    format!("must be true, false or {{\"label\": ...}}, found {}", type_name(other)),
                    "write \"replyButton\": false to turn it off, or {\"label\": \"Reply\"}",
                ),
            }
        }
        f.api_base = self.string(obj, path, "apiBase");
        if let Some(base) = f.api_base.take() {
            let p = child(path, "apiBase");
            match split_origin(&base) {
                Some((scheme, host, rest)) if rest.trim_end_matches('/').is_empty() => {
                    if scheme == "https" || (scheme == "http" && is_loopback_host(host)) {
                        f.api_base = Some(base.trim_end_matches('/').to_owned());
                    } else {
                        self.error(
                            &p,
                            format!("`{base}` must use https (plain http only on loopback)"),
                            format!("use {DEFAULT_API_BASE} or remove the key"),
                        );
                    }
                }
                Some(_) => self.error(
                    &p,
                    format!("`{base}` has a path; apiBase is an origin"),
                    format!("drop the path (the plugin adds /v1/...), e.g. {DEFAULT_API_BASE}"),
                ),
                None => self.error(
                    &p,
                    format!("`{base}` is not an absolute URL"),
                    format!("use {DEFAULT_API_BASE} or remove the key"),
                ),
            }
        }
        f
    }
}

/// Parse and validate a `channels.kakao` section given as JSON text.
pub fn parse_str(json: &str) -> Result<Report, Vec<ConfigIssue>> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        vec![ConfigIssue {
            path: SECTION_PATH.into(),
            message: format!("is not valid JSON: {e}"),
            fix: "check the JSON syntax (the host converts JSON5 comments before this point)"
                .into(),
        }]
    })?;
    parse(&value)
}

/// Parse and validate a `channels.kakao` section. Every error is reported, with its path.
pub fn parse(value: &Value) -> Result<Report, Vec<ConfigIssue>> {
    let mut c = Checker {
        errors: vec![],
        warnings: vec![],
    };
    let Value::Object(top) = value else {
        return Err(vec![ConfigIssue {
            path: SECTION_PATH.into(),
            message: format!("must be an object, found {}", type_name(value)),
            fix: "write it as { \"appKey\": ..., \"dmPolicy\": ... }".into(),
        }]);
    };
    let base = c.fields(top, SECTION_PATH, true);
    let enabled = base.enabled != Some(false);

    let accounts_path = child(SECTION_PATH, "accounts");
    // (normalised id, key as written, fields); a Vec keeps the guest small.
    let mut declared: Vec<(String, String, Fields)> = Vec::new();
    match top.get("accounts") {
        None => {}
        Some(Value::Object(map)) => {
            for (raw, v) in map {
                let path = child(&accounts_path, raw);
                let id = normalize_account_id(raw);
                if id.is_empty() {
                    c.error(
                        &path,
                        "account id is empty after normalisation",
                        "name accounts with letters, digits, `_` or `-`",
                    );
                    continue;
                }
                if id != *raw {
                    c.warn(
                        &path,
                        format!("account id `{raw}` is used as `{id}`"),
                        format!("rename it to `{id}`"),
                    );
                }
                let Value::Object(obj) = v else {
                    c.error(
                        &path,
                        format!("must be an object, found {}", type_name(v)),
                        "write the account as { \"appKey\": ..., ... }",
                    );
                    continue;
                };
                let f = c.fields(obj, &path, false);
                if let Some((_, other, _)) = declared.iter().find(|d| d.0 == id) {
                    c.error(
                        &path,
                        format!("accounts `{other}` and `{raw}` both normalise to `{id}`"),
                        "rename one of them",
                    );
                    continue;
                }
                declared.push((id, raw.clone(), f));
            }
        }
        Some(other) => c.error(
            &accounts_path,
            format!("must be an object of accounts, found {}", type_name(other)),
            "write it as \"accounts\": { \"support\": { ... } }",
        ),
    }

    declared.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let has = |id: &str| declared.iter().any(|d| d.0 == id);
    let default_path = child(SECTION_PATH, "defaultAccount");
    let default_account = match top.get("defaultAccount") {
        None => None,
        Some(Value::String(s)) => {
            let id = normalize_account_id(s);
            if !declared.is_empty() && !has(&id) {
                c.error(
                    &default_path,
                    format!("names `{s}`, which is not under accounts"),
                    format!(
                        "use one of: {}",
                        declared
                            .iter()
                            .map(|d| d.0.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            Some(id)
        }
        Some(other) => {
            c.error(
                &default_path,
                format!("must be a string, found {}", type_name(other)),
                "name one of the accounts",
            );
            None
        }
    };

    let mut accounts: Vec<Account> = Vec::new();
    let default_id;
    if declared.is_empty() {
        default_id = default_account.unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_owned());
        accounts.push(build(
            default_id.clone(),
            None,
            SECTION_PATH.into(),
            base.clone(),
        ));
    } else {
        default_id = default_account
            .filter(|d| has(d))
            .or_else(|| has(DEFAULT_ACCOUNT_ID).then(|| DEFAULT_ACCOUNT_ID.to_owned()))
            .unwrap_or_else(|| declared.first().map(|d| d.0.clone()).unwrap_or_default());
        for (id, raw, f) in declared {
            let path = child(&accounts_path, &raw);
            accounts.push(build(id, Some(raw), path, f.merged_over(&base)));
        }
    }
    let mut paths: Vec<(String, String)> = Vec::new();
    for a in &mut accounts {
        let path = a
            .callback_path
            .get_or_insert_with(|| format!("/kakaowork/{}/callback", a.id))
            .clone();
        if let Some((_, other)) = paths.iter().find(|(p, _)| *p == path) {
            c.error(
                &child(&a.path, "callbackPath"),
                format!("`{path}` is also the callback path of account `{other}`"),
                "give each account its own callbackPath",
            );
        }
        paths.push((path.clone(), a.id.clone()));
        if a.callback_secret.is_none() && a.enabled {
            if a.accept_unauthenticated {
                c.warn(
                    &child(&a.path, UNAUTHENTICATED_OPT_OUT),
                    format!(
                        "account `{}` accepts callbacks without authentication: anyone who can reach {path} can act as any user",
                        a.id
                    ),
                    "set callbackSecret (`kakaowork-host secret` makes one), register the callback URL with ?token=<secret>, and remove the opt-out",
                );
            } else if a.receives_callbacks {
                c.error(
                    &child(&a.path, "callbackSecret"),
                    format!(
                        "account `{}` receives callbacks (a Reply button or a callback URL) but has no callbackSecret: anyone who reaches {path} could act as any user",
                        a.id
                    ),
                    format!(
                        "set callbackSecret (`kakaowork-host secret` makes one) and register the callback URL with ?token=<secret>; or turn the button off with \"replyButton\": false; or, on a closed test network only, set \"{UNAUTHENTICATED_OPT_OUT}\": true"
                    ),
                );
            }
        }
    }
    for a in &mut accounts {
        a.is_default = a.id == default_id;
        a.enabled &= enabled;
        if a.dm_policy == DmPolicy::Open {
            if a.allow_from.is_empty() || a.allow_from.iter().any(|e| e == "*") {
                c.warn(
                    &a.path,
                    format!(
                        "account `{}` uses dmPolicy \"open\": anyone in the workspace can talk to the agent",
                        a.id
                    ),
                    "use \"pairing\" or \"allowlist\" unless that is intended",
                );
            } else {
                c.warn(
                    &a.path,
                    format!(
                        "account `{}` uses dmPolicy \"open\" with a list: only the listed users are admitted, and pairing does not widen it",
                        a.id
                    ),
                    "add \"*\" to allowFrom for everyone, or use dmPolicy \"allowlist\"",
                );
            }
        }
        if a.dm_policy == DmPolicy::Allowlist && a.allow_from.is_empty() {
            c.warn(
                &a.path,
                format!("account `{}` uses dmPolicy \"allowlist\" with an empty allowFrom: nobody can reach it", a.id),
                "add user ids to allowFrom",
            );
        }
    }
    if c.errors.is_empty() {
        Ok(Report {
            config: ChannelConfig {
                enabled,
                accounts,
                default_account: default_id,
            },
            warnings: c.warnings,
        })
    } else {
        Err(c.errors)
    }
}

fn build(id: String, raw_key: Option<String>, path: String, f: Fields) -> Account {
    let receives_callbacks = f.reply_button.as_ref().is_none_or(|r| r.enabled)
        || f.callback_url.is_some()
        || f.callback_path.is_some();
    let callback_path = f.callback_path.or_else(|| {
        f.callback_url
            .as_deref()
            .and_then(split_origin)
            .map(|(_, _, p)| p.split(['?', '#']).next().unwrap_or(""))
            .filter(|p| p.starts_with('/') && p.len() > 1)
            .map(str::to_owned)
    });
    Account {
        id,
        raw_key,
        path,
        name: f.name,
        enabled: f.enabled != Some(false),
        has_inline_key: f.app_key,
        key_file: f.key_file,
        callback_url: f.callback_url,
        callback_path,
        dm_policy: f.dm_policy.unwrap_or_default(),
        allow_from: f.allow_from.unwrap_or_default(),
        proxy: f.proxy,
        api_base: f.api_base.unwrap_or_else(|| DEFAULT_API_BASE.to_owned()),
        is_default: false,
        rate_limit: RateConfig {
            requests_per_minute: f.rpm.unwrap_or(crate::limiter::DEFAULT_REQUESTS_PER_MINUTE),
            burst: f.burst.unwrap_or(crate::limiter::DEFAULT_BURST),
        },
        text_chunk_limit: f.text_chunk_limit.unwrap_or(DEFAULT_TEXT_CHUNK_LIMIT),
        delivery: f.delivery.unwrap_or_default(),
        group_policy: f.group_policy.unwrap_or_default(),
        group_allow_from: f.group_allow_from,
        receives_callbacks,
        callback_secret: f.callback_secret,
        reply_button: f.reply_button.unwrap_or_default(),
        accept_unauthenticated: f.accept_unauthenticated == Some(true),
    }
}

/// The inline `appKey` an account uses (its own, else the base's). Host-side only.
pub fn inline_app_key<'a>(section: &'a Value, account: &Account) -> Option<&'a str> {
    let own = account
        .raw_key
        .as_ref()
        .and_then(|k| section.get("accounts")?.get(k)?.get("appKey")?.as_str());
    own.or_else(|| section.get("appKey")?.as_str())
        .filter(|s| !s.trim().is_empty())
}

/// Replace every `appKey` value by `true`, so that the section can enter the sandbox: the
/// guest still learns that a key is configured, never the key. Returns how many were replaced.
pub fn redact_credentials(section: &mut Value) -> usize {
    let mut n = 0;
    let mut redact = |obj: &mut Value| {
        if let Some(v) = obj.get_mut("appKey")
            && v.is_string()
        {
            *v = Value::Bool(true);
            n += 1;
        }
    };
    redact(section);
    if let Some(Value::Object(accounts)) = section.get_mut("accounts") {
        for v in accounts.values_mut() {
            redact(v);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A test secret for configs that do not care about callback authentication.
    const TEST_SECRET: &str = "test-callback-secret-0123456789";

    /// `v` with [`TEST_SECRET`] at the top unless it says something about authentication.
    fn with_secret(mut v: Value) -> Value {
        if let Value::Object(m) = &mut v
            && !m.contains_key("callbackSecret")
            && !m.contains_key(UNAUTHENTICATED_OPT_OUT)
        {
            m.insert("callbackSecret".into(), Value::String(TEST_SECRET.into()));
        }
        v
    }

    fn ok(v: Value) -> Report {
        parse(&with_secret(v)).unwrap_or_else(|e| panic!("{e:#?}"))
    }
    fn errs(v: Value) -> Vec<ConfigIssue> {
        parse(&with_secret(v)).expect_err("should be rejected")
    }

    #[test]
    fn callbacks_are_authenticated_unless_the_opt_out_is_set() {
        // The Reply button is on by default: without a secret the account is refused.
        let e = parse(&json!({"appKey": "k"})).unwrap_err();
        assert_eq!(e[0].path, "channels.kakao.callbackSecret");
        assert!(e[0].fix.contains("kakaowork-host secret"), "{e:?}");
        assert!(e[0].fix.contains(UNAUTHENTICATED_OPT_OUT), "{e:?}");
        // Per account: one with a secret is fine, the other is named.
        let e = parse(&json!({"accounts": {"a": {"callbackSecret": TEST_SECRET}, "b": {}}}))
            .unwrap_err();
        let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["channels.kakao.accounts.b.callbackSecret"]);
        // A send-only account (no button, no callback URL) needs no secret.
        let r = parse(&json!({"replyButton": false})).unwrap();
        assert!(!r.config.accounts[0].receives_callbacks);
        // ...but a callback URL makes it receive callbacks again.
        assert!(parse(&json!({"replyButton": false, "callbackPath": "/cb"})).is_err());
        // The opt-out: accepted, warned, named in the warning.
        let r = parse(&json!({"dangerouslyAcceptUnauthenticatedCallbacks": true})).unwrap();
        assert!(r.config.accounts[0].accept_unauthenticated);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.path.ends_with(UNAUTHENTICATED_OPT_OUT)),
            "{:?}",
            r.warnings
        );
        // Anything but true is not an opt-out.
        let e = parse(&json!({"dangerouslyAcceptUnauthenticatedCallbacks": "yes"})).unwrap_err();
        assert!(
            e.iter().any(|i| i.path.ends_with(UNAUTHENTICATED_OPT_OUT)),
            "{e:?}"
        );
    }

    #[test]
    fn seed_single_account_example() {
        let r = ok(json!({"enabled": true, "appKey": "your-app-key-here", "dmPolicy": "pairing"}));
        assert_eq!(r.config.default_account, "default");
        let a = &r.config.accounts[0];
        assert!(a.enabled && a.has_inline_key && a.is_default);
        assert_eq!(a.dm_policy, DmPolicy::Pairing);
        assert_eq!(a.api_base, DEFAULT_API_BASE);
        assert_eq!(
            a.callback_path.as_deref(),
            Some("/kakaowork/default/callback")
        );
        // With a secret (added by `ok`), there is nothing to warn about.
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // As written in the seed, without one, it is refused with the fix.
        let e =
            parse(&json!({"enabled": true, "appKey": "your-app-key-here", "dmPolicy": "pairing"}))
                .unwrap_err();
        assert_eq!(e[0].path, "channels.kakao.callbackSecret");
    }

    #[test]
    fn seed_multi_account_example() {
        let r = ok(json!({
            "enabled": true,
            "accounts": {
                "support": {"appKey": "SUPPORT_BOT_APP_KEY", "dmPolicy": "open"},
                "internal": {"appKey": "INTERNAL_BOT_APP_KEY", "dmPolicy": "allowlist", "allowFrom": ["12345", "67890"]}
            },
            "defaultAccount": "support"
        }));
        let ids: Vec<_> = r.config.accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["internal", "support"]);
        assert_eq!(r.config.default_account, "support");
        let internal = r.config.account(Some("internal")).unwrap();
        assert_eq!(internal.allow_from, ["12345", "67890"]);
        assert_eq!(internal.dm_policy, DmPolicy::Allowlist);
        assert!(!internal.is_default);
        // `open` is legal but warned about, with the account's path.
        assert!(
            r.warnings
                .iter()
                .any(|w| w.path == "channels.kakao.accounts.support" && w.message.contains("open"))
        );
    }

    #[test]
    fn seed_callback_example_derives_nothing_surprising() {
        let r = ok(json!({
            "callbackUrl": "https://your-domain.com/kakao/callback",
            "callbackPath": "/kakao/callback"
        }));
        assert_eq!(
            r.config.accounts[0].callback_path.as_deref(),
            Some("/kakao/callback")
        );
        let r = ok(json!({"callbackUrl": "https://x.example/hook/kw?x=1"}));
        assert_eq!(
            r.config.accounts[0].callback_path.as_deref(),
            Some("/hook/kw")
        );
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let e = errs(json!({
            "enabled": "yes",
            "dmPolicy": "everyone",
            "groupPolicy": "pairing",
            "allowFrom": "12345",
            "callbackUrl": "http://example.com/cb",
            "callbackPath": "cb",
            "proxy": "proxy.local",
            "accounts": {
                "a": {"dmPolicy": 3, "allowFrom": ["1", {"id": 2}, -5], "apiBase": "https://api.kakaowork.com/v1"},
                "b": "not an object",
                "c": {"defaultAccount": "a"}
            },
            "defaultAccount": "zzz"
        }));
        let paths: Vec<&str> = e.iter().map(|i| i.path.as_str()).collect();
        for want in [
            "channels.kakao.enabled",
            "channels.kakao.dmPolicy",
            "channels.kakao.groupPolicy",
            "channels.kakao.allowFrom",
            "channels.kakao.callbackUrl",
            "channels.kakao.callbackPath",
            "channels.kakao.proxy",
            "channels.kakao.accounts.a.dmPolicy",
            "channels.kakao.accounts.a.allowFrom[1]",
            "channels.kakao.accounts.a.allowFrom[2]",
            "channels.kakao.accounts.a.apiBase",
            "channels.kakao.accounts.b",
            "channels.kakao.accounts.c.defaultAccount",
            "channels.kakao.defaultAccount",
        ] {
            assert!(paths.contains(&want), "missing {want} in {paths:#?}");
        }
        // The invalid base callbackPath is inherited by accounts a and c, which then collide.
        assert!(
            paths.contains(&"channels.kakao.accounts.c.callbackPath"),
            "{paths:#?}"
        );
        assert_eq!(e.len(), 15, "{e:#?}");
        for issue in &e {
            assert!(
                !issue.fix.is_empty() && !issue.message.is_empty(),
                "{issue:?}"
            );
        }
        let policy = e
            .iter()
            .find(|i| i.path == "channels.kakao.dmPolicy")
            .unwrap();
        assert!(policy.fix.contains("pairing, allowlist, open, disabled"));
    }

    #[test]
    fn delivery_settings() {
        let cfg = ok(json!({"rateLimit": {"requestsPerMinute": 100, "burst": 2}, "textChunkLimit": 500,
                            "delivery": "at-least-once", "accounts": {"a": {}, "b": {"delivery": "at-most-once"}}}))
        .config;
        let a = cfg.account(Some("a")).unwrap();
        assert_eq!(
            a.rate_limit,
            RateConfig {
                requests_per_minute: 100,
                burst: 2
            }
        );
        assert_eq!(a.text_chunk_limit, 500);
        assert_eq!(a.delivery, Delivery::AtLeastOnce);
        assert_eq!(
            cfg.account(Some("b")).unwrap().delivery,
            Delivery::AtMostOnce
        );
        let d = ok(json!({})).config;
        assert_eq!(d.accounts[0].rate_limit, RateConfig::default());
        assert_eq!(d.accounts[0].text_chunk_limit, DEFAULT_TEXT_CHUNK_LIMIT);
        let e = errs(
            json!({"rateLimit": {"requestsPerMinute": 0, "burst": "x"}, "textChunkLimit": 4000, "delivery": "exactly-once"}),
        );
        let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "channels.kakao.rateLimit.requestsPerMinute",
                "channels.kakao.rateLimit.burst",
                "channels.kakao.textChunkLimit",
                "channels.kakao.delivery"
            ]
        );
    }

    #[test]
    fn callback_settings() {
        let secret = "abcdefghijklmnopqrstuvwxyz012345";
        let r = ok(
            json!({"callbackSecret": secret, "replyButton": {"label": "Reply"},
                          "accounts": {"a": {}, "b": {"replyButton": false, "callbackPath": "/b"}}}),
        );
        let a = r.config.account(Some("a")).unwrap();
        assert_eq!(a.callback_secret.as_deref(), Some(secret));
        assert_eq!(
            a.reply_button,
            ReplyButton {
                enabled: true,
                label: "Reply".into()
            }
        );
        assert!(!r.config.account(Some("b")).unwrap().reply_button.enabled);
        assert!(
            r.warnings
                .iter()
                .all(|w| !w.message.contains("callbackSecret"))
        );
        let e = errs(
            json!({"callbackSecret": "short", "accounts": {"a": {"callbackPath": "/same"}, "b": {"callbackPath": "/same"}},
                            "replyButton": {"label": "this label is far too long for a button"}}),
        );
        let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "channels.kakao.callbackSecret",
                "channels.kakao.replyButton.label",
                "channels.kakao.accounts.b.callbackPath"
            ]
        );
    }

    #[test]
    fn not_an_object_and_bad_json() {
        assert_eq!(errs(json!([1]))[0].path, "channels.kakao");
        let e = parse_str("{ not json").unwrap_err();
        assert_eq!(e[0].path, "channels.kakao");
        assert!(e[0].message.contains("not valid JSON"));
    }

    #[test]
    fn account_resolution() {
        let cfg = ok(json!({"accounts": {"b": {}, "a": {}}})).config;
        assert_eq!(cfg.default_account, "a", "first sorted id when no default");
        let cfg = ok(json!({"accounts": {"b": {}, "default": {}}})).config;
        assert_eq!(cfg.default_account, "default");
        let cfg = ok(json!({"accounts": {"b": {}, "a": {}}, "defaultAccount": "B"})).config;
        assert_eq!(cfg.account(None).unwrap().id, "b");
        assert_eq!(cfg.account(Some("A")).unwrap().id, "a");
        let err = cfg.account(Some("nope")).unwrap_err();
        assert!(err.to_string().contains("a, b"), "{err}");
    }

    #[test]
    fn accounts_inherit_base_fields_and_override_them() {
        let cfg = ok(json!({
            "dmPolicy": "allowlist", "allowFrom": [1], "apiBase": "http://127.0.0.1:9000/",
            "enabled": true,
            "accounts": {"x": {"dmPolicy": "disabled"}, "y": {"enabled": false}}
        }))
        .config;
        let x = cfg.account(Some("x")).unwrap();
        assert_eq!(x.dm_policy, DmPolicy::Disabled);
        assert_eq!(x.allow_from, ["1"]);
        assert_eq!(x.api_base, "http://127.0.0.1:9000");
        assert!(x.enabled);
        assert!(!cfg.account(Some("y")).unwrap().enabled);
        let off = ok(json!({"enabled": false, "accounts": {"x": {}}})).config;
        assert!(!off.account(Some("x")).unwrap().enabled);
    }

    #[test]
    fn account_ids_are_normalised_and_collisions_rejected() {
        let r = ok(json!({"accounts": {"Sales Team": {}}}));
        assert_eq!(r.config.accounts[0].id, "sales-team");
        assert!(r.warnings.iter().any(|w| w.fix.contains("sales-team")));
        let e = errs(json!({"accounts": {"Ops": {}, "ops": {}}}));
        assert!(e[0].message.contains("both normalise"));
        assert_eq!(normalize_account_id(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn plain_http_api_base_only_on_loopback() {
        ok(json!({"apiBase": "http://localhost:8080"}));
        ok(json!({"apiBase": "https://cbt-kw-api.kkep.io"}));
        let e = errs(json!({"apiBase": "http://api.kakaowork.com"}));
        assert_eq!(e[0].path, "channels.kakao.apiBase");
    }

    #[test]
    fn a_host_that_only_starts_with_127_is_not_loopback() {
        ok(json!({"apiBase": "http://127.0.0.1:8080"}));
        ok(json!({"apiBase": "http://127.1.2.3"}));
        ok(json!({"apiBase": "http://[::1]:9000"}));
        for base in [
            "http://127.evil.example",
            "http://127.0.0.1.evil.example",
            "http://127.0.0.256",
            "http://localhost.evil.example",
        ] {
            let e = errs(json!({ "apiBase": base }));
            assert_eq!(e[0].path, "channels.kakao.apiBase", "{base}");
            assert!(e[0].message.contains("must use https"), "{base}: {e:?}");
        }
    }

    #[test]
    fn a_socks_proxy_is_refused_with_a_fix() {
        ok(json!({"proxy": "http://proxy.example.com:3128"}));
        let e = errs(json!({"proxy": "socks5://127.0.0.1:1080"}));
        assert_eq!(e[0].path, "channels.kakao.proxy");
        assert!(e[0].fix.contains("HTTP proxy"), "{e:?}");
    }

    #[test]
    fn allow_entries_must_be_user_ids() {
        let e = errs(json!({"allowFrom": ["123", "abc", "kakao:x1", "**"]}));
        let paths: Vec<_> = e.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "channels.kakao.allowFrom[1]",
                "channels.kakao.allowFrom[2]",
                "channels.kakao.allowFrom[3]"
            ]
        );
        assert!(e[0].message.contains("`abc`"), "{e:?}");
    }

    #[test]
    fn allow_entries_are_normalised() {
        let cfg =
            ok(json!({"allowFrom": ["kakao:123", "KW: 456", 789, "*", "kakaowork:9"]})).config;
        assert_eq!(cfg.accounts[0].allow_from, ["123", "456", "789", "*", "9"]);
    }

    #[test]
    fn unknown_keys_warn_and_odd_keys_get_quoted_paths() {
        let r = ok(json!({"dmPolicyy": "open", "accounts": {"a": {"we ird": 1}}}));
        let paths: Vec<_> = r.warnings.iter().map(|w| w.path.as_str()).collect();
        assert!(paths.contains(&"channels.kakao.dmPolicyy"), "{paths:?}");
        assert!(
            paths.contains(&"channels.kakao.accounts.a[\"we ird\"]"),
            "{paths:?}"
        );
    }

    #[test]
    fn credential_precedence() {
        let cfg = ok(json!({"accounts": {"a": {"appKey": "k", "keyFile": "/f"}, "b": {"keyFile": "/f"}, "c": {}},
                            "defaultAccount": "c"}))
        .config;
        let src = |id: &str, env| cfg.account(Some(id)).unwrap().credential_plan(env);
        assert_eq!(src("a", true), CredentialSource::Config);
        assert_eq!(src("b", true), CredentialSource::KeyFile);
        assert_eq!(src("c", true), CredentialSource::Env);
        assert_eq!(src("c", false), CredentialSource::None);
        let cfg2 = ok(json!({"accounts": {"a": {}, "c": {}}, "defaultAccount": "c"})).config;
        assert_eq!(
            cfg2.account(Some("a")).unwrap().credential_plan(true),
            CredentialSource::None,
            "the env var is for the default account only"
        );
    }

    #[test]
    fn redaction_removes_every_key_value() {
        let mut v =
            json!({"appKey": "base-secret", "accounts": {"a": {"appKey": "a-secret"}, "b": {}}});
        assert_eq!(redact_credentials(&mut v), 2);
        let text = v.to_string();
        assert!(!text.contains("secret"), "{text}");
        let cfg = ok(v.clone()).config;
        assert!(cfg.accounts.iter().all(|a| a.has_inline_key));
        let orig =
            json!({"appKey": "base-secret", "accounts": {"a": {"appKey": "a-secret"}, "b": {}}});
        let a = ok(orig.clone()).config;
        assert_eq!(
            inline_app_key(&orig, a.account(Some("a")).unwrap()),
            Some("a-secret")
        );
        assert_eq!(
            inline_app_key(&orig, a.account(Some("b")).unwrap()),
            Some("base-secret")
        );
    }
}
