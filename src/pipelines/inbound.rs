//! `handle-callback`: a KakaoWork callback turned into the answer for KakaoWork and the events
//! for the agent (see [`crate::api::callback`] for the checks and [`crate::state::binding`] for
//! the values). The pipeline, in order (each step may end it with an answer):
//!
//! 1. [`receive`]: the account by path, transport and token checked, the body parsed.
//! 2. [`bind`]: the value bound to the message the plugin sent; an empty reply refused.
//! 3. [`replay_mark`]: a callback used already makes nothing; else how it will be marked.
//! 4. [`refused`]: the account's policy; pairing for a sender who must pair first.
//! 5. [`content`]: what the value's purpose makes of it (a click, a reply, a modal to open).
//! 6. [`event`]: the event for the agent.
//! 7. [`commit`]: the callback marked as used; of two racing, the one that marks it wins.

use crate::api::budget::{self, LimitGate};
use crate::api::callback::{self, CallbackRequest, CallbackResponse};
use crate::api::client::Client;
use crate::contract::ports::Ports;
use crate::contract::records::{
    CallbackOutcome, ChatType, EventKind, InboundEvent, PairingChallenge, PolicyDecision,
    SendRequest,
};
use crate::model::config::Account;
use crate::model::error::ChannelError;
use crate::pipelines::context::Core;
use crate::state::binding;

/// `users.info` for a sender's name inside a callback: KakaoWork waits only briefly for the
/// answer, so a slow lookup gives up and the event goes without the name.
pub const NAME_LOOKUP_TIMEOUT_MS: u32 = 1_500;

/// At most this many accepted clicks and modal openings per message over its buttons' life:
/// every one keeps a key for as long as the value lives, so storage stays bounded.
pub const MAX_CALLBACKS_PER_MESSAGE: u64 = 1_000;

/// The callback's value checked: the account's keys, where the message went, what it is for.
struct Bound {
    key: std::rc::Rc<binding::Keys>,
    record: binding::SentRecord,
    purpose: binding::Purpose,
}

/// How a callback is marked as used once its event is ready: a click for as long as its value
/// lives, a submission by consuming its modal's nonce (so a replay at any time makes nothing).
enum Mark {
    Click(String),
    Modal(String),
}

/// An answer for KakaoWork that makes no event.
fn no_event(response: CallbackResponse) -> CallbackOutcome {
    CallbackOutcome {
        response,
        events: vec![],
        outbound: vec![],
    }
}

fn answer(response: CallbackResponse) -> Result<CallbackOutcome, ChannelError> {
    Ok(no_event(response))
}

fn ok_empty() -> CallbackResponse {
    CallbackResponse::json(200, &serde_json::json!({}))
}

/// A KakaoWork callback: the HTTP answer, and the inbound events for the agent. The steps,
/// each of which may end the call with an answer: [`receive`] (route by path, transport and
/// token, parse) -> [`bind`] (the value to its message) -> [`replay_mark`] -> [`refused`]
/// (policy, pairing) -> [`content`] (what the purpose makes of it) -> [`event`] -> [`commit`]
/// (mark as used).
pub fn handle_callback(
    core: &Core,
    ports: &Ports<'_>,
    req: &CallbackRequest,
) -> Result<CallbackOutcome, ChannelError> {
    let (account, mut cb) = match receive(core, ports, req)? {
        Ok(v) => v,
        Err(resp) => return answer(resp),
    };
    let bound = match bind(core, ports, account, &cb)? {
        Ok(b) => b,
        Err(resp) => return answer(resp),
    };
    // An empty reply is refused before anything is used up: its modal stays open.
    if matches!(bound.purpose, binding::Purpose::ReplyModal { .. })
        && cb
            .actions
            .iter()
            .all(|(k, v)| k != callback::REPLY_INPUT || v.trim().is_empty())
    {
        return answer(CallbackResponse::error(400, "the reply is empty"));
    }
    // Where the plugin sent the message, not what the body says.
    let chat = if bound.record.group {
        ChatType::Group
    } else {
        ChatType::Direct
    };
    let Some(mark) = replay_mark(ports, account, &cb, &bound)? else {
        return answer(ok_empty());
    };
    if let Some(out) = refused(core, ports, account, &cb, chat)? {
        return Ok(out);
    }
    let content = match content(core, ports, account, &bound, &mut cb)? {
        Ok(c) => c,
        Err(resp) => return answer(resp),
    };
    let event = event(core, ports, account, &cb, &bound, chat, content);
    // One event per callback: of two identical ones racing, the one that marks it wins.
    if !commit(ports, account, &cb, mark)? {
        return answer(ok_empty());
    }
    Ok(CallbackOutcome {
        response: ok_empty(),
        events: vec![event],
        outbound: vec![],
    })
}

/// The account listening on the request's path, the request's transport and token checked,
/// and its body parsed.
fn receive<'c>(
    core: &'c Core,
    ports: &Ports<'_>,
    req: &CallbackRequest,
) -> Result<Result<(&'c Account, callback::Callback), CallbackResponse>, ChannelError> {
    let state = core.state.as_ref().ok_or(ChannelError::NotConfigured)?;
    let path = req.path.split('?').next().unwrap_or("");
    let Some(account) = state
        .config
        .accounts
        .iter()
        .find(|a| a.enabled && a.callback_path.as_deref() == Some(path))
    else {
        return Ok(Err(CallbackResponse::error(
            404,
            "no account listens on this path",
        )));
    };
    let token = token_of(core, ports, account)?;
    if let Err(resp) = callback::check_transport(req, token.as_deref()) {
        return Ok(Err(resp));
    }
    Ok(callback::parse(&req.body).map(|cb| (account, cb)))
}

/// The answer when the sender may not reach the agent: nothing for a denied sender, the
/// pairing message when the sender must pair first; `None` when allowed.
fn refused(
    core: &Core,
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
    chat: ChatType,
) -> Result<Option<CallbackOutcome>, ChannelError> {
    let decision = crate::pipelines::policy::check_policy(
        core,
        ports,
        Some(&account.id),
        cb.user_id.as_str(),
        chat,
    )?;
    Ok(match decision {
        PolicyDecision::Allow(_) => None,
        PolicyDecision::Deny(_) => Some(no_event(ok_empty())),
        PolicyDecision::PairingRequired(challenge) => {
            Some(pairing_answer(core, ports, account, cb, challenge))
        }
    })
}

/// What a callback says, by its value's purpose.
struct Content<'b> {
    kind: EventKind,
    text: String,
    action: Option<&'b binding::ActionButton>,
}

/// What the value's purpose makes of the callback: a click, a typed reply; or an answer with
/// no event (the reply modal opened, an empty reply).
fn content<'b>(
    core: &Core,
    ports: &Ports<'_>,
    account: &Account,
    bound: &'b Bound,
    cb: &mut callback::Callback,
) -> Result<Result<Content<'b>, CallbackResponse>, ChannelError> {
    let content = |kind, text, action| Ok(Ok(Content { kind, text, action }));
    match (&bound.purpose, &mut cb.actions) {
        (binding::Purpose::Reply, _) => {
            let nonce = match open_modal(ports, account, cb, &core.memo)? {
                Ok(n) => n,
                Err(resp) => return Ok(Err(resp)),
            };
            let value = binding::modal_value(
                &bound.key,
                &account.id,
                &bound.record.conversation,
                cb.user_id.as_str(),
                cb.message_id.as_str(),
                &nonce,
            );
            Ok(Err(CallbackResponse::json(
                200,
                &callback::reply_modal(&value),
            )))
        }
        // A host's button reaches the agent as what it is, a click: its signed name,
        // caption and value, whatever the body's `action_name` says. The text describes
        // the click, so that no host takes a value such as `/reset` for a command.
        (binding::Purpose::Action(button), _) => {
            content(EventKind::Action, click_text(button), Some(button))
        }
        (binding::Purpose::ReplyModal { .. }, actions) => match typed_reply(actions) {
            Some(typed) => content(EventKind::Text, typed, None),
            None => Ok(Err(CallbackResponse::error(400, "the reply is empty"))),
        },
        // `bind` refused these already.
        (binding::Purpose::Unknown, _) => Ok(Err(CallbackResponse::error(
            400,
            "field `value` fits no callback",
        ))),
    }
}

/// The event for the agent: who, where (the sent record's conversation and kind, never the
/// body's), an id unique to this callback, and what it says.
fn event(
    core: &Core,
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
    bound: &Bound,
    chat: ChatType,
    content: Content<'_>,
) -> InboundEvent {
    let sender = cb.user_id.as_str();
    let action = content.action;
    InboundEvent {
        account: account.id.clone(),
        kind: content.kind,
        sender_id: sender.to_owned(),
        sender_name: sender_name(core, ports, account, sender),
        conversation_id: bound.record.conversation.clone(),
        chat_type: chat,
        message_id: format!(
            "{}:{}",
            cb.message_id,
            callback::fingerprint(bound.key.fingerprint_key(), cb)
        ),
        timestamp_ms: ports.clock.now_ms(),
        text: content.text,
        from: format!("kakaowork:{sender}"),
        to: format!("kakaowork:{}", bound.record.conversation),
        action_name: action.map(|b| b.name.clone()),
        action_value: action.map(|b| b.value.clone()),
        action_label: action.and_then(|b| b.label.clone()),
    }
}

/// The value bound to a message this bot sent, and fit for this callback's type; `Err` is
/// the answer (403 for a value that is not this message's, 400 for a misused one).
fn bind(
    core: &Core,
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
) -> Result<Result<Bound, CallbackResponse>, ChannelError> {
    let Some(sent) = ports.kv.get(&crate::state::keys::sent(
        &account.id,
        cb.message_id.as_str(),
    ))?
    else {
        return Ok(Err(CallbackResponse::error(
            403,
            "the message was not sent by this bot",
        )));
    };
    let Some(record) = binding::SentRecord::decode(&String::from_utf8_lossy(&sent)) else {
        return Ok(Err(CallbackResponse::error(
            403,
            "the message was not sent by this version of the plugin",
        )));
    };
    if !record.bot.is_empty() && record.bot == cb.user_id.as_str() {
        return Ok(Err(CallbackResponse::error(
            400,
            "field `react_user_id` is the bot itself: a bot does not click its own message",
        )));
    }
    let key = core.memo.signing_key(&account.id, || {
        callback::signing_key(ports.kv, ports.random, &account.id)
    })?;
    let claim = binding::Claim {
        account: &account.id,
        message_id: cb.message_id.as_str(),
        conversation: cb.conversation_id.as_str(),
        user: cb.user_id.as_str(),
    };
    let purpose = match binding::check(&key, &cb.value, &record, &claim) {
        Ok(c) => c.purpose,
        Err(refusal) => return Ok(Err(CallbackResponse::error(403, refusal.why()))),
    };
    match purpose.callback_type() {
        Some(t) if t == cb.kind.as_str() => Ok(Ok(Bound {
            key,
            record,
            purpose,
        })),
        Some(t) => Ok(Err(CallbackResponse::error(
            400,
            &format!(
                "field `value` was made for a `{t}` callback, not `{}`",
                cb.kind.as_str()
            ),
        ))),
        None => Ok(Err(CallbackResponse::error(
            400,
            "field `value` is for no callback this version of the plugin takes",
        ))),
    }
}

fn pairing_answer(
    core: &Core,
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
    challenge: PairingChallenge,
) -> CallbackOutcome {
    let PairingChallenge {
        code,
        created,
        reply,
    } = challenge;
    let mut outbound = vec![];
    if created {
        let notice = SendRequest {
            account: Some(account.id.clone()),
            target: format!("user:{}", cb.user_id),
            text: reply,
            idempotency_key: format!("pairing-reply-{}-{code}", cb.user_id),
            format: crate::contract::records::TextFormat::Plain,
            blocks: None,
            buttons: vec![],
        };
        // Sent now if the budget allows; otherwise the host delivers it.
        if crate::pipelines::send::send(core, ports, &notice).is_err() {
            outbound.push(notice);
        }
    }
    CallbackOutcome {
        response: ok_empty(),
        events: vec![],
        outbound,
    }
}

/// The token a callback URL must carry (`?token=`): the configured `callbackSecret`, else
/// the one the plugin made; `None` only under the explicit opt-out.
pub fn callback_token(
    core: &Core,
    ports: &Ports<'_>,
    account: Option<&str>,
) -> Result<Option<String>, ChannelError> {
    // No app key is needed to show where KakaoWork should call.
    let account = core.policy_account(account)?;
    if !account.enabled {
        return Err(ChannelError::AccountDisabled(account.id.clone()));
    }
    Ok(token_of(core, ports, account)?.map(|t| t.to_string()))
}

fn token_of(
    core: &Core,
    ports: &Ports<'_>,
    account: &Account,
) -> Result<Option<std::rc::Rc<str>>, ChannelError> {
    if let Some(s) = &account.callback_secret {
        return Ok(Some(s.as_str().into()));
    }
    if account.accept_unauthenticated {
        return Ok(None);
    }
    let t = core.memo.callback_token(&account.id, || {
        callback::callback_token(ports.kv, ports.random, &account.id)
    })?;
    Ok(Some(t))
}

/// The sender's display name from `users.info`, cached for an hour; best effort, and
/// quick: KakaoWork waits for the callback's answer, so a slow lookup gives no name.
fn sender_name(core: &Core, ports: &Ports<'_>, account: &Account, user: &str) -> Option<String> {
    let key = crate::state::keys::user_name(&account.id, user);
    if let Some(v) = ports.kv.get(&key).ok().flatten() {
        return String::from_utf8(v).ok();
    }
    let (account, _) = core.account(Some(&account.id)).ok()?;
    let bkey = budget::key(ports, &core.memo, account, ports.clock.now_ms()).ok()?;
    let gate = LimitGate::new(ports, &core.memo, &bkey, account);
    let name = Client::new(ports.http, &account.id, &account.api_base)
        .with_gate(&gate)
        .with_timeout(NAME_LOOKUP_TIMEOUT_MS)
        .users_info(user)
        .ok()?
        .name?;
    let _ = ports.kv.set(
        &key,
        name.as_bytes(),
        Some(crate::state::keys::USER_NAME_TTL_MS),
    );
    Some(name)
}

/// The reply's text, trimmed (moved, not copied, when there is nothing to trim); `None` when
/// there is none.
fn typed_reply(actions: &mut [(String, String)]) -> Option<String> {
    let typed = actions
        .iter_mut()
        .find(|(k, _)| k == callback::REPLY_INPUT)
        .map(|(_, v)| {
            let v = std::mem::take(v);
            match v.trim() {
                t if t.len() == v.len() => v,
                t => t.to_owned(),
            }
        })
        .unwrap_or_default();
    (!typed.is_empty()).then_some(typed)
}

/// What an `action` event says: the click, its caption and its value, as data.
pub fn click_text(button: &binding::ActionButton) -> String {
    let label = button.label.as_deref().unwrap_or(&button.name);
    format!("[Clicked the button \"{label}\" (value: {})]", button.value)
}

/// How this callback will be marked as used, or `None` when it was used already (a replay:
/// answered 200 with nothing). Nothing is written yet: if the call fails before its event is
/// ready (a trap, a storage error), KakaoWork's retry is not taken for a replay.
fn replay_mark(
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
    bound: &Bound,
) -> Result<Option<Mark>, ChannelError> {
    Ok(match &bound.purpose {
        binding::Purpose::ReplyModal { nonce } => {
            let key = crate::state::keys::modal(&account.id, nonce);
            let open = ports.kv.get(&key)?;
            (open.as_deref() == Some(cb.message_id.as_str().as_bytes())).then_some(Mark::Modal(key))
        }
        // Opening a modal may repeat: each opening mints its own single-use value.
        binding::Purpose::Reply => Some(Mark::Modal(String::new())),
        _ => {
            let fp = callback::fingerprint(bound.key.fingerprint_key(), cb);
            let key = crate::state::keys::click(&account.id, &fp);
            ports.kv.get(&key)?.is_none().then_some(Mark::Click(key))
        }
    })
}

/// Counts one more accepted callback on the message; `false` past the bound.
fn count(
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
) -> Result<bool, ChannelError> {
    let key = crate::state::keys::callback_count(&account.id, cb.message_id.as_str());
    for _ in 0..16 {
        let old = ports.kv.get(&key)?;
        let n = old
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if n >= MAX_CALLBACKS_PER_MESSAGE {
            return Ok(false);
        }
        let next = (n + 1).to_string();
        if ports.kv.compare_and_swap(
            &key,
            old.as_deref(),
            Some(next.as_bytes()),
            Some(crate::state::keys::SENT_TTL_MS),
        )? {
            return Ok(true);
        }
    }
    Err(ChannelError::Storage(
        "the message's callback count kept changing under this instance".into(),
    ))
}

/// A fresh modal's nonce, recorded for its one submission; `Err` is the answer when the
/// message has had too many callbacks.
fn open_modal(
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
    memo: &crate::state::memo::Memo,
) -> Result<Result<String, CallbackResponse>, ChannelError> {
    if !count(ports, account, cb)? {
        return Ok(Err(too_many()));
    }
    let mut nonce = String::with_capacity(16);
    crate::model::text::push_hex(&mut nonce, &memo.nonce(ports.random).to_be_bytes());
    ports.kv.set(
        &crate::state::keys::modal(&account.id, &nonce),
        cb.message_id.as_str().as_bytes(),
        Some(crate::state::keys::MODAL_TTL_MS),
    )?;
    Ok(Ok(nonce))
}

fn too_many() -> CallbackResponse {
    CallbackResponse::error(
        429,
        "this message has had too many callbacks; send a new message",
    )
}

/// Marks the callback as used; `false` when another call marked it first (or the message is
/// past its bound): then it makes no event.
fn commit(
    ports: &Ports<'_>,
    account: &Account,
    cb: &callback::Callback,
    mark: Mark,
) -> Result<bool, ChannelError> {
    match mark {
        // The modal's nonce, consumed: the one submission it takes.
        Mark::Modal(key) => Ok(key.is_empty()
            || ports.kv.compare_and_swap(
                &key,
                Some(cb.message_id.as_str().as_bytes()),
                None,
                None,
            )?),
        // A click stays used for as long as its value lives.
        Mark::Click(key) => Ok(count(ports, account, cb)?
            && ports.kv.compare_and_swap(
                &key,
                None,
                Some(b"1"),
                Some(crate::state::keys::SENT_TTL_MS),
            )?),
    }
}

#[cfg(test)]
mod tests;
