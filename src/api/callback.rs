//! KakaoWork's reactive callbacks (button clicks, modal requests, modal submissions): transport
//! checks, authentication, parsing of hostile input, signed button values and the reply modal.
//!
//! Callbacks carry no signature, so trust comes from three places: a secret token in the
//! callback URL (compared in constant time before anything is parsed), an HMAC on every button
//! value the plugin emits (key per account, in KV; see [`crate::state::binding`]), and the message id
//! having been sent by this plugin (its record in KV).

use serde_json::{Value, json};

use crate::contract::ports::{Kv, KvError, Random};
use crate::model::id::Id;
use crate::model::json::{self as j, Obj};

pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The reply modal's text input.
pub const REPLY_INPUT: &str = "reply";

pub use crate::contract::records::{CallbackRequest, CallbackResponse};

impl CallbackResponse {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    /// An error answer: `{"error": why}`.
    pub fn error(status: u16, why: &str) -> Self {
        Self::json(status, &json!({ "error": why }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SubmitAction,
    RequestModal,
    Submission,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubmitAction => "submit_action",
            Self::RequestModal => "request_modal",
            Self::Submission => "submission",
        }
    }
}

/// A callback body, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub kind: Kind,
    pub message_id: Id,
    pub conversation_id: Id,
    pub user_id: Id,
    /// `message.user_id`: who sent the message, the bot itself.
    pub bot_id: Option<Id>,
    pub value: String,
    pub action_name: Option<String>,
    pub action_time: String,
    /// `submission` only: input name to entered text.
    pub actions: Vec<(String, String)>,
}

fn header<'a>(req: &'a CallbackRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Equal in time that depends only on the longer length, not on where the bytes differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..n {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The `token` query parameter.
pub fn token(query: &str) -> Option<&str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v)
}

/// Checks that need no parsing: method, token, size, content type. `Err` is the answer.
pub fn check_transport(
    req: &CallbackRequest,
    secret: Option<&str>,
) -> Result<(), CallbackResponse> {
    if !req.method.eq_ignore_ascii_case("POST") {
        let mut r = CallbackResponse::error(405, "callbacks are POST requests");
        r.headers.push(("Allow".into(), "POST".into()));
        return Err(r);
    }
    if let Some(secret) = secret {
        let given = token(&req.query).unwrap_or("");
        if !ct_eq(given.as_bytes(), secret.as_bytes()) {
            return Err(CallbackResponse::error(401, "missing or wrong token"));
        }
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(CallbackResponse::error(
            413,
            "the body is larger than 64 KiB",
        ));
    }
    let ctype = header(req, "content-type")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(ctype == "application/json" || ctype.starts_with("application/json;")) {
        return Err(CallbackResponse::error(
            415,
            "the content type must be application/json",
        ));
    }
    Ok(())
}

fn bad(why: impl Into<String>) -> CallbackResponse {
    CallbackResponse::error(400, &why.into())
}

/// KakaoWork's ids are unsigned 64-bit integers, as numbers or decimal strings: anything else
/// (a name, a path, a thousand digits) is not one, and is refused before it reaches storage.
fn callback_id(o: &Obj, key: &str) -> Result<Id, CallbackResponse> {
    let id = j::id(o, key).map_err(bad)?;
    if id.0.len() > 20 || !id.0.bytes().all(|b| b.is_ascii_digit()) || id.0.parse::<u64>().is_err()
    {
        return Err(bad(format!("field `{key}` is not a KakaoWork id")));
    }
    Ok(id)
}

/// The largest member id: KakaoWork sends `react_user_id` as a JSON integer, which its own
/// JavaScript clients read exactly only below 2^53 (real ids have 7 or 8 digits).
pub const MAX_MEMBER_ID: u64 = (1 << 53) - 1;

/// The member who acted: a positive id in KakaoWork's range.
fn member_id(o: &Obj) -> Result<Id, CallbackResponse> {
    let id = callback_id(o, "react_user_id")?;
    match id.0.parse::<u64>() {
        Ok(n) if (1..=MAX_MEMBER_ID).contains(&n) => Ok(id),
        _ => Err(bad(
            "field `react_user_id` is not a KakaoWork member id (1 to 2^53-1)",
        )),
    }
}

/// `action_time`, KakaoWork's server time, in one of the forms it is known in: a date-time
/// (`2023-11-14T22:13:20+09:00`) or a count of seconds or milliseconds. Nothing trusts it
/// (it is unsigned); the form is checked so that junk in it is refused, not carried along.
fn action_time(o: &Obj) -> Result<String, CallbackResponse> {
    let refuse =
        || bad("field `action_time` is not a KakaoWork time (a date-time or a count of seconds)");
    let s = match o.get("action_time") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
        None | Some(Value::Null) => return Err(bad("missing field `action_time`")),
        Some(_) => return Err(refuse()),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let epoch = digits(&s) && s.len() <= 16;
    if epoch || is_date_time(&s) {
        Ok(s)
    } else {
        Err(refuse())
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z`, `±HH:MM` or nothing.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < shape.len() || b.len() > 40 {
        return false;
    }
    let fits = |got: &[u8], want: &[u8]| {
        got.len() == want.len()
            && got.iter().zip(want).all(|(g, w)| match w {
                b'd' => g.is_ascii_digit(),
                b'T' => *g == b'T' || *g == b' ',
                _ => g == w,
            })
    };
    if !fits(&b[..shape.len()], shape) {
        return false;
    }
    let mut rest = &b[shape.len()..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [] | [b'Z'] => true,
        [b'+' | b'-', zone @ ..] => fits(zone, b"dd:dd"),
        _ => false,
    }
}

/// Parse a callback body. Hostile input gets a 400, never a panic.
pub fn parse(body: &[u8]) -> Result<Callback, CallbackResponse> {
    // Checked once, with SIMD; the parser then reads a `str` and checks no string again.
    let text = simdutf8::basic::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let o = v
        .as_object_mut()
        .ok_or_else(|| bad("the body is not a JSON object"))?;
    let kind = match o.get("type").and_then(Value::as_str) {
        Some("submit_action") => Kind::SubmitAction,
        Some("request_modal") => Kind::RequestModal,
        Some("submission") => Kind::Submission,
        Some(other) => {
            return Err(bad(format!(
                "unknown callback type `{}`",
                other.chars().take(40).collect::<String>()
            )));
        }
        None => return Err(bad("missing callback type")),
    };
    let message: &Obj = o
        .get("message")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("missing message"))?;
    let message_id = callback_id(message, "id")?;
    let conversation_id = callback_id(message, "conversation_id")?;
    let bot_id = match message.get("user_id") {
        None | Some(Value::Null) => None,
        Some(_) => Some(callback_id(message, "user_id")?),
    };
    let user_id = member_id(o)?;
    if bot_id.as_ref() == Some(&user_id) {
        return Err(bad(
            "field `react_user_id` is the bot itself: a bot does not click its own message",
        ));
    }
    let value = j::string(o, "value").map_err(bad)?;
    let action_name = match o.get("action_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("action_name is not a string")),
    };
    let action_time = action_time(o)?;
    let mut actions = Vec::new();
    if kind == Kind::Submission {
        // Taken out of the parsed body, not copied: a reply may be long.
        let Some(Value::Object(map)) = o.remove("actions") else {
            return Err(bad("a submission needs an actions object"));
        };
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                _ => return Err(bad(format!("actions.{k} is not a value"))),
            };
            actions.push((k, text));
        }
    }
    Ok(Callback {
        kind,
        message_id,
        conversation_id,
        user_id,
        bot_id,
        value,
        action_name,
        action_time,
        actions,
    })
}

/// The per-account HMAC key, made from secure randomness on first use.
pub fn signing_key(kv: &dyn Kv, random: &dyn Random, account: &str) -> Result<Vec<u8>, KvError> {
    let key = crate::state::keys::signing_key(account);
    for _ in 0..8 {
        if let Some(k) = kv.get(&key)?
            && k.len() == 32
        {
            return Ok(k);
        }
        let fresh: Vec<u8> = (0..4)
            .flat_map(|_| random.next_u64().to_le_bytes())
            .collect();
        if kv.compare_and_swap(&key, None, Some(&fresh), None)? {
            return Ok(fresh);
        }
    }
    Err(KvError::Other("could not create the signing key".into()))
}

/// The callback token of an account without a configured `callbackSecret`: 256 random bits
/// in hex, made on first use and kept in KV without expiry, so that every instance, host and
/// restart sharing the state agrees on it.
pub fn callback_token(kv: &dyn Kv, random: &dyn Random, account: &str) -> Result<String, KvError> {
    let key = crate::state::keys::callback_token(account);
    for _ in 0..8 {
        if let Some(t) = kv.get(&key)?
            && t.len() == 64
            && let Ok(t) = String::from_utf8(t)
        {
            return Ok(t);
        }
        let mut fresh = String::with_capacity(64);
        for _ in 0..4 {
            crate::model::text::push_hex(&mut fresh, &random.next_u64().to_le_bytes());
        }
        if kv.compare_and_swap(&key, None, Some(fresh.as_bytes()), None)? {
            return Ok(fresh);
        }
    }
    Err(KvError::Other("could not create the callback token".into()))
}

/// One block of a message with a Reply button, as KakaoWork takes it.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ReplyBlock<'a> {
    Text {
        text: std::borrow::Cow<'a, str>,
        markdown: bool,
    },
    Action {
        elements: [ReplyButton<'a>; 1],
    },
}

#[derive(Debug, serde::Serialize)]
pub struct ReplyButton<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    style: &'static str,
    action_type: &'static str,
    value: &'a str,
}

/// The message blocks for `text` with a Reply button (KakaoWork text blocks hold 500 chars),
/// written straight to the request body (no intermediate JSON value).
pub fn reply_blocks<'a>(text: &'a str, label: &'a str, value: &'a str) -> Vec<ReplyBlock<'a>> {
    // Most parts fit one text block: borrowed, not copied.
    let texts = crate::render::chunk::split(text, 500);
    let mut blocks: Vec<ReplyBlock<'a>> = Vec::with_capacity(texts.len() + 1);
    blocks.extend(texts.into_iter().map(|text| ReplyBlock::Text {
        text,
        markdown: false,
    }));
    blocks.push(ReplyBlock::Action {
        elements: [ReplyButton {
            kind: "button",
            text: label,
            style: "default",
            action_type: "call_modal",
            value,
        }],
    });
    blocks
}

/// The reply modal (its `value` is filled in), kept as text: smaller than building it in code.
const REPLY_MODAL: &str = r#"{"view":{"title":"답장","accept":"보내기","decline":"취소","value":"",
"blocks":[{"type":"label","text":"어시스턴트에게 보낼 메시지","markdown":false},
{"type":"input","name":"reply","required":true,"placeholder":"메시지를 입력하세요"}]}}"#;

/// The reply modal, as KakaoWork expects it in the answer to `request_modal`.
pub fn reply_modal(value: &str) -> Value {
    let mut modal: Value = serde_json::from_str(REPLY_MODAL).unwrap_or(Value::Null);
    modal["view"]["value"] = Value::String(value.to_owned());
    modal
}

/// A short digest identifying one callback, for replay protection: its type, message, user,
/// value and entered text. Not `action_time` or `action_name`, which the caller chooses freely
/// and nothing signs: a replay with another time or name is the same callback. SipHash under
/// a key of the account's (see `binding::Keys`): as fast as a checksum over a long reply, and
/// without the key nobody can make two callbacks collide.
pub fn fingerprint(key: &[u8; 16], c: &Callback) -> String {
    use siphasher::sip128::{Hasher128, SipHasher13};
    use std::hash::Hasher;
    let mut h = SipHasher13::new_with_key(key);
    let fields = [
        c.kind.as_str(),
        c.message_id.as_str(),
        c.user_id.as_str(),
        &c.value,
    ];
    let actions = c.actions.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    for part in fields.into_iter().chain(actions) {
        h.write(&(part.len() as u64).to_le_bytes());
        h.write(part.as_bytes());
    }
    let mut out = String::with_capacity(32);
    crate::model::text::push_hex(&mut out, &h.finish128().as_u128().to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
