//! `send`: one message to a target, idempotent and resumable. The pipeline, in order:
//!
//! 1. [`check`]: account, target, size, idempotency key; the message cut into parts.
//! 2. [`start`]: the ledger, taken to be a new message's until KV says otherwise.
//! 3. per chunk, [`step`]: [`settle`] (done already? another instance's?) -> the rate budget ->
//!    [`route`] (the DM, group or conversation) -> buttons bound -> [`claim`] in the ledger ->
//!    [`post`] (the API call, its result classified) -> [`record`] in the ledger.
//! 4. [`finish`]: an unspent admission refunded; the receipt.
//!
//! Each message has a ledger in KV (see [`crate::state::ledger`]), every API call passes the
//! workspace rate limiter (see [`crate::api::budget`]), and when the budget is spent the call
//! returns `Deferred` instead of waiting.

use std::borrow::Cow;

use crate::api::auth_guard;
use crate::api::budget::{self, Admitted, LimitGate};
use crate::api::client::{ApiError, Client, Gate};
use crate::api::retry;
use crate::api::rooms::{self, Room};
use crate::contract::ports::{HttpError, Ports};
use crate::contract::records::{ChunkOutcome, ChunkReceipt, SendReceipt, SendRequest};
use crate::model::config::{Account, Delivery};
use crate::model::envelope::{EnvelopeError, ErrorCode};
use crate::model::error::{ChannelError, TransportFailure};
use crate::model::target::{self, Target};
use crate::pipelines::context::Core;
use crate::render::blockkit;
use crate::state::binding;
use crate::state::ledger::{self, ChunkState, Ledger, LoadError, Stored};
use crate::state::limiter::{self, Limiter};
use crate::state::memo::Memo;

/// The longest text one `send` accepts (it is split into chunks).
pub const MAX_TEXT_CHARS: usize = 100_000;
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;
/// An inflight chunk whose owner has not finished within this is presumed abandoned. It
/// exceeds the host's longest request timeout.
pub const INFLIGHT_LEASE_MS: u64 = 60_000;
/// Attempts per chunk for retryable failures before `send` stops asking to be called again.
pub const MAX_ATTEMPTS: u32 = 6;

/// What one attempt at a chunk ended with.
enum Attempt {
    Sent {
        message_id: String,
        conversation_id: String,
        send_time: u64,
        /// The bot's user id, as KakaoWork answered it.
        bot: String,
    },
    /// Known not delivered; the chunk stays pending. The error is what `send` returns.
    NotSent(ChannelError),
    /// The request may have been delivered.
    Unknown(String),
}

/// The request, checked (step 1): what every later step reads.
struct Checked<'a> {
    account: &'a Account,
    key_id: Option<&'a str>,
    target: Target,
    /// The ledger's KV key.
    lkey: String,
    /// What a stored ledger must match to be this message's.
    me: Identity<'a>,
    /// Whether authentication failures are on record for the account.
    on_record: bool,
}

/// Where the call stands between chunks: the ledger as last read or written, and what the
/// call learnt on the way.
struct Run {
    stored: Stored,
    /// An admission granted and not yet spent on a request (after a lost claim).
    admitted: bool,
    /// Whether KV was asked for this message's ledger (a group target needs to know).
    ledger_checked: bool,
    /// What the conversation is, as KakaoWork says: its sent record and buttons follow it.
    room: Option<Room>,
}

/// What a step leaves the loop to do with the chunk it looked at.
enum Flow {
    /// It is done with (sent, or left ambiguous): on to the next.
    Next,
    /// Look at it again: the ledger changed under the call, or the chunk goes once more.
    Again,
}

/// Where a chunk goes, or `Again` when the ledger must be looked at first.
enum Route<'a> {
    To(Option<Cow<'a, str>>),
    Again,
}

/// The outcome of claiming a chunk in the ledger.
enum Claim {
    Won(Stored),
    /// Someone else wrote the ledger (or it existed already): the latest, checked.
    Lost(Stored),
}

/// Sends `req`: [`check`] -> [`start`] -> per chunk [`step`] ([`settle`] -> [`route`] ->
/// [`claim`] -> [`post`] -> [`record`]) -> [`finish`].
pub fn send(
    core: &Core,
    ports: &Ports<'_>,
    req: &SendRequest,
) -> Result<SendReceipt, ChannelError> {
    let (msg, parts) = check(core, ports, req)?;
    let mut run = start(&msg, req, parts);
    let mut i = 0;
    let mut rounds = 0;
    while i < run.stored.ledger.chunks.len() {
        rounds += 1;
        if rounds > 4 * run.stored.ledger.chunks.len() + 64 {
            // Persistent contention on the ledger: let the host come back.
            return Err(ChannelError::Deferred(100));
        }
        let flow;
        (run, flow) = step(core, ports, &msg, run, i)?;
        if let Flow::Next = flow {
            i += 1;
        }
    }
    Ok(finish(core, ports, &msg, run))
}

/// Step 1: the account, the target, the text's size and the idempotency key checked, the
/// message cut into parts, and the account's authentication record looked at.
fn check<'a>(
    core: &'a Core,
    ports: &Ports<'_>,
    req: &'a SendRequest,
) -> Result<(Checked<'a>, Vec<compose::Part>), ChannelError> {
    let (account, key_id) = core.account(req.account.as_deref())?;
    let target =
        target::parse(&req.target).map_err(|e| ChannelError::InvalidTarget(e.to_string()))?;
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
    let parts = compose::parts(req, account.text_chunk_limit as usize)?;
    let on_record = auth_guard::check(ports, &core.memo, account, key_id)?;
    let msg = Checked {
        account,
        key_id,
        target,
        lkey: crate::state::keys::ledger(&account.id, idem),
        me: Identity {
            target: &req.target,
            hash: compose::identity(req),
            key: idem,
        },
        on_record,
    };
    Ok((msg, parts))
}

/// Step 2: the ledger as a new message's. Until KV says otherwise the message is taken to be
/// new: its ledger is written first when its first part is claimed, so a new message costs no
/// read of it. An existing ledger turns up as a lost compare-and-swap, and is read then.
fn start(msg: &Checked<'_>, req: &SendRequest, parts: Vec<compose::Part>) -> Run {
    let ledger = Ledger::new(
        &req.target,
        msg.me.hash,
        parts
            .into_iter()
            .map(|p| (p.text, p.blocks.as_deref().map(blockkit::to_stored)))
            .collect(),
    );
    let room = match &msg.target {
        Target::User(user) => Some(Room::Dm { user: user.clone() }),
        Target::Users(_) => Some(Room::Group),
        Target::Email(_) => Some(Room::Dm {
            user: String::new(),
        }),
        Target::Conversation(_) => None,
    };
    Run {
        stored: Stored { raw: None, ledger },
        admitted: false,
        ledger_checked: false,
        room,
    }
}

/// Step 3, once per look at chunk `i`: settled already? Then the rate budget and where it
/// goes, its buttons bound, the claim, the request, and its outcome recorded.
fn step(
    core: &Core,
    ports: &Ports<'_>,
    msg: &Checked<'_>,
    mut run: Run,
    i: usize,
) -> Result<(Run, Flow), ChannelError> {
    let now = ports.clock.now_ms();
    let flow;
    (run.stored, flow) = settle(ports, msg, run.stored, i, now)?;
    if let Some(flow) = flow {
        return Ok((run, flow));
    }
    // The rate budget, and for a user target the DM, come before the chunk is claimed.
    let memo = &core.memo;
    let account = msg.account;
    let bkey = budget::key(ports, memo, account, now)?;
    let gate = LimitGate::new(ports, memo, &bkey, account)
        .queued_as(crate::model::text::concat(&[&account.id, "\n", msg.me.key]));
    let client = Client::new(ports.http, &account.id, &account.api_base).with_gate(&gate);
    let conversation = match route(ports, memo, msg, &mut run, &client)? {
        Route::To(c) => c,
        Route::Again => return Ok((run, Flow::Again)),
    };
    let room = run
        .room
        .as_ref()
        .expect("every target's room is known here");
    // The part's buttons, bound to this message: built before the claim, so a KV failure
    // reading the signing key leaves the chunk unclaimed.
    let (bound, nonce) = outgoing::bind(
        ports,
        memo,
        account,
        run.stored.ledger.chunks[i].blocks.as_deref(),
        account.reply_button.enabled && i + 1 == run.stored.ledger.chunks.len(),
        conversation.as_deref().unwrap_or(""),
        room.user(),
    )?;
    // Admission first: a deferral must not leave the chunk claimed.
    if !run.admitted {
        gate.before().map_err(ChannelError::from)?;
        run.admitted = true;
    }
    let stored = match claim(ports, msg, run.stored, i, now)? {
        Claim::Won(s) => s,
        Claim::Lost(s) => {
            // The admission is kept for the next request this call makes.
            run.stored = s;
            return Ok((run, Flow::Again));
        }
    };
    run.admitted = false;
    let attempt = post(
        ports,
        msg,
        &stored,
        &gate,
        i,
        conversation.as_deref(),
        &bound,
    );
    let to = Destination {
        conversation: conversation.as_deref(),
        nonce: &nonce,
        room,
    };
    let (stored, flow) = record(ports, memo, msg, stored, i, attempt, &to)?;
    run.stored = stored;
    Ok((run, flow))
}

/// A chunk that needs no request now: sent, or ambiguous under at-most-once (`Next`); another
/// instance's claim still running (deferred); an abandoned claim, marked ambiguous under
/// at-most-once (`Again`). `None`: it goes out.
fn settle(
    ports: &Ports<'_>,
    msg: &Checked<'_>,
    stored: Stored,
    i: usize,
    now: u64,
) -> Result<(Stored, Option<Flow>), ChannelError> {
    let chunk = &stored.ledger.chunks[i];
    let resend_unknown = msg.account.delivery == Delivery::AtLeastOnce;
    match chunk.state {
        ChunkState::Sent => Ok((stored, Some(Flow::Next))),
        ChunkState::Ambiguous if !resend_unknown => Ok((stored, Some(Flow::Next))),
        ChunkState::Inflight => {
            let since = chunk.since.unwrap_or(0);
            if now < since + INFLIGHT_LEASE_MS {
                // Another instance is sending it right now.
                return Err(ChannelError::Deferred(since + INFLIGHT_LEASE_MS - now));
            }
            if resend_unknown {
                return Ok((stored, None));
            }
            // Its owner vanished mid-request: the outcome is unknown.
            let mut next = stored.ledger.clone();
            next.chunks[i].state = ChunkState::Ambiguous;
            next.chunks[i].last_error = Some("the sending instance stopped mid-request".into());
            let stored = commit(ports, &msg.lkey, &msg.me, stored, next)?;
            Ok((stored, Some(Flow::Again)))
        }
        ChunkState::Pending | ChunkState::Ambiguous => Ok((stored, None)),
    }
}

/// The conversation the chunk goes to: a user's DM (opened once, kept in the ledger), a group
/// (opened once per message, in the ledger before any part is claimed), a conversation as
/// given (what it is looked up), or none for an e-mail address.
fn route<'m>(
    ports: &Ports<'_>,
    memo: &Memo,
    msg: &'m Checked<'_>,
    run: &mut Run,
    client: &Client<'_>,
) -> Result<Route<'m>, ChannelError> {
    let account = msg.account;
    let conversation = match &msg.target {
        Target::User(user) => match &run.stored.ledger.conversation_id {
            Some(c) => Cow::Owned(c.clone()),
            None => {
                let scope = format!("{}/{}/conversations.open", account.id, msg.me.key);
                let c = open_dm(ports, memo, client, account, user, &scope)?;
                let mut next = run.stored.ledger.clone();
                next.conversation_id = Some(c.clone());
                let stored = std::mem::replace(&mut run.stored, placeholder());
                run.stored = commit(ports, &msg.lkey, &msg.me, stored, next)?;
                Cow::Owned(c)
            }
        },
        Target::Users(users) => {
            if run.stored.ledger.conversation_id.is_none()
                && run.stored.raw.is_none()
                && !run.ledger_checked
            {
                // A group is opened anew at every call: a resumed send must find the one its
                // ledger names before opening any.
                run.ledger_checked = true;
                if let Some(s) = ledger::load(ports.kv, &msg.lkey).map_err(load_error)? {
                    run.stored = same_message(s, &msg.me)?;
                    return Ok(Route::Again);
                }
            }
            match &run.stored.ledger.conversation_id {
                Some(c) => Cow::Owned(c.clone()),
                None => Cow::Owned(open_group(ports, memo, client, msg, run, users)?),
            }
        }
        Target::Conversation(c) => {
            if run.room.is_none() {
                run.room = Some(rooms::resolve(ports, memo, client, &account.id, c)?);
            }
            Cow::Borrowed(c.as_str())
        }
        Target::Email(_) => return Ok(Route::To(None)),
    };
    Ok(Route::To(Some(conversation)))
}

/// A ledger that stands in while the real one is handed to a step that gives it back.
fn placeholder() -> Stored {
    Stored {
        raw: None,
        ledger: Ledger::new("", 0, Vec::new()),
    }
}

/// Opens the group of `users` and writes it in the ledger at once, even before any part is
/// claimed: a call deferred after the open must find this room, not open another. Another
/// instance's room wins if it wrote first.
fn open_group(
    ports: &Ports<'_>,
    memo: &Memo,
    client: &Client<'_>,
    msg: &Checked<'_>,
    run: &mut Run,
    users: &[String],
) -> Result<String, ChannelError> {
    // Not repeated on a transient failure: a second try could leave an empty room behind.
    let c = client.conversations_open_group(users)?.id.0;
    rooms::remember(ports, memo, &msg.account.id, &c, Room::Group);
    let mut next = run.stored.ledger.clone();
    next.conversation_id = Some(c.clone());
    run.stored = match ledger::swap(ports.kv, &msg.lkey, run.stored.raw.as_deref(), next)? {
        Ok(s) => s,
        Err(_) => reread(ports, &msg.lkey, &msg.me)?,
    };
    Ok(run.stored.ledger.conversation_id.clone().unwrap_or(c))
}

/// Marks chunk `i` inflight under this call, with a compare-and-swap of the whole ledger.
fn claim(
    ports: &Ports<'_>,
    msg: &Checked<'_>,
    stored: Stored,
    i: usize,
    now: u64,
) -> Result<Claim, ChannelError> {
    let Stored {
        raw,
        ledger: mut claimed,
    } = stored;
    claimed.chunks[i].state = ChunkState::Inflight;
    claimed.chunks[i].since = Some(now);
    claimed.chunks[i].attempts += 1;
    match ledger::swap(ports.kv, &msg.lkey, raw.as_deref(), claimed)? {
        Ok(s) => Ok(Claim::Won(s)),
        Err(_) => Ok(Claim::Lost(reread(ports, &msg.lkey, &msg.me)?)),
    }
}

/// The request for claimed chunk `i`, paid by the admission already granted, and its result
/// sorted into sent, not sent or unknown.
fn post(
    ports: &Ports<'_>,
    msg: &Checked<'_>,
    stored: &Stored,
    gate: &LimitGate<'_>,
    i: usize,
    conversation: Option<&str>,
    bound: &outgoing::Bound,
) -> Attempt {
    let account = msg.account;
    let admitted = Admitted(gate);
    let sender = Client::new(ports.http, &account.id, &account.api_base).with_gate(&admitted);
    let text = &stored.ledger.chunks[i].text;
    let blocks = bound.outgoing(text, &account.reply_button.label);
    let result = match (&msg.target, conversation) {
        (Target::Email(addr), _) => sender.messages_send_by_email(addr, text, blocks.as_ref()),
        (_, Some(conv)) => sender.messages_send(conv, text, blocks.as_ref()),
        (_, None) => Err(ApiError::Envelope(EnvelopeError::Invalid {
            status: 0,
            detail: "no conversation for the target".into(),
        })),
    };
    let attempts = stored.ledger.chunks[i].attempts;
    classify(ports, gate, result, attempts, account.delivery)
}

/// Where a sent chunk went, as its sent record keeps it.
struct Destination<'a> {
    conversation: Option<&'a str>,
    nonce: &'a str,
    room: &'a Room,
}

/// The chunk's outcome written over its claim (moved, not copied): `Next` when done with,
/// `Again` when it goes once more in this call (its DM reopened), the error when it stops.
fn record(
    ports: &Ports<'_>,
    memo: &Memo,
    msg: &Checked<'_>,
    stored: Stored,
    i: usize,
    attempt: Attempt,
    to: &Destination<'_>,
) -> Result<(Stored, Flow), ChannelError> {
    let account = msg.account;
    let attempts = stored.ledger.chunks[i].attempts;
    let Stored {
        raw,
        ledger: mut next,
    } = stored;
    next.chunks[i].since = None;
    let mut stop = None;
    match attempt {
        Attempt::Sent {
            message_id,
            conversation_id,
            send_time,
            bot,
        } => {
            // Remember the message as ours, where it went and its button's nonce: its
            // callbacks are checked against this record.
            let record = binding::SentRecord::encode(
                to.room.is_group(),
                // Where it was sent, as its button says; the answer's for an e-mail.
                to.conversation.unwrap_or(&conversation_id),
                to.nonce,
                to.room.user(),
                &bot,
            );
            let _ = ports.kv.set(
                &crate::state::keys::sent(&account.id, &message_id),
                record.as_bytes(),
                Some(crate::state::keys::SENT_TTL_MS),
            );
            let c = &mut next.chunks[i];
            c.state = ChunkState::Sent;
            c.message_id = Some(message_id);
            c.send_time = Some(send_time);
            c.last_error = None;
            if next.conversation_id.is_none() {
                next.conversation_id = Some(conversation_id);
            }
            auth_guard::record(ports, memo, account, msg.key_id, false, msg.on_record);
        }
        Attempt::Unknown(why) => {
            next.chunks[i].state = ChunkState::Ambiguous;
            next.chunks[i].last_error = Some(why);
        }
        Attempt::NotSent(err) => {
            stop = not_sent(ports, memo, msg, &mut next, i, attempts, err);
        }
    }
    let stored = commit_owned(ports, &msg.lkey, &msg.me, raw, next, i)?;
    if let Some(err) = stop {
        return Err(err);
    }
    // Pending again: sent once more after reopening the DM (its attempts bound this to once).
    let flow = if stored.ledger.chunks[i].state == ChunkState::Pending {
        Flow::Again
    } else {
        Flow::Next
    };
    Ok((stored, flow))
}

/// A chunk known not sent goes back to pending; the error stops the call, but for a DM that
/// KakaoWork no longer knows, which is opened again and tried once more in this call.
fn not_sent(
    ports: &Ports<'_>,
    memo: &Memo,
    msg: &Checked<'_>,
    next: &mut Ledger,
    i: usize,
    attempts: u32,
    err: ChannelError,
) -> Option<ChannelError> {
    let account = msg.account;
    let c = &mut next.chunks[i];
    c.state = ChunkState::Pending;
    c.last_error = Some(err.to_string());
    if matches!(err, ChannelError::Authentication(_)) {
        auth_guard::record(ports, memo, account, msg.key_id, true, msg.on_record);
    }
    if let (Target::User(user), ChannelError::Api(f)) = (&msg.target, &err)
        && f.code == ErrorCode::ConversationNotFound.as_str()
    {
        // The cached DM is gone (deleted, or another workspace's).
        next.conversation_id = None;
        let _ = ports.kv.delete(&crate::state::keys::dm(&account.id, user));
        memo.set_dm(&account.id, user, None);
        if attempts <= 1 {
            return None;
        }
    }
    Some(err)
}

/// Step 4: an admission left unspent (nothing was left to send) given back, and the receipt.
fn finish(core: &Core, ports: &Ports<'_>, msg: &Checked<'_>, run: Run) -> SendReceipt {
    let account = msg.account;
    if run.admitted {
        let now = ports.clock.now_ms();
        let memo = &core.memo;
        if let Ok(k) = budget::key(ports, memo, account, now) {
            let _ =
                Limiter::with_hints(ports.kv, &k, account.rate_limit, &memo.limiter).refund(now);
        }
    }
    receipt(account, msg.me.key, run.stored.ledger)
}

fn load_error(e: LoadError) -> ChannelError {
    match e {
        LoadError::Kv(e) => e.into(),
        LoadError::Corrupt(m) => {
            ChannelError::Storage(format!("the send ledger is unreadable: {m}"))
        }
    }
}

/// What a stored ledger must match to be this message's: computed once per call.
struct Identity<'a> {
    target: &'a str,
    hash: u64,
    /// The idempotency key, for the error message.
    key: &'a str,
}

/// The ledger as KV has it now, which must be this message's.
fn reread(ports: &Ports<'_>, key: &str, me: &Identity<'_>) -> Result<Stored, ChannelError> {
    let stored = ledger::load(ports.kv, key)
        .map_err(load_error)?
        .ok_or_else(|| ChannelError::Storage("the send ledger vanished while in use".into()))?;
    same_message(stored, me)
}

/// A stored ledger, checked to be this message's.
fn same_message(stored: Stored, me: &Identity<'_>) -> Result<Stored, ChannelError> {
    if stored.ledger.target != me.target || stored.ledger.text_hash != me.hash {
        return Err(ChannelError::InvalidMessage(format!(
            "idempotency key `{}` was already used for a different message; use a new key per message",
            me.key
        )));
    }
    Ok(stored)
}

/// Write a change that does not depend on owning a chunk; on a race, the caller re-reads. A
/// ledger not in KV yet is not written here: the claim of its first part writes it.
fn commit(
    ports: &Ports<'_>,
    key: &str,
    me: &Identity<'_>,
    stored: Stored,
    next: Ledger,
) -> Result<Stored, ChannelError> {
    if stored.raw.is_none() {
        return Ok(Stored {
            raw: None,
            ledger: next,
        });
    }
    match ledger::swap(ports.kv, key, stored.raw.as_deref(), next)? {
        Ok(s) => Ok(s),
        Err(_) => reread(ports, key, me),
    }
}

/// Record the outcome of chunk `i`, which this call owns (it is inflight under our claim):
/// re-apply it onto the latest record if another instance changed something else meanwhile.
fn commit_owned(
    ports: &Ports<'_>,
    key: &str,
    me: &Identity<'_>,
    mut raw: Option<Vec<u8>>,
    next: Ledger,
    i: usize,
) -> Result<Stored, ChannelError> {
    let mut next = next;
    for _ in 0..16 {
        let mut lost = match ledger::swap(ports.kv, key, raw.as_deref(), next)? {
            Ok(s) => return Ok(s),
            Err(lost) => lost,
        };
        let latest = reread(ports, key, me)?;
        let mut merged = latest.ledger;
        merged.chunks[i] = lost.chunks.swap_remove(i);
        if merged.conversation_id.is_none() {
            merged.conversation_id = lost.conversation_id.take();
        }
        next = merged;
        raw = latest.raw;
    }
    Err(ChannelError::Storage(
        "could not record a sent chunk: the ledger keeps changing".into(),
    ))
}

fn open_dm(
    ports: &Ports<'_>,
    memo: &Memo,
    client: &Client<'_>,
    account: &Account,
    user: &str,
    scope: &str,
) -> Result<String, ChannelError> {
    if let Some(c) = memo.dm(&account.id, user) {
        return Ok(c);
    }
    let key = crate::state::keys::dm(&account.id, user);
    // The cache only saves a request; a KV outage must not stop delivery.
    let dm = || Room::Dm {
        user: user.to_owned(),
    };
    if let Some(c) = ports
        .kv
        .get(&key)
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
    {
        memo.set_dm(&account.id, user, Some(&c));
        // Once per instance and user: a DM opened by an earlier version has no room record.
        rooms::remember(ports, memo, &account.id, &c, dm());
        return Ok(c);
    }
    let conv = retry::safe_call(ports, scope, "conversations.open", || {
        client.conversations_open(user)
    })?;
    let _ = ports.kv.set(
        &key,
        conv.id.as_str().as_bytes(),
        Some(crate::state::keys::DM_TTL_MS),
    );
    memo.set_dm(&account.id, user, Some(conv.id.as_str()));
    rooms::remember(ports, memo, &account.id, conv.id.as_str(), dm());
    Ok(conv.id.0)
}

/// Sort one attempt's result into sent, known-not-sent (with the error to return) or unknown.
fn classify(
    ports: &Ports<'_>,
    gate: &LimitGate<'_>,
    result: Result<crate::api::client::Message, ApiError>,
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
            bot: m.user_id.map(|u| u.0).unwrap_or_default(),
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

/// The receipt, made from the ledger's own strings (it is not needed after).
fn receipt(account: &Account, idem: &str, ledger: Ledger) -> SendReceipt {
    let chunks: Vec<ChunkReceipt> = ledger
        .chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| ChunkReceipt {
            index: i as u32,
            outcome: if c.state == ChunkState::Sent {
                ChunkOutcome::Sent
            } else {
                ChunkOutcome::Ambiguous
            },
            message_id: c.message_id,
            send_time: c.send_time,
        })
        .collect();
    SendReceipt {
        account: account.id.clone(),
        idempotency_key: idem.to_owned(),
        message_id: chunks.first().and_then(|c| c.message_id.clone()),
        conversation_id: ledger.conversation_id,
        send_time: chunks.iter().find_map(|c| c.send_time),
        ambiguous: chunks.iter().any(|c| c.outcome == ChunkOutcome::Ambiguous),
        chunks,
    }
}

pub mod compose;
mod outgoing;
pub mod status;

#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;
