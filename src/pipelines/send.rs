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

use crate::api::auth_guard;
use crate::api::budget::{self, Admitted, LimitGate};
use crate::api::client::{ApiError, Client, Gate};
use crate::api::rooms::Room;
use crate::contract::ports::Ports;
use crate::contract::records::{SendReceipt, SendRequest};
use crate::model::config::Delivery;
use crate::model::envelope::EnvelopeError;
use crate::model::error::ChannelError;
use crate::model::target::{self, Target};
use crate::pipelines::context::Core;
use crate::render::blockkit;
use crate::state::ledger::{self, ChunkState, Ledger, Stored};
use crate::state::limiter::Limiter;

use outcome::{Attempt, Destination, classify, receipt, record};
use route::{Route, route};
use run::{Checked, Flow, Identity, Run, commit, reread};

pub use outcome::MAX_ATTEMPTS;

/// The longest text one `send` accepts (it is split into chunks).
pub const MAX_TEXT_CHARS: usize = 100_000;
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;
/// An inflight chunk whose owner has not finished within this is presumed abandoned. It
/// exceeds the host's longest request timeout.
pub const INFLIGHT_LEASE_MS: u64 = 60_000;

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

pub mod compose;
mod outcome;
mod outgoing;
mod route;
mod run;
pub mod status;

#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;
