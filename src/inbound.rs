//! Inbound: a KakaoWork callback turned into the answer for KakaoWork and the events for the
//! agent (see [`crate::callback`] for the checks and [`crate::binding`] for the values).

use crate::api::Client;
use crate::binding;
use crate::budget::{self, LimitGate};
use crate::callback::{self, CallbackRequest, CallbackResponse, Kind};
use crate::channel::{
    CallbackOutcome, Channel, ChatType, EventKind, InboundEvent, PairingChallenge, PolicyDecision,
    SendRequest,
};
use crate::config::Account;
use crate::error::ChannelError;
use crate::ports::Ports;

/// `users.info` for a sender's name inside a callback: KakaoWork waits only briefly for the
/// answer, so a slow lookup gives up and the event goes without the name.
pub const NAME_LOOKUP_TIMEOUT_MS: u32 = 1_500;

impl Channel {
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
        let token = self.token_of(ports, account)?;
        if let Err(resp) = callback::check_transport(req, token.as_deref()) {
            return answer(resp);
        }
        let mut cb = match callback::parse(&req.body) {
            Ok(c) => c,
            Err(resp) => return answer(resp),
        };
        let Some(sent) = ports
            .kv
            .get(&binding::record_key(&account.id, cb.message_id.as_str()))?
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
        let key = self.memo.signing_key(&account.id, || {
            callback::signing_key(ports.kv, ports.random, &account.id)
        })?;
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
        // The callback is marked as seen only once its event is ready (below): if this call
        // fails before that (a trap, a storage error), KakaoWork's retry is not a "replay".
        let fp = callback::fingerprint(key.fingerprint_key(), &cb);
        let seen = format!("dedup/v1/{}/{fp}", account.id);
        let marks = cb.kind != Kind::RequestModal;
        if marks && ports.kv.get(&seen)?.is_some() {
            return answer(CallbackResponse::json(200, &serde_json::json!({})));
        }

        let ok = CallbackResponse::json(200, &serde_json::json!({}));
        match self.check_policy(ports, Some(&account.id), cb.user_id.as_str(), chat)? {
            PolicyDecision::Allow(_) => {}
            PolicyDecision::Deny(_) => return answer(ok),
            PolicyDecision::PairingRequired(PairingChallenge {
                code,
                created,
                reply,
            }) => {
                let mut outbound = vec![];
                if created {
                    let notice = SendRequest {
                        account: Some(account.id.clone()),
                        target: format!("user:{}", cb.user_id),
                        text: reply,
                        idempotency_key: format!("pairing-reply-{}-{code}", cb.user_id),
                        format: crate::channel::TextFormat::Plain,
                        blocks: None,
                        buttons: vec![],
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
            // A host's button: its signed name and value, whatever the body's `action_name`
            // says; the event's text is the value, as chat channels pass a button's data.
            Kind::SubmitAction => match binding::parse_action_purpose(&payload) {
                Some((name, value)) => (
                    EventKind::Action,
                    value.to_owned(),
                    Some(name.to_owned()),
                    Some(value.to_owned()),
                ),
                None => (
                    EventKind::Action,
                    cb.action_name.clone().unwrap_or_else(|| payload.clone()),
                    cb.action_name.clone(),
                    Some(payload.clone()),
                ),
            },
            Kind::Submission if payload == "modal:reply" => {
                let typed = cb
                    .actions
                    .iter_mut()
                    .find(|(k, _)| k == callback::REPLY_INPUT)
                    .map(|(_, v)| {
                        // Moved, not copied, when there is nothing to trim.
                        let v = std::mem::take(v);
                        match v.trim() {
                            t if t.len() == v.len() => v,
                            t => t.to_owned(),
                        }
                    })
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
        // One event per callback: of two identical ones racing, the one that marks it wins.
        if marks
            && !ports
                .kv
                .compare_and_swap(&seen, None, Some(b"1"), Some(callback::DEDUP_TTL_MS))?
        {
            return answer(ok);
        }
        Ok(CallbackOutcome {
            response: ok,
            events: vec![event],
            outbound: vec![],
        })
    }

    /// The token a callback URL must carry (`?token=`): the configured `callbackSecret`, else
    /// the one the plugin made; `None` only under the explicit opt-out.
    pub fn callback_token(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<Option<String>, ChannelError> {
        // No app key is needed to show where KakaoWork should call.
        let account = self.policy_account(account)?;
        if !account.enabled {
            return Err(ChannelError::AccountDisabled(account.id.clone()));
        }
        Ok(self.token_of(ports, account)?.map(|t| t.to_string()))
    }

    fn token_of(
        &self,
        ports: &Ports<'_>,
        account: &Account,
    ) -> Result<Option<std::rc::Rc<str>>, ChannelError> {
        if let Some(s) = &account.callback_secret {
            return Ok(Some(s.as_str().into()));
        }
        if account.accept_unauthenticated {
            return Ok(None);
        }
        let t = self.memo.callback_token(&account.id, || {
            callback::callback_token(ports.kv, ports.random, &account.id)
        })?;
        Ok(Some(t))
    }

    /// The sender's display name from `users.info`, cached for an hour; best effort, and
    /// quick: KakaoWork waits for the callback's answer, so a slow lookup gives no name.
    fn sender_name(&self, ports: &Ports<'_>, account: &Account, user: &str) -> Option<String> {
        let key = format!("user/v1/{}/{user}", account.id);
        if let Some(v) = ports.kv.get(&key).ok().flatten() {
            return String::from_utf8(v).ok();
        }
        let (account, _) = self.account(Some(&account.id)).ok()?;
        let bkey = budget::key(ports, &self.memo, account, ports.clock.now_ms()).ok()?;
        let gate = LimitGate::new(ports, &self.memo, &bkey, account);
        let name = Client::new(ports.http, &account.id, &account.api_base)
            .with_gate(&gate)
            .with_timeout(NAME_LOOKUP_TIMEOUT_MS)
            .users_info(user)
            .ok()?
            .name?;
        let _ = ports.kv.set(&key, name.as_bytes(), Some(3600 * 1000));
        Some(name)
    }
}

#[cfg(test)]
mod tests;
