//! The configuration as the rest of the plugin sees it: accounts, policies, limits, and the
//! issues found while reading it.

use serde_json::Value;

use std::fmt;
use thiserror::Error;

/// Where the section lives in an OpenClaw/Moltbot config; issue paths start here.
pub const SECTION_PATH: &str = "channels.kakao";
pub const DEFAULT_API_BASE: &str = "https://api.kakaowork.com";
pub const DEFAULT_ACCOUNT_ID: &str = "default";
/// Read by the host for the default account only.
pub const APP_KEY_ENV: &str = "KAKAOWORK_APP_KEY";

pub use crate::contract::records::{ConfigIssue, CredentialSource, DmPolicy};

impl DmPolicy {
    pub const NAMES: [&'static str; 4] = ["pairing", "allowlist", "open", "disabled"];

    pub const ALL: [Self; 4] = [Self::Pairing, Self::Allowlist, Self::Open, Self::Disabled];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
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
pub(super) fn is_allow_entry(entry: &str) -> bool {
    entry == "*"
        || (!entry.is_empty()
            && entry.len() <= 20
            && entry.parse::<u64>().is_ok()
            && entry.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) fn child(path: &str, key: &str) -> String {
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

/// Keys whose values are secrets (a Redis URL may hold a password): hidden in every view of
/// the configuration, at the top and in every account.
pub const SECRET_KEYS: [&str; 3] = ["appKey", "callbackSecret", "state"];

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

impl GroupPolicy {
    /// As written in the configuration; `ALL[i]` is `NAMES[i]`.
    pub const NAMES: [&'static str; 3] = ["open", "allowlist", "disabled"];

    pub const ALL: [Self; 3] = [Self::Open, Self::Allowlist, Self::Disabled];
}

/// KakaoWork's cap on the text of one message.
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

impl Delivery {
    /// As written in the configuration; `ALL[i]` is `NAMES[i]`.
    pub const NAMES: [&'static str; 2] = ["at-most-once", "at-least-once"];

    pub const ALL: [Self; 2] = [Self::AtMostOnce, Self::AtLeastOnce];
}
/// The inline `appKey` an account uses (its own, else the base's). Host-side only.
/// Why an App Key cannot be one, if it cannot: it goes into an HTTP header, so it is 1-512
/// visible ASCII characters (the hosts' shared cases are in `spec/app-keys.json`).
pub fn app_key_problem(key: &str) -> Option<&'static str> {
    if key.contains(['\n', '\r']) {
        Some("holds a line break")
    } else if !key.is_ascii() {
        Some("holds a character outside ASCII")
    } else if key.bytes().any(|b| !b.is_ascii_graphic()) {
        Some("holds a space or control character")
    } else if key.is_empty() || key.len() > 512 {
        Some("is not 1-512 characters long")
    } else {
        None
    }
}

pub fn inline_app_key<'a>(section: &'a Value, account: &Account) -> Option<&'a str> {
    let own = account
        .raw_key
        .as_ref()
        .and_then(|k| section.get("accounts")?.get(k)?.get("appKey")?.as_str());
    own.or_else(|| section.get("appKey")?.as_str())
        .filter(|s| !s.trim().is_empty())
}

/// Replace every `appKey` value and the state's URL by `true`, so that the section can enter the sandbox: the
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
    // A Redis URL may carry its password.
    if let Some(v) = section.get_mut("state")
        && v.is_string()
    {
        *v = Value::Bool(true);
        n += 1;
    }
    n
}

/// The most plugin instances `workers` may ask a host for.
pub const MAX_WORKERS: u64 = 16;

/// A workspace's rate budget (requests per minute, and how many may go at once).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 200;
pub const DEFAULT_BURST: u32 = 5;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    pub requests_per_minute: u32,
    pub burst: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            burst: DEFAULT_BURST,
        }
    }
}
