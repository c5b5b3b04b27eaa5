//! Reading the fields of one object of the section (the base or one account), each checked
//! with its JSON path: the value found, or an issue that says what is wrong and the fix.

use serde_json::{Map, Value};

use super::model::*;

/// Keys of the section itself, not of an account.
pub const TOP_ONLY_KEYS: [&str; 5] = ["accounts", "defaultAccount", "state", "stateCa", "workers"];

pub(super) fn type_name(v: &Value) -> &'static str {
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
pub(super) fn is_loopback_host(host: &str) -> bool {
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
pub(super) struct Fields {
    pub(super) enabled: Option<bool>,
    pub(super) name: Option<String>,
    pub(super) app_key: bool,
    pub(super) key_file: Option<String>,
    pub(super) callback_url: Option<String>,
    pub(super) callback_path: Option<String>,
    pub(super) dm_policy: Option<DmPolicy>,
    pub(super) allow_from: Option<Vec<String>>,
    pub(super) proxy: Option<String>,
    pub(super) api_base: Option<String>,
    pub(super) rpm: Option<u32>,
    pub(super) burst: Option<u32>,
    pub(super) text_chunk_limit: Option<u32>,
    pub(super) delivery: Option<Delivery>,
    pub(super) group_policy: Option<GroupPolicy>,
    pub(super) group_allow_from: Option<Vec<String>>,
    pub(super) callback_secret: Option<String>,
    pub(super) reply_button: Option<ReplyButton>,
    pub(super) accept_unauthenticated: Option<bool>,
}

impl Fields {
    pub(super) fn merged_over(self, base: &Fields) -> Fields {
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

pub(super) struct Checker {
    pub(super) errors: Vec<ConfigIssue>,
    pub(super) warnings: Vec<ConfigIssue>,
}

impl Checker {
    pub(super) fn error(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigIssue {
            path: path.to_owned(),
            message: message.into(),
            fix: fix.into(),
        });
    }
    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>, fix: impl Into<String>) {
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

    /// Every field of one object (the base when `top`, else an account), each checked.
    pub(super) fn fields(&mut self, obj: &Map<String, Value>, path: &str, top: bool) -> Fields {
        self.check_keys(obj, path, top);
        // Read in this order: it is the order in which their issues are reported.
        let enabled = self.flag(
            obj,
            path,
            "enabled",
            "write `enabled: true` or `enabled: false`",
        );
        let name = self.string(obj, path, "name");
        let app_key = self.app_key(obj, path);
        let key_file = self.string(obj, path, "keyFile");
        let callback_url = self.callback_url(obj, path);
        let callback_path = self.callback_path(obj, path);
        let dm_policy = self
            .one_of(obj, path, "dmPolicy", "policy", &DmPolicy::NAMES)
            .map(|i| DmPolicy::ALL[i]);
        let allow_from = self.allow_list(obj, path, "allowFrom");
        let group_allow_from = self.allow_list(obj, path, "groupAllowFrom");
        let group_policy = self.group_policy(obj, path);
        let proxy = self.proxy(obj, path);
        let (rpm, burst) = self.rate_limit(obj, path);
        let text_chunk_limit = self.int(obj, path, "textChunkLimit", 16, MAX_TEXT_CHUNK_LIMIT);
        let delivery = self.delivery(obj, path);
        let callback_secret = self.callback_secret(obj, path);
        let accept_unauthenticated = self.flag(
            obj,
            path,
            UNAUTHENTICATED_OPT_OUT,
            "remove it, and set callbackSecret instead",
        );
        let reply_button = self.reply_button(obj, path);
        let api_base = self.api_base(obj, path);
        Fields {
            enabled,
            name,
            app_key,
            key_file,
            callback_url,
            callback_path,
            dm_policy,
            allow_from,
            proxy,
            api_base,
            rpm,
            burst,
            text_chunk_limit,
            delivery,
            group_policy,
            group_allow_from,
            callback_secret,
            reply_button,
            accept_unauthenticated,
        }
    }

    /// Keys of the section in an account are errors (they would be silently ignored there);
    /// keys nobody knows are warnings, most likely typos.
    fn check_keys(&mut self, obj: &Map<String, Value>, path: &str, top: bool) {
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
    }

    /// A true/false field; `fix` says what to write instead of a wrong value.
    fn flag(&mut self, obj: &Map<String, Value>, path: &str, key: &str, fix: &str) -> Option<bool> {
        match obj.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.error(
                    &child(path, key),
                    format!("must be true or false, found {}", type_name(other)),
                    fix,
                );
                None
            }
        }
    }

    /// Whether an inline `appKey` is given: the guest only needs to know that one is.
    fn app_key(&mut self, obj: &Map<String, Value>, path: &str) -> bool {
        let Some(v) = obj.get("appKey") else {
            return false;
        };
        match v {
            Value::String(s) if !s.trim().is_empty() => return true,
            Value::String(_) => self.error(
                &child(path, "appKey"),
                "is empty",
                "paste the bot's App Key from the KakaoWork admin console, or remove the key",
            ),
            // The host replaces values by this marker before the guest sees the config.
            Value::Bool(true) => return true,
            other => self.error(
                &child(path, "appKey"),
                format!("must be a string, found {}", type_name(other)),
                "write the App Key as a quoted string",
            ),
        }
        false
    }

    /// `callbackUrl`, kept even when wrong (the error already stops the config): KakaoWork
    /// only calls absolute HTTPS URLs.
    fn callback_url(&mut self, obj: &Map<String, Value>, path: &str) -> Option<String> {
        let url = self.string(obj, path, "callbackUrl")?;
        match split_origin(&url) {
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
        Some(url)
    }

    /// `callbackPath`, which the host routes as given: it must be an absolute path.
    fn callback_path(&mut self, obj: &Map<String, Value>, path: &str) -> Option<String> {
        let p = self.string(obj, path, "callbackPath")?;
        if !p.starts_with('/') {
            self.error(
                &child(path, "callbackPath"),
                format!("`{p}` does not start with `/`"),
                format!("write it as `/{p}`"),
            );
        }
        Some(p)
    }

    /// `groupPolicy`: who may use the bot from group conversations.
    fn group_policy(&mut self, obj: &Map<String, Value>, path: &str) -> Option<GroupPolicy> {
        self.one_of(
            obj,
            path,
            "groupPolicy",
            "group policy",
            &GroupPolicy::NAMES,
        )
        .map(|i| GroupPolicy::ALL[i])
    }

    /// `proxy`: the hosts can only tunnel through an HTTP(S) proxy.
    fn proxy(&mut self, obj: &Map<String, Value>, path: &str) -> Option<String> {
        let proxy = self.string(obj, path, "proxy")?;
        match split_origin(&proxy) {
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
        Some(proxy)
    }

    /// `rateLimit`: requests per minute and burst, each optional.
    fn rate_limit(&mut self, obj: &Map<String, Value>, path: &str) -> (Option<u32>, Option<u32>) {
        let Some(v) = obj.get("rateLimit") else {
            return (None, None);
        };
        let p = child(path, "rateLimit");
        let Value::Object(rl) = v else {
            self.error(
                &p,
                format!("must be an object, found {}", type_name(v)),
                "write it as { \"requestsPerMinute\": 200, \"burst\": 5 }",
            );
            return (None, None);
        };
        for k in rl.keys() {
            if k != "requestsPerMinute" && k != "burst" {
                self.warn(
                    &child(&p, k),
                    format!("unknown key `{k}` is ignored"),
                    "rateLimit takes requestsPerMinute and burst",
                );
            }
        }
        let rpm = self.int(rl, &p, "requestsPerMinute", 1, 100_000);
        let burst = self.int(rl, &p, "burst", 1, 1000);
        (rpm, burst)
    }

    /// `delivery`: what happens to a chunk whose outcome is unknown.
    fn delivery(&mut self, obj: &Map<String, Value>, path: &str) -> Option<Delivery> {
        self.one_of(obj, path, "delivery", "delivery mode", &Delivery::NAMES)
            .map(|i| Delivery::ALL[i])
    }

    /// `callbackSecret`, kept even when weak (the error already stops the config): it
    /// authenticates callbacks, so it must be long and URL-safe.
    fn callback_secret(&mut self, obj: &Map<String, Value>, path: &str) -> Option<String> {
        let secret = self.string(obj, path, "callbackSecret")?;
        if secret.len() < MIN_SECRET_CHARS
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.error(
                &child(path, "callbackSecret"),
                format!(
                    "must be at least {MIN_SECRET_CHARS} characters of A-Z, a-z, 0-9, `-` or `_` (128 bits or more)"
                ),
                "generate one with `kakaowork-host secret`",
            );
        }
        Some(secret)
    }

    /// `replyButton`: true/false, or an object whose label fits KakaoWork's button.
    fn reply_button(&mut self, obj: &Map<String, Value>, path: &str) -> Option<ReplyButton> {
        let v = obj.get("replyButton")?;
        let p = child(path, "replyButton");
        match v {
            Value::Bool(enabled) => Some(ReplyButton {
                enabled: *enabled,
                ..ReplyButton::default()
            }),
            Value::Object(rb) => match rb.get("label") {
                None => Some(ReplyButton::default()),
                Some(Value::String(l)) if !l.trim().is_empty() && l.chars().count() <= 20 => {
                    Some(ReplyButton {
                        enabled: rb.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                        label: l.trim().to_owned(),
                    })
                }
                Some(_) => {
                    self.error(
                        &child(&p, "label"),
                        "must be a non-empty string of at most 20 characters (KakaoWork's button limit)",
                        "shorten the label",
                    );
                    None
                }
            },
            other => {
                self.error(
                    &p,
                    format!(
                        "must be true, false or {{\"label\": ...}}, found {}",
                        type_name(other)
                    ),
                    "write \"replyButton\": false to turn it off, or {\"label\": \"Reply\"}",
                );
                None
            }
        }
    }

    /// `apiBase`, without its trailing `/`, or `None` when it is not a safe origin: an app key
    /// must not travel in the clear to another machine.
    fn api_base(&mut self, obj: &Map<String, Value>, path: &str) -> Option<String> {
        let base = self.string(obj, path, "apiBase")?;
        let p = child(path, "apiBase");
        match split_origin(&base) {
            Some((scheme, host, rest)) if rest.trim_end_matches('/').is_empty() => {
                if scheme == "https" || (scheme == "http" && is_loopback_host(host)) {
                    return Some(base.trim_end_matches('/').to_owned());
                }
                self.error(
                    &p,
                    format!("`{base}` must use https (plain http only on loopback)"),
                    format!("use {DEFAULT_API_BASE} or remove the key"),
                );
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
        None
    }
}
