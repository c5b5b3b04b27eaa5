//! The section as a whole: every object read, accounts resolved (base fields, `accounts.<id>`
//! overrides, `defaultAccount`), and the checks across accounts.

use serde_json::{Map, Value};

use super::fields::*;
use super::model::RateConfig;
use super::model::*;

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
    let declared = declared_accounts(&mut c, top, &accounts_path);
    let default_account = default_account(&mut c, top, &declared);
    check_state(&mut c, top);
    check_state_ca(&mut c, top);
    check_workers(&mut c, top);

    let (mut accounts, default_id) =
        resolve_accounts(base, declared, default_account, &accounts_path);
    check_callback_paths(&mut c, &mut accounts);
    for a in &mut accounts {
        a.is_default = a.id == default_id;
        a.enabled &= enabled;
        check_dm_policy(&mut c, a);
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

/// One entry of `accounts`: (normalised id, key as written, fields); a Vec of these keeps
/// the guest smaller than a map would.
type Declared = (String, String, Fields);

/// The accounts under `accounts`, sorted by normalised id: accounts are known by that id,
/// so one that normalises to nothing, or to another's id, is an error.
fn declared_accounts(
    c: &mut Checker,
    top: &Map<String, Value>,
    accounts_path: &str,
) -> Vec<Declared> {
    let mut declared: Vec<Declared> = Vec::new();
    match top.get("accounts") {
        None => {}
        Some(Value::Object(map)) => {
            for (raw, v) in map {
                let path = child(accounts_path, raw);
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
            accounts_path,
            format!("must be an object of accounts, found {}", type_name(other)),
            "write it as \"accounts\": { \"support\": { ... } }",
        ),
    }
    declared.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    declared
}

/// `defaultAccount`, normalised; when accounts are declared it must name one of them.
fn default_account(
    c: &mut Checker,
    top: &Map<String, Value>,
    declared: &[Declared],
) -> Option<String> {
    let has = |id: &str| declared.iter().any(|d| d.0 == id);
    let default_path = child(SECTION_PATH, "defaultAccount");
    match top.get("defaultAccount") {
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
    }
}

/// `state`: where the host keeps the plugin's state. The host reads it; the guest only checks
/// its shape (hosts pass it redacted to `true`: a Redis URL may hold a password).
fn check_state(c: &mut Checker, top: &Map<String, Value>) {
    // The value is not repeated in the message: it may hold a password.
    let redis = |s: &str| {
        ["redis://", "rediss://"]
            .iter()
            .any(|p| s.len() > p.len() && s.starts_with(p))
    };
    match top.get("state") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::String(s)) if redis(s) => {}
        Some(other) => c.error(
            &child(SECTION_PATH, "state"),
            format!(
                "takes a Redis URL, redis://host:port/db (rediss:// for TLS), not {}",
                match other {
                    Value::String(_) => "a string of another form",
                    v => super::fields::type_name(v),
                }
            ),
            "write it like redis://127.0.0.1:6379/0, or remove it to keep the state in SQLite",
        ),
    }
}

/// `stateCa`: the CA a `rediss://` state's certificate is checked against. The host reads
/// the file; the guest checks that a path is given.
fn check_state_ca(c: &mut Checker, top: &Map<String, Value>) {
    match top.get("stateCa") {
        None => {}
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(other) => c.error(
            &child(SECTION_PATH, "stateCa"),
            format!(
                "takes the path of a PEM file, not {}",
                super::fields::type_name(other)
            ),
            "write the path of the CA certificate that signed the Redis server's, or remove it to use the system's CAs",
        ),
    }
}

/// `workers`: how many plugin instances a host runs (callbacks in one never wait on
/// KakaoWork in another). The host reads it; the guest checks its range.
fn check_workers(c: &mut Checker, top: &Map<String, Value>) {
    match top.get("workers") {
        None => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| (1..=MAX_WORKERS).contains(&n)) => {}
        Some(other) => c.error(
            &child(SECTION_PATH, "workers"),
            format!("takes a whole number from 1 to {MAX_WORKERS}, not {other}"),
            "write a number like 4 (the default), or remove it",
        ),
    }
}

/// The accounts in effect and the default's id: the section itself is the one account when
/// none is declared; else each declared account over the section's fields, and the default
/// falls back to `DEFAULT_ACCOUNT_ID`, then to the first by id.
fn resolve_accounts(
    base: Fields,
    declared: Vec<Declared>,
    default_account: Option<String>,
    accounts_path: &str,
) -> (Vec<Account>, String) {
    let mut accounts: Vec<Account> = Vec::new();
    let default_id;
    if declared.is_empty() {
        default_id = default_account.unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_owned());
        accounts.push(build(default_id.clone(), None, SECTION_PATH.into(), base));
    } else {
        let has = |id: &str| declared.iter().any(|d| d.0 == id);
        default_id = default_account
            .filter(|d| has(d))
            .or_else(|| has(DEFAULT_ACCOUNT_ID).then(|| DEFAULT_ACCOUNT_ID.to_owned()))
            .unwrap_or_else(|| declared.first().map(|d| d.0.clone()).unwrap_or_default());
        for (id, raw, f) in declared {
            let path = child(accounts_path, &raw);
            accounts.push(build(id, Some(raw), path, f.merged_over(&base)));
        }
    }
    (accounts, default_id)
}

/// Gives each account its callback path (its own by default) and checks that no two share
/// one, since the host could not tell their callbacks apart; warns of unauthenticated ones.
fn check_callback_paths(c: &mut Checker, accounts: &mut [Account]) {
    let mut paths: Vec<(String, String)> = Vec::new();
    for a in accounts {
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
        // Without a callbackSecret the plugin makes a token of its own on first use (see
        // `Channel::callback_token`): only the explicit opt-out leaves callbacks unauthenticated.
        if a.callback_secret.is_none() && a.enabled && a.accept_unauthenticated {
            c.warn(
                &child(&a.path, UNAUTHENTICATED_OPT_OUT),
                format!(
                    "account `{}` accepts callbacks without authentication: anyone who can reach {path} can act as any user",
                    a.id
                ),
                "remove the opt-out: the plugin then makes a callback token itself (`kakaowork-host callback-url` shows the URL to register)",
            );
        }
    }
}

/// Warns of a DM policy that admits more, or fewer, users than its name suggests.
fn check_dm_policy(c: &mut Checker, a: &Account) {
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
        dm_policy: f.dm_policy.unwrap_or(DmPolicy::Pairing),
        allow_from: f.allow_from.unwrap_or_default(),
        proxy: f.proxy,
        api_base: f.api_base.unwrap_or_else(|| DEFAULT_API_BASE.to_owned()),
        is_default: false,
        rate_limit: RateConfig {
            requests_per_minute: f.rpm.unwrap_or(super::model::DEFAULT_REQUESTS_PER_MINUTE),
            burst: f.burst.unwrap_or(super::model::DEFAULT_BURST),
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
