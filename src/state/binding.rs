//! Button and modal values bound to one message. KakaoWork callbacks carry no signature and
//! every recipient sees a button's value, so a value names what it may be used for and where:
//! its purpose, the account, the conversation, the user (for a DM) and the message: for a
//! button a random nonce that the plugin recorded with the message id when the message was
//! sent, for a modal the message id itself. The HMAC over all of it is checked in constant
//! time by the MAC crate, and the event's conversation and chat type come from that record,
//! never from the request body.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "kw2";
/// Bytes of HMAC-SHA-256 kept in a value (128 bits).
const TAG_BYTES: usize = 16;

/// What the plugin wrote down when it sent a message: where it went, and its button's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    pub group: bool,
    pub conversation: String,
    /// The nonce of the message's button; empty when it has none.
    pub nonce: String,
    /// The user of a DM sent to `user:<id>`; empty otherwise.
    pub user: String,
    /// The bot's own user id, as KakaoWork gave it with the sent message; empty when it did
    /// not (records written before it was kept). The bot never clicks its own buttons.
    pub bot: String,
}

impl SentRecord {
    /// The encoding of a record, from its fields: a send writes one without building it.
    pub fn encode(group: bool, conversation: &str, nonce: &str, user: &str, bot: &str) -> String {
        let kind = if group { "g" } else { "d" };
        crate::model::text::concat(&[
            kind,
            "|",
            conversation,
            "|",
            nonce,
            "|",
            user,
            "|",
            field(bot),
        ])
    }

    /// `None` for anything else, records of older versions included: their buttons, which
    /// were bound to nothing, are refused.
    pub fn decode(raw: &str) -> Option<Self> {
        let mut f = raw.split('|');
        let group = match f.next()? {
            "g" => true,
            "d" => false,
            _ => return None,
        };
        let r = Self {
            group,
            conversation: f.next()?.to_owned(),
            nonce: f.next()?.to_owned(),
            user: f.next()?.to_owned(),
            bot: f.next().unwrap_or("").to_owned(),
        };
        (f.next().is_none() && !r.conversation.is_empty()).then_some(r)
    }
}

/// Why a value was refused (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotSigned,
    OtherAccount,
    OtherConversation,
    OtherUser,
    OtherMessage,
}

impl Refusal {
    pub fn why(self) -> &'static str {
        match self {
            Self::NotSigned => "the value failed verification",
            Self::OtherAccount => "the value belongs to another account",
            Self::OtherConversation => "the conversation does not match the message",
            Self::OtherUser => "the value belongs to another user",
            Self::OtherMessage => "the value belongs to another message",
        }
    }
}

/// What a checked value is for. Each purpose fits one callback type: a value used with
/// another one (a Reply button's value in a `submission`) is refused, never an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// The Reply button: opens the reply modal (`request_modal`).
    Reply,
    /// A host's `submit_action` button: its name, caption and value.
    Action(ActionButton),
    /// The reply modal opened under `nonce`, consumed by its one `submission`.
    ReplyModal { nonce: String },
    /// Anything else (a value of an older version, a purpose nothing emits): fits nothing.
    Unknown,
}

impl Purpose {
    /// The callback type this value was made for; `None` for none.
    pub fn callback_type(&self) -> Option<&'static str> {
        match self {
            Self::Reply => Some("request_modal"),
            Self::Action(_) => Some("submit_action"),
            Self::ReplyModal { .. } => Some("submission"),
            Self::Unknown => None,
        }
    }
}

/// A checked value: what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub purpose: Purpose,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// An account's signing key as the logic uses it: the HMAC keyed once (its key schedule is not
/// computed again for every value), and a key of its own for replay fingerprints.
pub struct Keys {
    mac: Hmac<Sha256>,
    fingerprint: [u8; 16],
}

impl Keys {
    pub fn new(raw: &[u8]) -> Self {
        let mac = mac(raw);
        // Values all start with PREFIX, so this label never signs as one.
        let mut m = mac.clone();
        m.update(b"fingerprint key");
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(&m.finalize().into_bytes()[..16]);
        Self { mac, fingerprint }
    }

    /// The key of the callbacks' replay fingerprints.
    pub fn fingerprint_key(&self) -> &[u8; 16] {
        &self.fingerprint
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != TAG_BYTES * 2 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `|` separates the fields, so no field may hold one.
fn field(s: &str) -> &str {
    if s.contains('|') { "" } else { s }
}

fn signed(key: &Keys, fields: [&str; 5]) -> String {
    let fields = fields.map(field);
    let mut out = String::with_capacity(
        PREFIX.len() + fields.iter().map(|f| f.len() + 1).sum::<usize>() + 1 + TAG_BYTES * 2,
    );
    out.push_str(PREFIX);
    for f in fields {
        out.push('|');
        out.push_str(f);
    }
    let mut m = key.mac.clone();
    m.update(out.as_bytes());
    let tag = m.finalize().into_bytes();
    out.push('|');
    crate::model::text::push_hex(&mut out, &tag[..TAG_BYTES]);
    out
}

/// A button's value. `conversation` and `user` are empty when unknown at sending time (an
/// e-mail target); the nonce ties it to the message whose record holds the same nonce.
pub fn button_value(
    key: &Keys,
    purpose: &str,
    account: &str,
    conversation: &str,
    user: &str,
    nonce: &str,
) -> String {
    signed(key, [purpose, account, conversation, user, nonce])
}

/// The purpose of a host's `submit_action` button: its name, caption and value, signed with
/// the rest. The caption is escaped (`%`, `:`, `|`), so that the fields split back exactly.
pub fn action_purpose(name: &str, label: &str, value: &str) -> String {
    let label = label
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('|', "%7C");
    format!("l:{name}:{label}:{value}")
}

/// A host's button, from a checked purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionButton {
    pub name: String,
    /// `None` for buttons sent before captions were signed (`a:` purposes).
    pub label: Option<String>,
    pub value: String,
}

/// The name, caption and value of a host's button; `None` for other purposes.
pub fn parse_action_purpose(purpose: &str) -> Option<ActionButton> {
    if let Some(rest) = purpose.strip_prefix("l:") {
        let (name, rest) = rest.split_once(':')?;
        let (label, value) = rest.split_once(':')?;
        let label = label
            .replace("%7C", "|")
            .replace("%3A", ":")
            .replace("%25", "%");
        return Some(ActionButton {
            name: name.to_owned(),
            label: Some(label),
            value: value.to_owned(),
        });
    }
    let (name, value) = purpose.strip_prefix("a:")?.split_once(':')?;
    Some(ActionButton {
        name: name.to_owned(),
        label: None,
        value: value.to_owned(),
    })
}

/// The value of the reply modal opened by `user` from message `message_id`, under `nonce`:
/// the opening records the nonce, the submission consumes it (single use).
pub fn modal_value(
    key: &Keys,
    account: &str,
    conversation: &str,
    user: &str,
    message_id: &str,
    nonce: &str,
) -> String {
    let anchor = crate::model::text::concat(&[message_id, ".", nonce]);
    signed(key, [MODAL_REPLY, account, conversation, user, &anchor])
}

const MODAL_REPLY: &str = "modal:reply";

/// What a callback claims: which account's path it came to, the message, its conversation
/// and the user who acted.
pub struct Claim<'a> {
    pub account: &'a str,
    pub message_id: &'a str,
    pub conversation: &'a str,
    pub user: &'a str,
}

/// Checks `value` against the message's record and the callback's claim.
pub fn check(
    key: &Keys,
    value: &str,
    record: &SentRecord,
    claim: &Claim<'_>,
) -> Result<Checked, Refusal> {
    let (body, tag) = value.rsplit_once('|').ok_or(Refusal::NotSigned)?;
    let tag = unhex(tag).ok_or(Refusal::NotSigned)?;
    let mut m = key.mac.clone();
    m.update(body.as_bytes());
    m.verify_truncated_left(&tag)
        .map_err(|_| Refusal::NotSigned)?;
    let mut f = body.split('|');
    if f.next() != Some(PREFIX) {
        return Err(Refusal::NotSigned);
    }
    let mut next = || f.next().ok_or(Refusal::NotSigned);
    let (purpose, account, conversation, user, anchor) =
        (next()?, next()?, next()?, next()?, next()?);
    if account != claim.account {
        return Err(Refusal::OtherAccount);
    }
    // The body's conversation must be where the plugin sent the message.
    if claim.conversation != record.conversation
        || !(conversation.is_empty() || conversation == record.conversation)
    {
        return Err(Refusal::OtherConversation);
    }
    if !(user.is_empty() || user == claim.user)
        || !(record.user.is_empty() || record.user == claim.user)
    {
        return Err(Refusal::OtherUser);
    }
    if purpose == MODAL_REPLY {
        // A modal: the message it was opened from, and the nonce of that opening.
        return match anchor.split_once('.') {
            Some((message, nonce))
                if message == claim.message_id && !nonce.is_empty() && !user.is_empty() =>
            {
                Ok(Checked {
                    purpose: Purpose::ReplyModal {
                        nonce: nonce.to_owned(),
                    },
                })
            }
            _ => Err(Refusal::OtherMessage),
        };
    }
    if anchor.is_empty() || anchor != record.nonce {
        return Err(Refusal::OtherMessage);
    }
    let purpose = match purpose {
        "reply" => Purpose::Reply,
        p => parse_action_purpose(p).map_or(Purpose::Unknown, Purpose::Action),
    };
    Ok(Checked { purpose })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Keys {
        Keys::new(&[7; 32])
    }

    fn dm() -> SentRecord {
        SentRecord {
            group: false,
            conversation: "300".into(),
            nonce: "n1".into(),
            user: "10".into(),
            bot: "9000001".into(),
        }
    }

    fn claim<'a>(message: &'a str, conversation: &'a str, user: &'a str) -> Claim<'a> {
        Claim {
            account: "default",
            message_id: message,
            conversation,
            user,
        }
    }

    #[test]
    fn an_action_purpose_round_trips_with_colons_in_its_caption_and_value() {
        for label in ["승인", "a:b", "100%", "%3A:%25", "a|b%7C"] {
            let p = action_purpose("deploy_approve", label, "deploy:9913");
            assert_eq!(
                parse_action_purpose(&p),
                Some(ActionButton {
                    name: "deploy_approve".into(),
                    label: Some(label.into()),
                    value: "deploy:9913".into()
                }),
                "{label}"
            );
        }
        // A button sent before captions were signed.
        assert_eq!(
            parse_action_purpose("a:deploy_approve:deploy:9913").map(|b| b.label),
            Some(None)
        );
        assert_eq!(parse_action_purpose("reply"), None);
    }

    #[test]
    fn records_round_trip_and_old_ones_are_refused() {
        let r = dm();
        assert_eq!(
            SentRecord::decode(&SentRecord::encode(
                r.group,
                &r.conversation,
                &r.nonce,
                &r.user,
                &r.bot
            )),
            Some(r)
        );
        // A record written before the bot's id was kept.
        assert_eq!(
            SentRecord::decode("d|300|n1|10"),
            Some(SentRecord {
                bot: String::new(),
                ..dm()
            })
        );
        assert_eq!(
            SentRecord::decode("d|300"),
            None,
            "a record of the old format"
        );
        assert_eq!(SentRecord::decode("x|300|n|"), None);
        assert_eq!(SentRecord::decode("g||n|"), None);
    }

    #[test]
    fn a_button_works_on_its_message_for_its_user_only() {
        let v = button_value(&key(), "reply", "default", "300", "10", "n1");
        let ok = check(&key(), &v, &dm(), &claim("m1", "300", "10")).unwrap();
        assert_eq!(ok.purpose, Purpose::Reply);
        assert_eq!(ok.purpose.callback_type(), Some("request_modal"));
        // Another user, another conversation named in the body, another message's record.
        assert_eq!(
            check(&key(), &v, &dm(), &claim("m1", "300", "11")),
            Err(Refusal::OtherUser)
        );
        assert_eq!(
            check(&key(), &v, &dm(), &claim("m1", "301", "10")),
            Err(Refusal::OtherConversation)
        );
        let other = SentRecord {
            nonce: "n2".into(),
            ..dm()
        };
        assert_eq!(
            check(&key(), &v, &other, &claim("m2", "300", "10")),
            Err(Refusal::OtherMessage)
        );
        // Another account's path, another key, a changed byte.
        let mut c = claim("m1", "300", "10");
        c.account = "other";
        assert_eq!(check(&key(), &v, &dm(), &c), Err(Refusal::OtherAccount));
        assert_eq!(
            check(&Keys::new(&[8; 32]), &v, &dm(), &claim("m1", "300", "10")),
            Err(Refusal::NotSigned)
        );
        let tampered = v.replacen("|10|", "|11|", 1);
        assert_eq!(
            check(&key(), &tampered, &dm(), &claim("m1", "300", "11")),
            Err(Refusal::NotSigned)
        );
        for junk in ["", "reply", "kw2|reply", &v[..v.len() - 1]] {
            assert_eq!(
                check(&key(), junk, &dm(), &claim("m1", "300", "10")),
                Err(Refusal::NotSigned)
            );
        }
    }

    #[test]
    fn a_group_button_is_for_anyone_in_that_conversation() {
        let group = SentRecord {
            group: true,
            user: String::new(),
            ..dm()
        };
        let v = button_value(&key(), "reply", "default", "300", "", "n1");
        assert!(check(&key(), &v, &group, &claim("m1", "300", "10")).is_ok());
        assert!(check(&key(), &v, &group, &claim("m1", "300", "12")).is_ok());
        assert_eq!(
            check(&key(), &v, &group, &claim("m1", "999", "12")),
            Err(Refusal::OtherConversation)
        );
    }

    #[test]
    fn a_modal_value_is_bound_to_the_message_and_the_user_who_opened_it() {
        let v = modal_value(&key(), "default", "300", "10", "m1", "n9");
        let ok = check(&key(), &v, &dm(), &claim("m1", "300", "10")).unwrap();
        assert_eq!(ok.purpose, Purpose::ReplyModal { nonce: "n9".into() });
        assert_eq!(ok.purpose.callback_type(), Some("submission"));
        // A modal value of the version before single-use modals (no nonce) is refused.
        let old = signed(&key(), ["modal:reply", "default", "300", "10", "m1"]);
        assert_eq!(
            check(&key(), &old, &dm(), &claim("m1", "300", "10")),
            Err(Refusal::OtherMessage)
        );
        assert_eq!(
            check(&key(), &v, &dm(), &claim("m2", "300", "10")),
            Err(Refusal::OtherMessage)
        );
        let group = SentRecord {
            group: true,
            user: String::new(),
            ..dm()
        };
        assert_eq!(
            check(&key(), &v, &group, &claim("m1", "300", "12")),
            Err(Refusal::OtherUser)
        );
    }

    #[test]
    fn a_field_with_a_separator_is_dropped_not_smuggled() {
        let v = button_value(&key(), "reply|x", "default", "300", "10", "n1");
        assert_eq!(
            check(&key(), &v, &dm(), &claim("m1", "300", "10"))
                .unwrap()
                .purpose,
            Purpose::Unknown
        );
    }

    #[test]
    fn every_purpose_names_the_one_callback_type_it_fits() {
        let action = button_value(
            &key(),
            &action_purpose("approve", "승인", "deploy:1"),
            "default",
            "300",
            "10",
            "n1",
        );
        let p = check(&key(), &action, &dm(), &claim("m1", "300", "10"))
            .unwrap()
            .purpose;
        assert_eq!(
            p,
            Purpose::Action(ActionButton {
                name: "approve".into(),
                label: Some("승인".into()),
                value: "deploy:1".into()
            })
        );
        assert_eq!(p.callback_type(), Some("submit_action"));
        // A bare purpose (as values before purposes were typed) fits no callback.
        let bare = button_value(&key(), "deploy:1", "default", "300", "10", "n1");
        let p = check(&key(), &bare, &dm(), &claim("m1", "300", "10"))
            .unwrap()
            .purpose;
        assert_eq!(p.callback_type(), None);
    }
}
