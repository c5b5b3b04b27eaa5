//! The blocks one part is sent with: its stored blocks with every `submit_action` value signed,
//! and the Reply button under the message's last part. Each value is bound to the account, the
//! conversation and the user, and by a nonce to this message (see [`crate::state::binding`]).

use serde_json::Value;

use crate::api::callback::{self, ReplyBlock};
use crate::contract::ports::Ports;
use crate::model::config::Account;
use crate::model::error::ChannelError;
use crate::render::blockkit::{self, Action, Block, Button, Style};
use crate::state::binding;
use crate::state::memo::Memo;

/// A part's blocks, ready to send.
pub(super) enum Bound {
    /// Text only.
    Plain,
    /// Text with the Reply button, whose signed value this is.
    Reply(String),
    /// Block Kit blocks, values signed.
    Blocks(Vec<Value>),
}

/// The `blocks` of one request: the Reply button's typed form for a text part, or Block Kit.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub(super) enum Outgoing<'a> {
    Reply(Vec<ReplyBlock<'a>>),
    Blocks(&'a [Value]),
}

impl Bound {
    pub(super) fn outgoing<'a>(&'a self, text: &'a str, label: &'a str) -> Option<Outgoing<'a>> {
        match self {
            Self::Plain => None,
            Self::Reply(value) => Some(Outgoing::Reply(callback::reply_blocks(text, label, value))),
            Self::Blocks(v) => Some(Outgoing::Blocks(v)),
        }
    }
}

/// The part's blocks (`stored`, in the ledger's form) bound to this message, and the nonce
/// they are bound with (empty when nothing needed one).
pub(super) fn bind(
    ports: &Ports<'_>,
    memo: &Memo,
    account: &Account,
    stored: Option<&str>,
    reply: bool,
    conversation: &str,
    dm_user: &str,
) -> Result<(Bound, String), ChannelError> {
    let blocks = match stored {
        Some(b) => Some(blockkit::parse_stored(b).map_err(|e| {
            ChannelError::Storage(format!("the send ledger's blocks are unreadable: {e}"))
        })?),
        None => None,
    };
    let submit = blocks
        .as_ref()
        .is_some_and(|bs| bs.iter().any(Block::has_submit));
    if !reply && !submit {
        let bound = match blocks {
            Some(bs) => Bound::Blocks(
                bs.iter()
                    .map(|b| b.to_json(&mut |_, _, v| v.to_owned()))
                    .collect(),
            ),
            None => Bound::Plain,
        };
        return Ok((bound, String::new()));
    }
    let key = memo.signing_key(&account.id, || {
        callback::signing_key(ports.kv, ports.random, &account.id)
    })?;
    let mut nonce = String::with_capacity(16);
    crate::model::text::push_hex(&mut nonce, &memo.nonce(ports.random).to_be_bytes());
    let sign = |purpose: &str| {
        binding::button_value(&key, purpose, &account.id, conversation, dm_user, &nonce)
    };
    let reply_value = if reply { sign("reply") } else { String::new() };
    let Some(bs) = blocks else {
        return Ok((Bound::Reply(reply_value), nonce));
    };
    let mut sign_submit =
        |name: &str, label: &str, value: &str| sign(&binding::action_purpose(name, label, value));
    let mut v: Vec<Value> = bs.iter().map(|b| b.to_json(&mut sign_submit)).collect();
    if reply {
        let row = Block::Action(vec![Button {
            text: account.reply_button.label.clone(),
            style: Style::Default,
            action: Action::CallModal(reply_value),
        }]);
        v.push(row.to_json(&mut sign_submit));
    }
    Ok((Bound::Blocks(v), nonce))
}
