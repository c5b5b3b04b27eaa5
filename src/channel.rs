//! The channel service behind the `channel` export: configure, send, probe; plus the typed
//! "not implemented" answers of the exports that later work fills in.
//!
//! `send` is idempotent and resumable: each message has a ledger in KV (see [`crate::ledger`]),
//! every API call passes the workspace rate limiter (see [`crate::limiter`]), and when the
//! budget is spent the call returns `Deferred` instead of waiting.

use crate::api::{ApiError, Client, Gate};
use crate::binding;
use crate::callback::{self, CallbackRequest, CallbackResponse, Kind};
use crate::chunk;
use crate::config::{
    self, Account, ChannelConfig, ConfigIssue, CredentialSource, Delivery, DmPolicy, GroupPolicy,
};
use crate::envelope::{EnvelopeError, ErrorCode};
use crate::error::{ApiFailure, ChannelError, TransportFailure};
use crate::ledger::{self, ChunkState, Ledger, LoadError, Stored};
use crate::limiter::{self, Decision, Limiter};
use crate::ports::{HttpError, HttpResponse, Ports};
use crate::retry;
use crate::target::{self, Target};

/// The longest text one `send` accepts (it is split into chunks).
pub const MAX_TEXT_CHARS: usize = 100_000;
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;
/// How long a user's DM conversation id stays cached.
const DM_CACHE_TTL_MS: u64 = 7 * 24 * 3600 * 1000;
/// How long the workspace id (the rate budget's key) stays cached.
const WORKSPACE_TTL_MS: u64 = 24 * 3600 * 1000;
/// An inflight chunk whose owner has not finished within this is presumed abandoned. It
/// exceeds the host's longest request timeout.
pub const INFLIGHT_LEASE_MS: u64 = 60_000;
/// Attempts per chunk for retryable failures before `send` stops asking to be called again.
pub const MAX_ATTEMPTS: u32 = 6;
/// Authentication failures in a row (with one key) after which calls stop.
pub const AUTH_FAILURE_LIMIT: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub account: String,
    pub source: CredentialSource,
    /// A non-secret identifier of the key (e.g. a hash prefix), so a changed key is noticed.
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub id: String,
    pub enabled: bool,
    pub configured: bool,
    pub credential_source: CredentialSource,
    pub dm_policy: DmPolicy,
    pub api_base: String,
    pub callback_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureResult {
    pub accounts: Vec<AccountInfo>,
    pub default_account: String,
    pub warnings: Vec<ConfigIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub account: Option<String>,
    pub target: String,
    pub text: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    Sent,
    Ambiguous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkReceipt {
    pub index: u32,
    pub outcome: ChunkOutcome,
    pub message_id: Option<String>,
    pub send_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub account: String,
    pub idempotency_key: String,
    /// The first chunk's message id ("" if its outcome is ambiguous).
    pub message_id: String,
    pub conversation_id: String,
    pub send_time: u64,
    pub chunks: Vec<ChunkReceipt>,
    /// True when some chunk's outcome is unknown (at-most-once mode).
    pub ambiguous: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Action,
    ModalSubmission,
    Text,
}

/// One inbound message for the agent, as OpenClaw's inbound context needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    pub account: String,
    pub kind: EventKind,
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub conversation_id: String,
    pub chat_type: ChatType,
    pub message_id: String,
    pub timestamp_ms: u64,
    pub text: String,
    pub from: String,
    pub to: String,
    pub action_name: Option<String>,
    pub action_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackOutcome {
    pub response: CallbackResponse,
    pub events: Vec<InboundEvent>,
    /// Messages the plugin could not send now (e.g. a pairing reply while the budget is spent);
    /// the host delivers them.
    pub outbound: Vec<SendRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    Direct,
    Group,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyDecision {
    Allow(String),
    Deny(String),
    PairingRequired {
        code: String,
        created: bool,
        reply: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub account: String,
    pub bot_id: String,
    pub title: String,
    pub status: String,
    pub elapsed_ms: u64,
}

struct Credential {
    source: CredentialSource,
    key_id: Option<String>,
}

struct Configured {
    config: ChannelConfig,
    /// (account id, credential); a Vec keeps the guest small.
    credentials: Vec<(String, Credential)>,
}

/// One instance's state: the validated configuration, nothing else (shared state lives in KV).
#[derive(Default)]
pub struct Channel {
    state: Option<Configured>,
}

fn dm_cache_key(account: &str, user_id: &str) -> String {
    format!("dm/v1/{account}/{user_id}")
}

/// The limiter at the gate of every API call of one account.
struct LimitGate<'a> {
    limiter: Limiter<'a>,
    ports: &'a Ports<'a>,
}

impl Gate for LimitGate<'_> {
    fn before(&self) -> Result<(), ApiError> {
        match self.limiter.admit(self.ports.clock.now_ms())? {
            Decision::Admit => Ok(()),
            Decision::Wait(ms) => Err(ApiError::Deferred(ms)),
        }
    }

    fn after(&self, resp: &HttpResponse) {
        // Best effort: a KV hiccup here must not turn a delivered message into an error.
        let now = self.ports.clock.now_ms();
        let _ = self
            .limiter
            .observe_limit(resp.header("ratelimit-limit"), now);
        if resp.status == 429 {
            let retry = resp
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| s.saturating_mul(1000));
            let wait = limiter::retry_after_block(retry, self.ports.random.next_u64());
            let _ = self.limiter.block_until(now, now + wait);
        }
    }
}

/// A gate whose admission was already granted: it only observes the answer.
struct Admitted<'a>(&'a LimitGate<'a>);

impl Gate for Admitted<'_> {
    fn before(&self) -> Result<(), ApiError> {
        Ok(())
    }
    fn after(&self, resp: &HttpResponse) {
        self.0.after(resp);
    }
}

/// What one attempt at a chunk ended with.
enum Attempt {
    Sent {
        message_id: String,
        conversation_id: String,
        send_time: u64,
    },
    /// Known not delivered; the chunk stays pending. The error is what `send` returns.
    NotSent(ChannelError),
    /// The request may have been delivered.
    Unknown(String),
}

impl Channel {
    pub fn configure(
        &mut self,
        json: &str,
        credentials: &[CredentialStatus],
    ) -> Result<ConfigureResult, Vec<ConfigIssue>> {
        let report = config::parse_str(json)?;
        let mut warnings = report.warnings;
        let mut creds: Vec<(String, Credential)> = Vec::new();
        for c in credentials {
            let id = config::normalize_account_id(&c.account);
            if report.config.accounts.iter().all(|a| a.id != id) {
                warnings.push(ConfigIssue {
                    path: config::SECTION_PATH.into(),
                    message: format!(
                        "the host reported a credential for unknown account `{}`",
                        c.account
                    ),
                    fix: "check that the host and the plugin read the same configuration".into(),
                });
                continue;
            }
            creds.retain(|(a, _)| *a != id);
            creds.push((
                id,
                Credential {
                    source: c.source,
                    key_id: c.key_id.clone(),
                },
            ));
        }
        let accounts = report
            .config
            .accounts
            .iter()
            .map(|a| {
                let source = creds
                    .iter()
                    .find(|(id, _)| *id == a.id)
                    .map_or(CredentialSource::None, |(_, c)| c.source);
                if source == CredentialSource::None && a.enabled {
                    warnings.push(ConfigIssue {
                        path: a.path.clone(),
                        message: format!("account `{}` has no app key, so it cannot send", a.id),
                        fix: if a.is_default {
                            "set appKey or keyFile, or export KAKAOWORK_APP_KEY".into()
                        } else {
                            "set appKey or keyFile for this account".into()
                        },
                    });
                }
                AccountInfo {
                    id: a.id.clone(),
                    enabled: a.enabled,
                    configured: source != CredentialSource::None,
                    credential_source: source,
                    dm_policy: a.dm_policy,
                    api_base: a.api_base.clone(),
                    callback_path: a.callback_path.clone(),
                }
            })
            .collect();
        let default_account = report.config.default_account.clone();
        self.state = Some(Configured {
            config: report.config,
            credentials: creds,
        });
        Ok(ConfigureResult {
            accounts,
            default_account,
            warnings,
        })
    }

    /// The account a call uses, checked to be usable.
    fn account(&self, id: Option<&str>) -> Result<(&Account, Option<&str>), ChannelError> {
        let state = self.state.as_ref().ok_or(ChannelError::NotConfigured)?;
        let account = state
            .config
            .account(id)
            .map_err(|e| ChannelError::UnknownAccount(e.to_string()))?;
        if !account.enabled {
            return Err(ChannelError::AccountDisabled(account.id.clone()));
        }
        let cred = state
            .credentials
            .iter()
            .find(|(id, _)| *id == account.id)
            .map(|(_, c)| c);
        if cred.is_none_or(|c| c.source == CredentialSource::None) {
            return Err(ChannelError::MissingCredential(account.id.clone()));
        }
        Ok((account, cred.and_then(|c| c.key_id.as_deref())))
    }

    /// Stop calling with a key KakaoWork keeps rejecting; returns whether failures are on record.
    fn auth_guard(
        ports: &Ports<'_>,
        account: &Account,
        key_id: Option<&str>,
    ) -> Result<bool, ChannelError> {
        let key = format!("authfail/v1/{}", account.id);
        let Some(raw) = ports.kv.get(&key)? else {
            return Ok(false);
        };
        let text = String::from_utf8_lossy(&raw);
        let (stored_id, count) = text.rsplit_once('|').unwrap_or(("", "0"));
        let count: u32 = count.parse().unwrap_or(0);
        if stored_id == key_id.unwrap_or("") && count >= AUTH_FAILURE_LIMIT {
            return Err(ChannelError::Authentication(ApiFailure {
                code: ErrorCode::InvalidAuthentication.as_str().into(),
                message: format!(
                    "calls for account `{}` are stopped after {count} authentication failures in a row; \
                     fix its App Key (calls resume once the configured key changes)",
                    account.id
                ),
                http_status: 401,
                retryable: false,
                retry_after_ms: None,
            }));
        }
        Ok(true)
    }

    fn record_auth(
        ports: &Ports<'_>,
        account: &Account,
        key_id: Option<&str>,
        failed: bool,
        on_record: bool,
    ) {
        let key = format!("authfail/v1/{}", account.id);
        if !failed {
            if on_record {
                let _ = ports.kv.delete(&key);
            }
            return;
        }
        let id = key_id.unwrap_or("");
        let count = ports
            .kv
            .get(&key)
            .ok()
            .flatten()
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .and_then(|t| {
                let (sid, c) = t.rsplit_once('|')?;
                (sid == id).then(|| c.parse::<u32>().ok()).flatten()
            })
            .unwrap_or(0);
        let _ = ports.kv.set(
            &key,
            format!("{id}|{}", count + 1).as_bytes(),
            Some(30 * 24 * 3600 * 1000),
        );
    }

    /// The rate budget's key: the workspace (from `spaces.info`, cached), else the account.
    fn budget_key(ports: &Ports<'_>, account: &Account) -> Result<String, ChannelError> {
        let cache = format!("ws/v1/{}", account.id);
        if let Some(v) = ports.kv.get(&cache)? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        let own = format!("acct:{}", account.id);
        let gate = LimitGate {
            limiter: Limiter::new(ports.kv, &own, account.rate_limit),
            ports,
        };
        let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
        let scope = format!("{}/spaces.info", account.id);
        match retry::safe_call(ports, &scope, "spaces.info", || client.spaces_info()) {
            Ok(space) => {
                let key = format!("ws:{}", space.id);
                ports
                    .kv
                    .set(&cache, key.as_bytes(), Some(WORKSPACE_TTL_MS))?;
                // spaces.info was paid from the account's budget; count it in the shared one.
                Limiter::new(ports.kv, &key, account.rate_limit).charge(ports.clock.now_ms())?;
                Ok(key)
            }
            Err(ChannelError::Api(_)) => {
                // No workspace id to be had (e.g. the bot may not read spaces.info): the
                // account is its own budget; ask again in an hour.
                ports.kv.set(&cache, own.as_bytes(), Some(3600 * 1000))?;
                Ok(own)
            }
            Err(e) => Err(e),
        }
    }

    pub fn send(&self, ports: &Ports<'_>, req: &SendRequest) -> Result<SendReceipt, ChannelError> {
        let (account, key_id) = self.account(req.account.as_deref())?;
        let target =
            target::parse(&req.target).map_err(|e| ChannelError::InvalidTarget(e.to_string()))?;
        if req.text.trim().is_empty() {
            return Err(ChannelError::InvalidMessage("the text is empty".into()));
        }
        let chars = req.text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(ChannelError::InvalidMessage(format!(
                "the text is {chars} characters; one send takes at most {MAX_TEXT_CHARS}"
            )));
        }
        let idem = req.idempotency_key.trim();
        if idem.is_empty()
            || idem.len() > MAX_IDEMPOTENCY_KEY_BYTES
            || idem.chars().any(char::is_control)
        {
            return Err(ChannelError::InvalidMessage(format!(
                "the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes without control characters"
            )));
        }
        let on_record = Self::auth_guard(ports, account, key_id)?;
        let lkey = ledger::key(&account.id, idem);

        let mut stored = match ledger::load(ports.kv, &lkey) {
            Ok(Some(s)) => s,
            Ok(None) => {
                let fresh = Ledger::new(
                    &req.target,
                    &req.text,
                    chunk::split(&req.text, account.text_chunk_limit as usize),
                );
                match ledger::swap(ports.kv, &lkey, None, &fresh)? {
                    Some(s) => s,
                    // Another instance created it first: use theirs.
                    None => load_existing(ports, &lkey)?,
                }
            }
            Err(e) => return Err(load_error(e)),
        };
        if stored.ledger.target != req.target || stored.ledger.text_hash != ledger::fnv1a(&req.text)
        {
            return Err(ChannelError::InvalidMessage(format!(
                "idempotency key `{idem}` was already used for a different message; use a new key per message"
            )));
        }

        let mut budget_key: Option<String> = None;
        let mut i = 0;
        let mut rounds = 0;
        while i < stored.ledger.chunks.len() {
            rounds += 1;
            if rounds > 4 * stored.ledger.chunks.len() + 64 {
                // Persistent contention on the ledger: let the host come back.
                return Err(ChannelError::Deferred(100));
            }
            let now = ports.clock.now_ms();
            let chunk = &stored.ledger.chunks[i];
            let resend_unknown = account.delivery == Delivery::AtLeastOnce;
            match chunk.state {
                ChunkState::Sent => {
                    i += 1;
                    continue;
                }
                ChunkState::Ambiguous if !resend_unknown => {
                    i += 1;
                    continue;
                }
                ChunkState::Inflight => {
                    let since = chunk.since.unwrap_or(0);
                    if now < since + INFLIGHT_LEASE_MS {
                        // Another instance is sending it right now.
                        return Err(ChannelError::Deferred(since + INFLIGHT_LEASE_MS - now));
                    }
                    if !resend_unknown {
                        // Its owner vanished mid-request: the outcome is unknown.
                        let mut next = stored.ledger.clone();
                        next.chunks[i].state = ChunkState::Ambiguous;
                        next.chunks[i].last_error =
                            Some("the sending instance stopped mid-request".into());
                        stored = commit(ports, &lkey, stored, next)?;
                        continue;
                    }
                }
                ChunkState::Pending | ChunkState::Ambiguous => {}
            }

            // The rate budget, and for a user target the DM, come before the chunk is claimed.
            let bkey = match &budget_key {
                Some(k) => k.clone(),
                None => {
                    let k = Self::budget_key(ports, account)?;
                    budget_key = Some(k.clone());
                    k
                }
            };
            let gate = LimitGate {
                limiter: Limiter::new(ports.kv, &bkey, account.rate_limit),
                ports,
            };
            let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
            let conversation = match &target {
                Target::User(user) => match &stored.ledger.conversation_id {
                    Some(c) => Some(c.clone()),
                    None => {
                        let scope = format!("{}/{idem}/conversations.open", account.id);
                        let c = open_dm(ports, &client, account, user, &scope)?;
                        let mut next = stored.ledger.clone();
                        next.conversation_id = Some(c.clone());
                        stored = commit(ports, &lkey, stored, next)?;
                        Some(c)
                    }
                },
                Target::Conversation(c) => Some(c.clone()),
                Target::Email(_) => None,
            };

            // One Reply button per message, under its last part. Built before the claim, so a
            // KV failure reading the signing key leaves the chunk unclaimed. Its value is bound
            // to this account, conversation and user, and by a nonce to this message.
            let text = stored.ledger.chunks[i].text.clone();
            let dm_user = match &target {
                Target::User(u) => u.as_str(),
                _ => "",
            };
            let mut nonce = String::new();
            let blocks = if account.reply_button.enabled && i + 1 == stored.ledger.chunks.len() {
                let key = callback::signing_key(ports.kv, ports.random, &account.id)?;
                nonce = format!("{:016x}", ports.random.next_u64());
                let value = binding::button_value(
                    &key,
                    "reply",
                    &account.id,
                    conversation.as_deref().unwrap_or(""),
                    dm_user,
                    &nonce,
                );
                Some(callback::reply_blocks(
                    &text,
                    &account.reply_button.label,
                    &value,
                ))
            } else {
                None
            };

            // Admission first: a deferral must not leave the chunk claimed.
            gate.before().map_err(ChannelError::from)?;
            let mut claimed = stored.ledger.clone();
            claimed.chunks[i].state = ChunkState::Inflight;
            claimed.chunks[i].since = Some(now);
            claimed.chunks[i].attempts += 1;
            let Some(s) = ledger::swap(ports.kv, &lkey, Some(&stored.raw), &claimed)? else {
                stored = load_existing(ports, &lkey)?;
                continue;
            };
            stored = s;

            let admitted = Admitted(&gate);
            let sender =
                Client::new(ports.http, &account.id, &account.api_base).with_gate(&admitted);
            let result = match (&target, &conversation) {
                (Target::Email(addr), _) => {
                    sender.messages_send_by_email(addr, &text, blocks.as_ref())
                }
                (_, Some(conv)) => sender.messages_send(conv, &text, blocks.as_ref()),
                (_, None) => Err(ApiError::Envelope(EnvelopeError::Invalid {
                    status: 0,
                    detail: "no conversation for the target".into(),
                })),
            };
            let attempts = stored.ledger.chunks[i].attempts;
            let outcome = classify(ports, &gate, result, attempts, account.delivery);
            let mut next = stored.ledger.clone();
            let c = &mut next.chunks[i];
            c.since = None;
            let mut stop = None;
            match outcome {
                Attempt::Sent {
                    message_id,
                    conversation_id,
                    send_time,
                } => {
                    // Remember the message as ours, where it went and its button's nonce: its
                    // callbacks are checked against this record.
                    let record = binding::SentRecord {
                        group: matches!(target, Target::Conversation(_)),
                        // Where it was sent, as its button says; the answer's for an e-mail.
                        conversation: conversation
                            .clone()
                            .unwrap_or_else(|| conversation_id.clone()),
                        nonce: nonce.clone(),
                        user: dm_user.to_owned(),
                    };
                    let _ = ports.kv.set(
                        &sent_key(&account.id, &message_id),
                        record.encode().as_bytes(),
                        Some(callback::SENT_INDEX_TTL_MS),
                    );
                    c.state = ChunkState::Sent;
                    c.message_id = Some(message_id);
                    c.send_time = Some(send_time);
                    c.last_error = None;
                    if next.conversation_id.is_none() {
                        next.conversation_id = Some(conversation_id);
                    }
                    Self::record_auth(ports, account, key_id, false, on_record);
                }
                Attempt::Unknown(why) => {
                    c.state = ChunkState::Ambiguous;
                    c.last_error = Some(why);
                }
                Attempt::NotSent(err) => {
                    c.state = ChunkState::Pending;
                    c.last_error = Some(err.to_string());
                    if matches!(err, ChannelError::Authentication(_)) {
                        Self::record_auth(ports, account, key_id, true, on_record);
                    }
                    let mut reopen = false;
                    if let (Target::User(user), ChannelError::Api(f)) = (&target, &err)
                        && f.code == ErrorCode::ConversationNotFound.as_str()
                    {
                        // The cached DM is gone (deleted, or another workspace's): open it
                        // again and send this part once more, in this same call.
                        next.conversation_id = None;
                        let _ = ports.kv.delete(&dm_cache_key(&account.id, user));
                        reopen = attempts <= 1;
                    }
                    if !reopen {
                        stop = Some(err);
                    }
                }
            }
            stored = commit_owned(ports, &lkey, stored, next, i)?;
            if let Some(err) = stop {
                return Err(err);
            }
            if stored.ledger.chunks[i].state == ChunkState::Pending {
                // Sent again after reopening the DM; the part's attempts bound this to once.
                continue;
            }
            i += 1;
        }
        Ok(receipt(account, idem, &stored.ledger))
    }

    pub fn probe(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<ProbeResult, ChannelError> {
        let (account, key_id) = self.account(account)?;
        let on_record = Self::auth_guard(ports, account, key_id)?;
        let bkey = Self::budget_key(ports, account)?;
        let gate = LimitGate {
            limiter: Limiter::new(ports.kv, &bkey, account.rate_limit),
            ports,
        };
        let started = ports.clock.now_ms();
        let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
        let scope = format!("{}/bots.info", account.id);
        let result = retry::safe_call(ports, &scope, "bots.info", || client.bots_info());
        let bot = match result {
            Ok(b) => {
                Self::record_auth(ports, account, key_id, false, on_record);
                b
            }
            Err(e) => {
                if matches!(e, ChannelError::Authentication(_)) {
                    Self::record_auth(ports, account, key_id, true, on_record);
                }
                return Err(e);
            }
        };
        Ok(ProbeResult {
            account: account.id.clone(),
            bot_id: bot.bot_id.0,
            title: bot.title,
            status: bot.status,
            elapsed_ms: ports.clock.now_ms().saturating_sub(started),
        })
    }

    /// A KakaoWork callback: the HTTP answer, and the inbound events for the agent.
    pub fn handle_callback(
        &self,
        ports: &Ports<'_>,
        req: &CallbackRequest,
    ) -> Result<CallbackOutcome, ChannelError> {
        let state = self.state.as_ref().ok_or(ChannelError::NotConfigured)?;
        let answer = |response| {
            Ok(CallbackOutcome {
                response,
                events: vec![],
                outbound: vec![],
            })
        };
        let path = req.path.split('?').next().unwrap_or("");
        let Some(account) = state
            .config
            .accounts
            .iter()
            .find(|a| a.enabled && a.callback_path.as_deref() == Some(path))
        else {
            return answer(CallbackResponse::error(
                404,
                "no account listens on this path",
            ));
        };
        // Without a secret, only the explicit opt-out lets a callback in.
        if account.callback_secret.is_none() && !account.accept_unauthenticated {
            return answer(CallbackResponse::error(
                401,
                "this account has no callbackSecret, so it accepts no callbacks",
            ));
        }
        if let Err(resp) = callback::check_transport(req, account.callback_secret.as_deref()) {
            return answer(resp);
        }
        let cb = match callback::parse(&req.body) {
            Ok(c) => c,
            Err(resp) => return answer(resp),
        };
        let Some(sent) = ports
            .kv
            .get(&sent_key(&account.id, cb.message_id.as_str()))?
        else {
            return answer(CallbackResponse::error(
                403,
                "the message was not sent by this bot",
            ));
        };
        let Some(record) = binding::SentRecord::decode(&String::from_utf8_lossy(&sent)) else {
            return answer(CallbackResponse::error(
                403,
                "the message was not sent by this version of the plugin",
            ));
        };
        let key = callback::signing_key(ports.kv, ports.random, &account.id)?;
        let claim = binding::Claim {
            account: &account.id,
            message_id: cb.message_id.as_str(),
            conversation: cb.conversation_id.as_str(),
            user: cb.user_id.as_str(),
        };
        let checked = match binding::check(&key, &cb.value, &record, &claim) {
            Ok(c) => c,
            Err(refusal) => return answer(CallbackResponse::error(403, refusal.why())),
        };
        let payload = if checked.modal {
            format!("modal:{}", checked.purpose)
        } else {
            checked.purpose
        };
        // Where the plugin sent the message, not what the body says.
        let chat = if record.group {
            ChatType::Group
        } else {
            ChatType::Direct
        };

        if cb.kind == Kind::Submission
            && payload == "modal:reply"
            && cb
                .actions
                .iter()
                .all(|(k, v)| k != callback::REPLY_INPUT || v.trim().is_empty())
        {
            return answer(CallbackResponse::error(400, "the reply is empty"));
        }

        // Replays within the window: 200 and nothing else. Modal requests may repeat freely.
        let fp = callback::fingerprint(&cb);
        if cb.kind != Kind::RequestModal
            && !ports.kv.compare_and_swap(
                &format!("dedup/v1/{}/{fp}", account.id),
                None,
                Some(b"1"),
                Some(callback::DEDUP_TTL_MS),
            )?
        {
            return answer(CallbackResponse::json(200, &serde_json::json!({})));
        }

        let ok = CallbackResponse::json(200, &serde_json::json!({}));
        match self.check_policy(ports, Some(&account.id), cb.user_id.as_str(), chat)? {
            PolicyDecision::Allow(_) => {}
            PolicyDecision::Deny(_) => return answer(ok),
            PolicyDecision::PairingRequired {
                code,
                created,
                reply,
            } => {
                let mut outbound = vec![];
                if created {
                    let notice = SendRequest {
                        account: Some(account.id.clone()),
                        target: format!("user:{}", cb.user_id),
                        text: reply,
                        idempotency_key: format!("pairing-reply-{}-{code}", cb.user_id),
                    };
                    // Sent now if the budget allows; otherwise the host delivers it.
                    if self.send(ports, &notice).is_err() {
                        outbound.push(notice);
                    }
                }
                return Ok(CallbackOutcome {
                    response: ok,
                    events: vec![],
                    outbound,
                });
            }
        }

        let (kind, text, action_name, action_value) = match cb.kind {
            Kind::RequestModal => {
                if payload != "reply" {
                    return answer(CallbackResponse::error(400, "this button opens no modal"));
                }
                let value = binding::modal_value(
                    &key,
                    "reply",
                    &account.id,
                    &record.conversation,
                    cb.user_id.as_str(),
                    cb.message_id.as_str(),
                );
                let modal = callback::reply_modal(&value);
                return answer(CallbackResponse::json(200, &modal));
            }
            Kind::SubmitAction => (
                EventKind::Action,
                cb.action_name.clone().unwrap_or_else(|| payload.clone()),
                cb.action_name.clone(),
                Some(payload.clone()),
            ),
            Kind::Submission if payload == "modal:reply" => {
                let typed = cb
                    .actions
                    .iter()
                    .find(|(k, _)| k == callback::REPLY_INPUT)
                    .map(|(_, v)| v.trim().to_owned())
                    .unwrap_or_default();
                if typed.is_empty() {
                    return answer(CallbackResponse::error(400, "the reply is empty"));
                }
                (EventKind::Text, typed, None, None)
            }
            Kind::Submission => {
                let map: serde_json::Map<String, serde_json::Value> = cb
                    .actions
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                (
                    EventKind::ModalSubmission,
                    serde_json::Value::Object(map).to_string(),
                    None,
                    Some(payload.clone()),
                )
            }
        };
        let sender = cb.user_id.as_str();
        let event = InboundEvent {
            account: account.id.clone(),
            kind,
            sender_id: sender.to_owned(),
            sender_name: self.sender_name(ports, account, sender),
            conversation_id: record.conversation.clone(),
            chat_type: chat,
            message_id: format!("{}:{fp}", cb.message_id),
            timestamp_ms: ports.clock.now_ms(),
            text,
            from: format!("kakaowork:{sender}"),
            to: format!("kakaowork:{}", record.conversation),
            action_name,
            action_value,
        };
        Ok(CallbackOutcome {
            response: ok,
            events: vec![event],
            outbound: vec![],
        })
    }

    /// The sender's display name from `users.info`, cached for an hour; best effort.
    fn sender_name(&self, ports: &Ports<'_>, account: &Account, user: &str) -> Option<String> {
        let key = format!("user/v1/{}/{user}", account.id);
        if let Some(v) = ports.kv.get(&key).ok().flatten() {
            return String::from_utf8(v).ok();
        }
        let (account, _) = self.account(Some(&account.id)).ok()?;
        let bkey = Self::budget_key(ports, account).ok()?;
        let gate = LimitGate {
            limiter: Limiter::new(ports.kv, &bkey, account.rate_limit),
            ports,
        };
        let name = Client::new(ports.http, &account.id, &account.api_base)
            .with_gate(&gate)
            .users_info(user)
            .ok()?
            .name?;
        let _ = ports.kv.set(&key, name.as_bytes(), Some(3600 * 1000));
        Some(name)
    }

    /// An account for policy and pairing work: it must exist; no credential is needed.
    fn policy_account(&self, id: Option<&str>) -> Result<&Account, ChannelError> {
        let state = self.state.as_ref().ok_or(ChannelError::NotConfigured)?;
        state
            .config
            .account(id)
            .map_err(|e| ChannelError::UnknownAccount(e.to_string()))
    }

    pub fn check_policy(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
        sender: &str,
        chat: ChatType,
    ) -> Result<PolicyDecision, ChannelError> {
        let account = self.policy_account(account)?;
        let sender = config::normalize_allow_entry(sender);
        if sender.is_empty()
            || sender.len() > 64
            || sender == "*"
            || sender.chars().any(char::is_control)
        {
            return Err(ChannelError::InvalidTarget(format!(
                "`{sender}` is not a KakaoWork user id"
            )));
        }
        if !account.enabled {
            return Ok(PolicyDecision::Deny(format!(
                "account `{}` is disabled",
                account.id
            )));
        }
        let id = &account.id;
        let listed = |list: &[String]| list.iter().any(|e| e == "*" || *e == sender);
        // Users approved by pairing, from the host's store; read only when the config does
        // not decide alone.
        let approved = || -> Result<bool, ChannelError> {
            Ok(ports
                .pairing
                .read_allow_from(id)?
                .iter()
                .any(|u| config::normalize_allow_entry(u) == sender))
        };
        Ok(match chat {
            ChatType::Direct => match account.dm_policy {
                DmPolicy::Disabled => PolicyDecision::Deny(format!(
                    "direct messages are disabled for `{id}` (dmPolicy \"disabled\")"
                )),
                DmPolicy::Open => {
                    if account.allow_from.is_empty() || listed(&account.allow_from) {
                        PolicyDecision::Allow(format!("dmPolicy \"open\" on `{id}`"))
                    } else {
                        PolicyDecision::Deny(format!(
                            "dmPolicy \"open\" on `{id}` admits only allowFrom, and {sender} is not in it"
                        ))
                    }
                }
                DmPolicy::Allowlist | DmPolicy::Pairing if listed(&account.allow_from) => {
                    PolicyDecision::Allow(format!("{sender} is in allowFrom of `{id}`"))
                }
                DmPolicy::Allowlist | DmPolicy::Pairing if approved()? => {
                    PolicyDecision::Allow(format!("{sender} was approved by pairing on `{id}`"))
                }
                DmPolicy::Allowlist => PolicyDecision::Deny(format!(
                    "{sender} is not in the allowlist of `{id}` (dmPolicy \"allowlist\"; nothing is sent to them)"
                )),
                DmPolicy::Pairing => match ports.pairing.upsert_request(id, &sender)? {
                    Some(c) => PolicyDecision::PairingRequired {
                        reply: c.reply.unwrap_or_else(|| pairing_reply(&sender, &c.code)),
                        code: c.code,
                        created: c.created,
                    },
                    None => PolicyDecision::Deny(format!(
                        "{sender} needs pairing, but the host's pairing store for `{id}` has no \
                         room for another pending request; approve or reject one (they also expire)"
                    )),
                },
            },
            ChatType::Group => {
                let list = account
                    .group_allow_from
                    .as_deref()
                    .unwrap_or(&account.allow_from);
                match account.group_policy {
                    GroupPolicy::Disabled => PolicyDecision::Deny(format!(
                        "group conversations are disabled for `{id}` (groupPolicy \"disabled\")"
                    )),
                    GroupPolicy::Open => {
                        PolicyDecision::Allow(format!("groupPolicy \"open\" on `{id}`"))
                    }
                    GroupPolicy::Allowlist if listed(list) => PolicyDecision::Allow(format!(
                        "{sender} is in the group allowlist of `{id}`"
                    )),
                    GroupPolicy::Allowlist if approved()? => {
                        PolicyDecision::Allow(format!("{sender} was approved by pairing on `{id}`"))
                    }
                    GroupPolicy::Allowlist => PolicyDecision::Deny(format!(
                        "{sender} is not allowed in group conversations of `{id}` (groupPolicy \"allowlist\")"
                    )),
                }
            }
        })
    }
}

fn sent_key(account: &str, message_id: &str) -> String {
    format!("sent/v1/{account}/{message_id}")
}

/// The pairing reply, in OpenClaw's four parts.
pub fn pairing_reply(user: &str, code: &str) -> String {
    format!(
        "Moltbot: access not configured.\n\nYour KakaoWork user id: {user}\n\nPairing code: {code}\n\n\
         Ask the bot owner to approve with:\nmoltbot pairing approve kakao {code}"
    )
}

fn load_error(e: LoadError) -> ChannelError {
    match e {
        LoadError::Kv(e) => e.into(),
        LoadError::Corrupt(m) => {
            ChannelError::Storage(format!("the send ledger is unreadable: {m}"))
        }
    }
}

fn load_existing(ports: &Ports<'_>, key: &str) -> Result<Stored, ChannelError> {
    ledger::load(ports.kv, key)
        .map_err(load_error)?
        .ok_or_else(|| ChannelError::Storage("the send ledger vanished while in use".into()))
}

/// Write a change that does not depend on owning a chunk; on a race, the caller re-reads.
fn commit(
    ports: &Ports<'_>,
    key: &str,
    stored: Stored,
    next: Ledger,
) -> Result<Stored, ChannelError> {
    match ledger::swap(ports.kv, key, Some(&stored.raw), &next)? {
        Some(s) => Ok(s),
        None => load_existing(ports, key),
    }
}

/// Record the outcome of chunk `i`, which this call owns (it is inflight under our claim):
/// re-apply it onto the latest record if another instance changed something else meanwhile.
fn commit_owned(
    ports: &Ports<'_>,
    key: &str,
    mut stored: Stored,
    next: Ledger,
    i: usize,
) -> Result<Stored, ChannelError> {
    let mut next = next;
    for _ in 0..16 {
        if let Some(s) = ledger::swap(ports.kv, key, Some(&stored.raw), &next)? {
            return Ok(s);
        }
        let latest = load_existing(ports, key)?;
        let mut merged = latest.ledger.clone();
        merged.chunks[i] = next.chunks[i].clone();
        if merged.conversation_id.is_none() {
            merged.conversation_id = next.conversation_id.clone();
        }
        next = merged;
        stored = latest;
    }
    Err(ChannelError::Storage(
        "could not record a sent chunk: the ledger keeps changing".into(),
    ))
}

fn open_dm(
    ports: &Ports<'_>,
    client: &Client<'_>,
    account: &Account,
    user: &str,
    scope: &str,
) -> Result<String, ChannelError> {
    let key = dm_cache_key(&account.id, user);
    // The cache only saves a request; a KV outage must not stop delivery.
    if let Some(c) = ports
        .kv
        .get(&key)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
    {
        return Ok(c);
    }
    let conv = retry::safe_call(ports, scope, "conversations.open", || {
        client.conversations_open(user)
    })?;
    let _ = ports
        .kv
        .set(&key, conv.id.as_str().as_bytes(), Some(DM_CACHE_TTL_MS));
    Ok(conv.id.0)
}

/// Sort one attempt's result into sent, known-not-sent (with the error to return) or unknown.
fn classify(
    ports: &Ports<'_>,
    gate: &LimitGate<'_>,
    result: Result<crate::api::Message, ApiError>,
    attempts: u32,
    delivery: Delivery,
) -> Attempt {
    let backoff = |ports: &Ports<'_>| limiter::backoff_ms(attempts, ports.random.next_u64());
    let exhausted = attempts >= MAX_ATTEMPTS;
    let unknown = |why: String| -> Attempt {
        match delivery {
            Delivery::AtMostOnce => Attempt::Unknown(why),
            Delivery::AtLeastOnce => Attempt::NotSent(ChannelError::Transport(TransportFailure {
                message: format!("{why}; the chunk will be sent again (at-least-once)"),
                retry_after_ms: (!exhausted).then(|| backoff(ports)),
            })),
        }
    };
    match result {
        Ok(m) => Attempt::Sent {
            message_id: m.id.0,
            conversation_id: m.conversation_id.0,
            send_time: m.send_time.unwrap_or(ports.clock.now_ms() / 1000),
        },
        Err(ApiError::Envelope(EnvelopeError::Api { status: 429, .. })) => {
            // `after` recorded the block; report how long it is.
            let wait = gate
                .limiter
                .blocked_for(ports.clock.now_ms())
                .unwrap_or(0)
                .max(1000);
            Attempt::NotSent(ChannelError::Deferred(wait))
        }
        // A 5xx does not prove the message was refused before it was stored (a failing proxy,
        // a timeout behind the load balancer): its outcome is unknown.
        Err(ApiError::Envelope(EnvelopeError::Api {
            code,
            message,
            status,
            ..
        })) if status >= 500 => unknown(format!(
            "KakaoWork answered {status} ({}: {message}); the message may have been stored",
            code.as_str()
        )),
        // A 4xx: KakaoWork refused the message; the same request would be refused again.
        Err(e @ ApiError::Envelope(EnvelopeError::Api { .. })) => {
            Attempt::NotSent(ChannelError::from(e))
        }
        // A 2xx we could not read may still have posted the message.
        Err(ApiError::Envelope(e @ EnvelopeError::Invalid { .. })) => unknown(e.to_string()),
        Err(ApiError::Http(HttpError::Timeout)) => unknown("no answer within the timeout".into()),
        Err(ApiError::Http(HttpError::Transport {
            message,
            maybe_delivered: true,
        })) => unknown(message),
        Err(ApiError::Http(HttpError::TooLarge)) => {
            unknown("the answer was too large to read".into())
        }
        Err(ApiError::Http(HttpError::Transport {
            message,
            maybe_delivered: false,
        })) => Attempt::NotSent(ChannelError::Transport(TransportFailure {
            message,
            retry_after_ms: (!exhausted).then(|| backoff(ports)),
        })),
        Err(e) => Attempt::NotSent(e.into()),
    }
}

fn receipt(account: &Account, idem: &str, ledger: &Ledger) -> SendReceipt {
    let chunks: Vec<ChunkReceipt> = ledger
        .chunks
        .iter()
        .enumerate()
        .map(|(i, c)| ChunkReceipt {
            index: i as u32,
            outcome: if c.state == ChunkState::Sent {
                ChunkOutcome::Sent
            } else {
                ChunkOutcome::Ambiguous
            },
            message_id: c.message_id.clone(),
            send_time: c.send_time,
        })
        .collect();
    SendReceipt {
        account: account.id.clone(),
        idempotency_key: idem.to_owned(),
        message_id: chunks
            .first()
            .and_then(|c| c.message_id.clone())
            .unwrap_or_default(),
        conversation_id: ledger.conversation_id.clone().unwrap_or_default(),
        send_time: chunks.iter().find_map(|c| c.send_time).unwrap_or(0),
        ambiguous: chunks.iter().any(|c| c.outcome == ChunkOutcome::Ambiguous),
        chunks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakePairing, FixedClock, MemoryKv, ScriptedHttp, SeqRandom};
    use crate::ports::Kv;
    use std::cell::Cell;

    struct World {
        kv: MemoryKv,
        pairing: FakePairing,
        clock: FixedClock,
        random: SeqRandom,
    }

    impl World {
        fn new() -> Self {
            let kv = MemoryKv::default();
            // Skip spaces.info unless a test wants it.
            kv.set("ws/v1/default", b"ws:1", None).unwrap();
            Self {
                kv,
                pairing: FakePairing::default(),
                clock: FixedClock(Cell::new(1_000_000)),
                random: SeqRandom(Cell::new(7)),
            }
        }
        fn ports<'a>(&'a self, http: &'a ScriptedHttp) -> Ports<'a> {
            Ports {
                http,
                kv: &self.kv,
                pairing: &self.pairing,
                clock: &self.clock,
                random: &self.random,
            }
        }
    }

    fn configured(json: &str, sources: &[(&str, CredentialSource)]) -> Channel {
        let mut ch = Channel::default();
        let creds: Vec<_> = sources
            .iter()
            .map(|(a, s)| CredentialStatus {
                account: (*a).into(),
                source: *s,
                key_id: Some("k1".into()),
            })
            .collect();
        ch.configure(&with_secret(json), &creds).unwrap();
        ch
    }

    /// `json` with a callback secret at the top unless it says something about authentication.
    fn with_secret(json: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        if let Some(m) = v.as_object_mut()
            && !m.contains_key("callbackSecret")
            && !m.contains_key(config::UNAUTHENTICATED_OPT_OUT)
        {
            m.insert(
                "callbackSecret".into(),
                "test-callback-secret-0123456789".into(),
            );
        }
        v.to_string()
    }

    fn default_channel() -> Channel {
        configured("{}", &[("default", CredentialSource::Env)])
    }

    fn req(target: &str) -> SendRequest {
        req_k(target, "hello", "key-1")
    }

    fn req_k(target: &str, text: &str, key: &str) -> SendRequest {
        SendRequest {
            account: None,
            target: target.into(),
            text: text.into(),
            idempotency_key: key.into(),
        }
    }

    const OPEN: &str = r#"{"success":true,"conversation":{"id":"77","type":"dm"}}"#;
    const SENT: &str = r#"{"success":true,"message":{"id":"9007199254740993","conversation_id":77,"send_time":1700000000}}"#;
    const E500: &str =
        r#"{"success":false,"error":{"code":"internal_server_error","message":"x"}}"#;

    fn sent(id: u64) -> String {
        format!(
            r#"{{"success":true,"message":{{"id":"{id}","conversation_id":77,"send_time":1700000000}}}}"#
        )
    }

    fn endpoints(http: &ScriptedHttp) -> Vec<String> {
        http.requests()
            .iter()
            .map(|r| r.url.rsplit('/').next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn user_target_opens_once_then_uses_the_cache() {
        let ch = default_channel();
        let w = World::new();
        let http = ScriptedHttp::new(vec![(200, OPEN), (200, SENT), (200, SENT)]);
        let ports = w.ports(&http);
        let r = ch.send(&ports, &req("user:10000003")).unwrap();
        assert_eq!(r.message_id, "9007199254740993");
        assert_eq!(r.conversation_id, "77");
        assert_eq!(r.send_time, 1700000000);
        assert!(!r.ambiguous);
        ch.send(&ports, &req_k("kakaowork:user:10000003", "again", "key-2"))
            .unwrap();
        assert_eq!(
            endpoints(&http),
            ["conversations.open", "messages.send", "messages.send"]
        );
    }

    #[test]
    fn same_key_twice_sends_once() {
        let ch = default_channel();
        let w = World::new();
        let http = ScriptedHttp::new(vec![(200, SENT)]);
        let ports = w.ports(&http);
        let a = ch.send(&ports, &req("5")).unwrap();
        let b = ch.send(&ports, &req("5")).unwrap();
        assert_eq!(a, b);
        assert_eq!(http.requests().len(), 1);
        let e = ch
            .send(&ports, &req_k("5", "other text", "key-1"))
            .unwrap_err();
        assert!(matches!(e, ChannelError::InvalidMessage(m) if m.contains("different message")));
    }

    #[test]
    fn failure_part_way_resumes_at_the_first_unsent_chunk() {
        // at-least-once: a 5xx part is sent again when the send is resumed.
        let ch = configured(
            r#"{"textChunkLimit": 16, "delivery": "at-least-once"}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        let text = "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbb ccccccccccccccc";
        let s1 = sent(1);
        let s3 = sent(3);
        let http = ScriptedHttp::new(vec![(200, &s1), (500, E500)]);
        let ports = w.ports(&http);
        match ch.send(&ports, &req_k("5", text, "long")).unwrap_err() {
            ChannelError::Transport(t) => {
                assert!(t.retry_after_ms.is_some(), "{t:?}");
                assert!(t.message.contains("at-least-once"), "{t:?}");
            }
            other => panic!("{other:?}"),
        }
        let http2 = ScriptedHttp::new(vec![(200, &sent(2)), (200, &s3)]);
        let r = ch
            .send(&w.ports(&http2), &req_k("5", text, "long"))
            .unwrap();
        let ids: Vec<_> = r
            .chunks
            .iter()
            .map(|c| c.message_id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        let bodies: Vec<String> = http
            .requests()
            .iter()
            .chain(http2.requests().iter())
            .map(|r| String::from_utf8(r.body.clone().unwrap()).unwrap())
            .collect();
        assert!(
            bodies[0].contains("aaaa")
                && bodies[1].contains("bbbb")
                && bodies[2].contains("bbbb")
                && bodies[3].contains("cccc")
        );
    }

    #[test]
    fn a_long_message_has_one_reply_button_under_its_last_chunk() {
        let ch = configured(
            r#"{"textChunkLimit": 16}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        let text = "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbb ccccccccccccccc";
        let http = ScriptedHttp::new(vec![(200, &sent(1)), (200, &sent(2)), (200, &sent(3))]);
        ch.send(&w.ports(&http), &req_k("5", text, "long-button"))
            .unwrap();
        let bodies: Vec<serde_json::Value> = http
            .requests()
            .iter()
            .map(|r| serde_json::from_slice(r.body.as_ref().unwrap()).unwrap())
            .collect();
        assert_eq!(bodies.len(), 3);
        for b in &bodies[..2] {
            assert!(b.get("blocks").is_none(), "no button mid-message: {b}");
        }
        assert!(bodies[0]["text"].as_str().unwrap().contains("aaaa"));
        let last = bodies[2]["blocks"].as_array().unwrap();
        assert!(last[0]["text"].as_str().unwrap().contains("cccc"));
        assert_eq!(
            last.last().unwrap()["elements"][0]["action_type"],
            "call_modal"
        );
    }

    #[test]
    fn unknown_outcome_is_ambiguous_and_never_resent_by_default() {
        let ch = default_channel();
        let w = World::new();
        let http = ScriptedHttp::from_results(vec![Err(HttpError::Timeout)]);
        let r = ch.send(&w.ports(&http), &req("5")).unwrap();
        assert!(r.ambiguous);
        assert_eq!(r.chunks[0].outcome, ChunkOutcome::Ambiguous);
        let http2 = ScriptedHttp::new(vec![]);
        let again = ch.send(&w.ports(&http2), &req("5")).unwrap();
        assert!(again.ambiguous);
        assert!(
            http2.requests().is_empty(),
            "an ambiguous chunk is not resent"
        );
    }

    #[test]
    fn at_least_once_resends_unknown_outcomes() {
        let ch = configured(
            r#"{"delivery": "at-least-once"}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        let http = ScriptedHttp::from_results(vec![Err(HttpError::Transport {
            message: "reset".into(),
            maybe_delivered: true,
        })]);
        match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
            ChannelError::Transport(t) => assert!(t.retry_after_ms.is_some()),
            other => panic!("{other:?}"),
        }
        let http2 = ScriptedHttp::new(vec![(200, SENT)]);
        let r = ch.send(&w.ports(&http2), &req("5")).unwrap();
        assert!(!r.ambiguous);
    }

    #[test]
    fn abandoned_inflight_chunk_becomes_ambiguous_after_the_lease() {
        let ch = default_channel();
        let w = World::new();
        let mut l = Ledger::new("5", "hello", vec!["hello".into()]);
        l.chunks[0].state = ChunkState::Inflight;
        l.chunks[0].since = Some(w.clock.0.get());
        w.kv.set(&ledger::key("default", "key-1"), &l.encode(), None)
            .unwrap();
        let http = ScriptedHttp::new(vec![]);
        match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
            ChannelError::Deferred(ms) => assert_eq!(ms, INFLIGHT_LEASE_MS),
            other => panic!("{other:?}"),
        }
        w.clock.0.set(w.clock.0.get() + INFLIGHT_LEASE_MS);
        let r = ch.send(&w.ports(&http), &req("5")).unwrap();
        assert!(r.ambiguous);
        assert!(http.requests().is_empty());
    }

    #[test]
    fn rate_limit_429_defers_and_blocks_other_instances() {
        let ch = default_channel();
        let w = World::new();
        let mut resp = crate::ports::HttpResponse {
            status: 429,
            headers: vec![("Retry-After".into(), "30".into())],
            body: br#"{"success":false,"error":{"code":"too_many_requests","message":"x"}}"#
                .to_vec(),
        };
        resp.headers.push(("RateLimit-Limit".into(), "100".into()));
        let http = ScriptedHttp::from_results(vec![Ok(resp)]);
        match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
            ChannelError::Deferred(ms) => assert!((30_000..=31_000).contains(&ms), "{ms}"),
            other => panic!("{other:?}"),
        }
        // Another message, another instance: deferred without a request.
        let other = default_channel();
        let http2 = ScriptedHttp::new(vec![]);
        assert!(matches!(
            other.send(&w.ports(&http2), &req_k("6", "x", "k2")),
            Err(ChannelError::Deferred(_))
        ));
        assert!(http2.requests().is_empty());
        assert_eq!(
            Limiter::new(&w.kv, "ws:1", Default::default())
                .budget()
                .unwrap(),
            100
        );
    }

    #[test]
    fn spent_budget_defers_without_a_request() {
        let ch = configured(
            r#"{"rateLimit": {"requestsPerMinute": 2, "burst": 1}}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        let http = ScriptedHttp::new(vec![(200, &sent(1))]);
        ch.send(&w.ports(&http), &req_k("5", "a", "a")).unwrap();
        match ch.send(&w.ports(&http), &req_k("5", "b", "b")).unwrap_err() {
            ChannelError::Deferred(ms) => assert_eq!(ms, 30_000),
            other => panic!("{other:?}"),
        }
        assert_eq!(http.requests().len(), 1);
    }

    #[test]
    fn kv_failure_fails_closed() {
        let ch = default_channel();
        let w = World::new();
        w.kv.fail.set(true);
        let http = ScriptedHttp::new(vec![]);
        assert!(matches!(
            ch.send(&w.ports(&http), &req("5")),
            Err(ChannelError::Storage(_))
        ));
        assert!(http.requests().is_empty());
    }

    #[test]
    fn workspace_budget_is_shared_by_accounts() {
        let ch = configured(
            r#"{"accounts": {"a": {}, "b": {}}}"#,
            &[
                ("a", CredentialSource::Config),
                ("b", CredentialSource::Config),
            ],
        );
        let w = World::new();
        let space = r#"{"success":true,"space":{"id":230021}}"#;
        let http = ScriptedHttp::new(vec![
            (200, space),
            (200, &sent(1)),
            (200, space),
            (200, &sent(2)),
        ]);
        let ports = w.ports(&http);
        let mut ra = req_k("5", "x", "1");
        ra.account = Some("a".into());
        let mut rb = req_k("5", "y", "2");
        rb.account = Some("b".into());
        ch.send(&ports, &ra).unwrap();
        ch.send(&ports, &rb).unwrap();
        assert_eq!(w.kv.get("ws/v1/a").unwrap().unwrap(), b"ws:230021");
        assert_eq!(w.kv.get("ws/v1/b").unwrap().unwrap(), b"ws:230021");
        assert_eq!(
            endpoints(&http),
            [
                "spaces.info",
                "messages.send",
                "spaces.info",
                "messages.send"
            ]
        );
    }

    #[test]
    fn repeated_authentication_failures_stop_calls_until_the_key_changes() {
        let ch = default_channel();
        let w = World::new();
        let bad = r#"{"success":false,"error":{"code":"invalid_authentication","message":"x"}}"#;
        let http = ScriptedHttp::new(vec![(401, bad), (401, bad), (401, bad)]);
        for i in 0..3 {
            assert!(matches!(
                ch.send(&w.ports(&http), &req_k("5", "x", &format!("k{i}"))),
                Err(ChannelError::Authentication(_))
            ));
        }
        match ch
            .send(&w.ports(&http), &req_k("5", "x", "k9"))
            .unwrap_err()
        {
            ChannelError::Authentication(f) => {
                assert!(f.message.contains("stopped"), "{}", f.message)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(http.requests().len(), 3, "no call once stopped");
        // A new key (a new configuration) lifts the stop.
        let mut fixed = Channel::default();
        fixed
            .configure(
                &with_secret("{}"),
                &[CredentialStatus {
                    account: "default".into(),
                    source: CredentialSource::Env,
                    key_id: Some("k2".into()),
                }],
            )
            .unwrap();
        let http2 = ScriptedHttp::new(vec![(200, SENT)]);
        fixed
            .send(&w.ports(&http2), &req_k("5", "x", "k10"))
            .unwrap();
        assert!(w.kv.get("authfail/v1/default").unwrap().is_none());
    }

    #[test]
    fn validation_errors_are_not_retryable() {
        let ch = default_channel();
        let w = World::new();
        let http = ScriptedHttp::new(vec![(
            400,
            r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#,
        )]);
        match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
            ChannelError::Api(f) => {
                assert_eq!(f.code, "conversation_not_found");
                assert!(!f.retryable && f.retry_after_ms.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retries_stop_being_offered_after_max_attempts() {
        let ch = configured(
            r#"{"delivery": "at-least-once"}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        for attempt in 1..=MAX_ATTEMPTS {
            w.clock.0.set(w.clock.0.get() + 60_000);
            let http = ScriptedHttp::new(vec![(503, E500)]);
            match ch.send(&w.ports(&http), &req("5")).unwrap_err() {
                ChannelError::Transport(t) => assert_eq!(
                    t.retry_after_ms.is_some(),
                    attempt < MAX_ATTEMPTS,
                    "attempt {attempt}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_5xx_to_messages_send_is_ambiguous_and_not_resent_at_most_once() {
        let ch = default_channel();
        let w = World::new();
        let http = ScriptedHttp::new(vec![(500, E500)]);
        let r = ch.send(&w.ports(&http), &req("5")).unwrap();
        assert!(r.ambiguous, "{r:?}");
        assert_eq!(r.chunks[0].outcome, ChunkOutcome::Ambiguous);
        // The same key again: reported again, and nothing is posted a second time.
        let again = ScriptedHttp::new(vec![]);
        let r2 = ch.send(&w.ports(&again), &req("5")).unwrap();
        assert!(r2.ambiguous);
        assert!(again.requests().is_empty(), "{:?}", endpoints(&again));
        // A 4xx is a refusal: not ambiguous, an error.
        let bad = r#"{"success":false,"error":{"code":"invalid_parameter","message":"x"}}"#;
        let http = ScriptedHttp::new(vec![(400, bad)]);
        match ch.send(&w.ports(&http), &req_k("5", "other", "key-2")) {
            Err(ChannelError::Api(f)) => assert!(!f.retryable, "{f:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stale_dm_cache_reopens() {
        let ch = default_channel();
        let w = World::new();
        w.kv.set("dm/v1/default/5", b"666", None).unwrap();
        let nf = r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#;
        let http = ScriptedHttp::new(vec![(404, nf), (200, OPEN), (200, SENT)]);
        // One call: the stale DM is dropped, reopened, and the message sent there.
        ch.send(&w.ports(&http), &req("user:5")).unwrap();
        assert_eq!(
            w.kv.get("dm/v1/default/5").unwrap().as_deref(),
            Some(&b"77"[..])
        );
        assert_eq!(
            endpoints(&http),
            ["messages.send", "conversations.open", "messages.send"]
        );
    }

    #[test]
    fn a_dm_that_is_gone_even_when_reopened_fails_after_one_retry() {
        let ch = default_channel();
        let w = World::new();
        w.kv.set("dm/v1/default/5", b"666", None).unwrap();
        let nf = r#"{"success":false,"error":{"code":"conversation_not_found","message":"x"}}"#;
        let http = ScriptedHttp::new(vec![(404, nf), (200, OPEN), (404, nf)]);
        match ch.send(&w.ports(&http), &req("user:5")).unwrap_err() {
            ChannelError::Api(f) => assert_eq!(f.code, "conversation_not_found"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            endpoints(&http),
            ["messages.send", "conversations.open", "messages.send"]
        );
    }

    #[test]
    fn bad_input_fails_before_any_request() {
        let ch = configured(
            r#"{"accounts":{"a":{},"off":{"enabled":false},"nokey":{}}}"#,
            &[
                ("a", CredentialSource::Config),
                ("off", CredentialSource::Config),
            ],
        );
        let w = World::new();
        let http = ScriptedHttp::new(vec![]);
        let ports = w.ports(&http);
        type Check = fn(&ChannelError) -> bool;
        let cases: Vec<(SendRequest, Check)> = vec![
            (req("#general"), |e| {
                matches!(e, ChannelError::InvalidTarget(_))
            }),
            (
                SendRequest {
                    text: " ".into(),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::InvalidMessage(_)),
            ),
            (
                SendRequest {
                    text: "가".repeat(MAX_TEXT_CHARS + 1),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::InvalidMessage(_)),
            ),
            (
                SendRequest {
                    idempotency_key: "".into(),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::InvalidMessage(_)),
            ),
            (
                SendRequest {
                    account: Some("zzz".into()),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::UnknownAccount(_)),
            ),
            (
                SendRequest {
                    account: Some("off".into()),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::AccountDisabled(_)),
            ),
            (
                SendRequest {
                    account: Some("nokey".into()),
                    ..req("1")
                },
                |e| matches!(e, ChannelError::MissingCredential(_)),
            ),
        ];
        for (r, check) in cases {
            let e = ch.send(&ports, &r).unwrap_err();
            assert!(check(&e), "{r:?} gave {e:?}");
        }
        assert!(http.requests().is_empty());
        let fresh = Channel::default();
        assert_eq!(
            fresh.send(&ports, &req("1")),
            Err(ChannelError::NotConfigured)
        );
    }

    #[test]
    fn configure_reports_sources_and_missing_keys() {
        let mut ch = Channel::default();
        let r = ch
            .configure(
                &with_secret(r#"{"accounts":{"a":{"appKey":true},"b":{}},"defaultAccount":"a"}"#),
                &[CredentialStatus {
                    account: "a".into(),
                    source: CredentialSource::Config,
                    key_id: None,
                }],
            )
            .unwrap();
        assert_eq!(r.default_account, "a");
        assert_eq!(r.accounts[0].credential_source, CredentialSource::Config);
        assert!(r.accounts[0].configured);
        assert!(!r.accounts[1].configured);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.path == "channels.kakao.accounts.b" && w.message.contains("no app key"))
        );
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        Allow,
        Deny,
        Pair,
    }

    fn decide(ch: &Channel, w: &World, sender: &str, chat: ChatType) -> Want {
        let http = ScriptedHttp::new(vec![]);
        match ch
            .check_policy(&w.ports(&http), None, sender, chat)
            .unwrap()
        {
            PolicyDecision::Allow(_) => Want::Allow,
            PolicyDecision::Deny(_) => Want::Deny,
            PolicyDecision::PairingRequired { .. } => Want::Pair,
        }
    }

    #[test]
    fn policy_table() {
        use Want::*;
        // Sender 100 is in allowFrom, 200 was approved by pairing, 300 is unknown.
        // Columns: direct 100, 200, 300; group 100, 200, 300.
        let table: &[(&str, [Want; 6])] = &[
            (
                r#"{"dmPolicy":"pairing","allowFrom":["100"]}"#,
                [Allow, Allow, Pair, Allow, Allow, Deny],
            ),
            (
                r#"{"dmPolicy":"allowlist","allowFrom":["100"]}"#,
                [Allow, Allow, Deny, Allow, Allow, Deny],
            ),
            (
                r#"{"dmPolicy":"open","allowFrom":["100"]}"#,
                [Allow, Deny, Deny, Allow, Allow, Deny],
            ),
            (
                r#"{"dmPolicy":"open"}"#,
                [Allow, Allow, Allow, Deny, Allow, Deny],
            ),
            (
                r#"{"dmPolicy":"disabled","allowFrom":["100"]}"#,
                [Deny, Deny, Deny, Allow, Allow, Deny],
            ),
            // The wildcard admits everyone, except where DMs are disabled.
            (
                r#"{"dmPolicy":"pairing","allowFrom":["*"]}"#,
                [Allow, Allow, Allow, Allow, Allow, Allow],
            ),
            (
                r#"{"dmPolicy":"allowlist","allowFrom":["*"]}"#,
                [Allow, Allow, Allow, Allow, Allow, Allow],
            ),
            (
                r#"{"dmPolicy":"open","allowFrom":["*"]}"#,
                [Allow, Allow, Allow, Allow, Allow, Allow],
            ),
            (
                r#"{"dmPolicy":"disabled","allowFrom":["*"]}"#,
                [Deny, Deny, Deny, Allow, Allow, Allow],
            ),
            // Group policies and their own allowlist.
            (
                r#"{"groupPolicy":"open"}"#,
                [Pair, Allow, Pair, Allow, Allow, Allow],
            ),
            (
                r#"{"groupPolicy":"disabled","allowFrom":["100"]}"#,
                [Allow, Allow, Pair, Deny, Deny, Deny],
            ),
            (
                r#"{"allowFrom":["100"],"groupAllowFrom":["300"]}"#,
                [Allow, Allow, Pair, Deny, Allow, Allow],
            ),
            // The default policy is pairing; prefixed and numeric entries match.
            (
                r#"{"allowFrom":["kakao:100"]}"#,
                [Allow, Allow, Pair, Allow, Allow, Deny],
            ),
            (
                r#"{"allowFrom":[100]}"#,
                [Allow, Allow, Pair, Allow, Allow, Deny],
            ),
            (
                r#"{"enabled":false,"allowFrom":["*"]}"#,
                [Deny, Deny, Deny, Deny, Deny, Deny],
            ),
        ];
        for (cfg, want) in table {
            let ch = configured(cfg, &[("default", CredentialSource::Env)]);
            let w = World::new();
            // The host's store approved 200 (as `kw:200`: entries are normalised).
            w.pairing
                .allowed
                .borrow_mut()
                .push(("default".into(), "kw:200".into()));
            let got: Vec<Want> = [ChatType::Direct, ChatType::Group]
                .iter()
                .flat_map(|chat| ["100", "200", "300"].map(|s| (s, *chat)))
                .map(|(s, chat)| decide(&ch, &w, s, chat))
                .collect();
            assert_eq!(got, want, "{cfg}");
        }
    }

    #[test]
    fn pairing_through_check_policy_then_approval_in_the_host_store() {
        let ch = default_channel();
        let w = World::new();
        let http = ScriptedHttp::new(vec![]);
        let ports = w.ports(&http);
        let (code, reply) = match ch
            .check_policy(&ports, None, "kw:555", ChatType::Direct)
            .unwrap()
        {
            PolicyDecision::PairingRequired {
                code,
                created: true,
                reply,
            } => (code, reply),
            other => panic!("{other:?}"),
        };
        // The host issued the code for the normalised sender of this account.
        assert_eq!(
            w.pairing.pending.borrow()[0],
            ("default".to_string(), "555".to_string(), code.clone())
        );
        // The host gave no text of its own, so the guest wrote it.
        assert!(
            reply.contains("Your KakaoWork user id: 555")
                && reply.contains(&format!("Pairing code: {code}"))
        );
        // Asked again: same code, not created, so the host does not repeat the reply.
        match ch
            .check_policy(&ports, None, "555", ChatType::Direct)
            .unwrap()
        {
            PolicyDecision::PairingRequired {
                code: c2,
                created: false,
                ..
            } => assert_eq!(c2, code),
            other => panic!("{other:?}"),
        }
        // Approved with the host's own command: allowed from then on.
        w.pairing.approve("default", &code);
        assert!(matches!(
            ch.check_policy(&ports, None, "555", ChatType::Direct)
                .unwrap(),
            PolicyDecision::Allow(_)
        ));
        assert!(matches!(
            ch.check_policy(&ports, None, "", ChatType::Direct),
            Err(ChannelError::InvalidTarget(_))
        ));
    }

    #[test]
    fn the_hosts_own_reply_text_is_used_and_a_full_store_denies() {
        let ch = default_channel();
        let mut w = World::new();
        w.pairing.reply = Some("OpenClaw: ask the owner to run openclaw pairing approve".into());
        w.pairing.capacity = 1;
        let http = ScriptedHttp::new(vec![]);
        let ports = w.ports(&http);
        match ch
            .check_policy(&ports, None, "1", ChatType::Direct)
            .unwrap()
        {
            PolicyDecision::PairingRequired { reply, .. } => {
                assert!(reply.starts_with("OpenClaw:"), "{reply}")
            }
            other => panic!("{other:?}"),
        }
        match ch
            .check_policy(&ports, None, "2", ChatType::Direct)
            .unwrap()
        {
            PolicyDecision::Deny(why) => assert!(why.contains("pending"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unavailable_pairing_store_fails_closed() {
        let ch = configured(
            r#"{"dmPolicy":"allowlist","allowFrom":["100"]}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        w.pairing.fail.set(true);
        let http = ScriptedHttp::new(vec![]);
        let ports = w.ports(&http);
        // allowFrom alone decides: the store is not needed.
        assert!(matches!(
            ch.check_policy(&ports, None, "100", ChatType::Direct),
            Ok(PolicyDecision::Allow(_))
        ));
        assert!(matches!(
            ch.check_policy(&ports, None, "300", ChatType::Direct),
            Err(ChannelError::Storage(_))
        ));
    }

    fn callback_req(body: serde_json::Value) -> CallbackRequest {
        CallbackRequest {
            method: "POST".into(),
            path: "/kakaowork/default/callback".into(),
            query: "token=test-callback-secret-0123456789".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn a_send_only_account_refuses_callbacks_and_the_opt_out_admits_them() {
        let w = World::new();
        let http = ScriptedHttp::new(vec![]);
        let body = serde_json::json!({"type": "submit_action", "message_id": 1, "conversation_id": 2,
            "react_user_id": 3, "value": "x"});
        let mut req = callback_req(body);
        req.query = String::new();
        let mut ch = Channel::default();
        ch.configure(
            r#"{"replyButton": false}"#,
            &[CredentialStatus {
                account: "default".into(),
                source: CredentialSource::Env,
                key_id: None,
            }],
        )
        .unwrap();
        let r = ch.handle_callback(&w.ports(&http), &req).unwrap();
        assert_eq!(r.response.status, 401);
        let mut open = Channel::default();
        open.configure(
            r#"{"dangerouslyAcceptUnauthenticatedCallbacks": true}"#,
            &[CredentialStatus {
                account: "default".into(),
                source: CredentialSource::Env,
                key_id: None,
            }],
        )
        .unwrap();
        // Past authentication: refused later, by the checks of the body.
        let r = open.handle_callback(&w.ports(&http), &req).unwrap();
        assert!(matches!(r.response.status, 400 | 403), "{r:?}");
    }

    #[test]
    fn submit_action_becomes_an_action_event() {
        let ch = configured(
            r#"{"groupPolicy":"open"}"#,
            &[("default", CredentialSource::Env)],
        );
        let w = World::new();
        w.kv.set("sent/v1/default/555", b"g|77|n555|", None)
            .unwrap();
        w.kv.set("user/v1/default/10", "홍길동".as_bytes(), None)
            .unwrap();
        let key = callback::signing_key(&w.kv, &w.random, "default").unwrap();
        let http = ScriptedHttp::new(vec![]);
        let body = serde_json::json!({"type": "submit_action", "action_time": "t", "message": {"id": "555", "conversation_id": 77},
                                      "react_user_id": 10, "action_name": "approve", "value": binding::button_value(&key, "deploy:9913", "default", "77", "", "n555")});
        let out = ch
            .handle_callback(&w.ports(&http), &callback_req(body))
            .unwrap();
        assert_eq!(out.response.status, 200);
        assert_eq!(
            out.events.len(),
            1,
            "{}",
            String::from_utf8_lossy(&out.response.body)
        );
        let e = &out.events[0];
        assert_eq!(e.kind, EventKind::Action);
        assert_eq!(e.action_name.as_deref(), Some("approve"));
        assert_eq!(e.action_value.as_deref(), Some("deploy:9913"));
        assert_eq!(e.chat_type, ChatType::Group);
        assert_eq!(e.sender_name.as_deref(), Some("홍길동"));
        assert_eq!(
            (e.from.as_str(), e.to.as_str()),
            ("kakaowork:10", "kakaowork:77")
        );
        assert!(
            http.requests().is_empty(),
            "the cached name needs no request"
        );
    }

    #[test]
    fn reply_button_can_be_turned_off_and_relabelled() {
        let w = World::new();
        let off = configured(
            r#"{"replyButton": false}"#,
            &[("default", CredentialSource::Env)],
        );
        let http = ScriptedHttp::new(vec![(200, SENT)]);
        off.send(&w.ports(&http), &req_k("5", "plain", "off-1"))
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(http.requests()[0].body.as_ref().unwrap()).unwrap();
        assert!(body.get("blocks").is_none(), "{body}");

        let on = configured(
            r#"{"replyButton": {"label": "Reply"}}"#,
            &[("default", CredentialSource::Env)],
        );
        let http = ScriptedHttp::new(vec![(200, SENT)]);
        on.send(&w.ports(&http), &req_k("5", "with button", "on-1"))
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(http.requests()[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body["blocks"][0]["text"], "with button");
        let button = &body["blocks"][1]["elements"][0];
        assert_eq!(button["text"], "Reply");
        assert_eq!(button["action_type"], "call_modal");
        // The message is remembered as ours, with its button's nonce, so the button may call
        // back, from that conversation only.
        let raw =
            w.kv.get("sent/v1/default/9007199254740993")
                .unwrap()
                .unwrap();
        let record = binding::SentRecord::decode(&String::from_utf8(raw).unwrap()).unwrap();
        assert!(record.group && !record.nonce.is_empty(), "{record:?}");
        let key = callback::signing_key(&w.kv, &w.random, "default").unwrap();
        let claim = binding::Claim {
            account: "default",
            message_id: "9007199254740993",
            conversation: &record.conversation,
            user: "5",
        };
        let checked = binding::check(&key, button["value"].as_str().unwrap(), &record, &claim);
        assert_eq!(checked.unwrap().purpose, "reply");
        let elsewhere = binding::Claim {
            conversation: "999",
            ..claim
        };
        assert!(
            binding::check(&key, button["value"].as_str().unwrap(), &record, &elsewhere).is_err()
        );
    }
}
