//! KakaoWork's entities as the guest reads them from answers: ids kept as strings (they exceed
//! 2^53), unknown fields ignored, and only what the plugin uses.

use serde_json::Value;

use crate::model::id::Id;
use crate::model::json::{self, FromJson};
use crate::model::pagination::Page;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    pub bot_id: Id,
    pub title: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    pub id: Id,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: Id,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub users_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Id,
    pub conversation_id: Id,
    pub send_time: Option<u64>,
    /// Who sent it: for the bot's own messages, the bot's user id.
    pub user_id: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    /// The e-mail among `identifications`: the one the member signs in with.
    pub email: Option<String>,
    pub emails: Vec<String>,
    pub department: Option<String>,
    pub position: Option<String>,
    pub responsibility: Option<String>,
    pub status: Option<String>,
    pub space_id: Option<Id>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: Id,
    pub name: String,
    pub code: Option<String>,
    /// KakaoWork sends 0 (or nothing) for the root.
    pub parent_id: Option<Id>,
    pub depth: u64,
    pub ids_path: String,
    pub user_count: u64,
    pub users_ids: Vec<Id>,
    pub leader_ids: Vec<Id>,
}

impl FromJson for Id {
    fn from_json(v: &Value) -> Result<Self, String> {
        json::id_value(v, "id")
    }
}

impl FromJson for Bot {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "info")?;
        Ok(Self {
            bot_id: json::id(o, "bot_id")?,
            title: json::string(o, "title")?,
            status: json::string(o, "status")?,
        })
    }
}

impl FromJson for Space {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "space")?;
        Ok(Self {
            id: json::id(o, "id")?,
            name: json::opt_string(o, "name"),
        })
    }
}

impl FromJson for Conversation {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "conversation")?;
        Ok(Self {
            id: json::id(o, "id")?,
            kind: json::opt_string(o, "type"),
            name: json::opt_string(o, "name"),
            users_count: json::opt_u64(o, "users_count"),
        })
    }
}

impl FromJson for Message {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "message")?;
        Ok(Self {
            id: json::id(o, "id")?,
            conversation_id: json::id(o, "conversation_id")?,
            send_time: json::opt_u64(o, "send_time"),
            user_id: o
                .get("user_id")
                .and_then(|v| json::id_value(v, "user_id").ok()),
        })
    }
}

/// The answer of every delivered message, `{"success": true, "message": {...}}`, read straight
/// into its fields rather than through a JSON tree: it comes once per message sent. `None` for
/// anything else (an error, a 2xx that is not a success, a shape this does not take), which
/// the generic path then reads and explains; where both read an answer, they agree.
pub(crate) fn sent_message(resp: &crate::contract::ports::HttpResponse) -> Option<Message> {
    if !(200..300).contains(&resp.status) {
        return None;
    }
    let text = simdutf8::basic::from_utf8(&resp.body).ok()?;
    let answer: SentAnswer = serde_json::from_str(text).ok()?;
    let m = answer.message;
    answer.success.then_some(Message {
        id: m.id.0,
        conversation_id: m.conversation_id.0,
        send_time: m.send_time,
        user_id: m.user_id.map(|u| u.0),
    })
}

#[derive(serde::Deserialize)]
struct SentAnswer {
    success: bool,
    message: SentMessage,
}

#[derive(serde::Deserialize)]
struct SentMessage {
    id: WireId,
    conversation_id: WireId,
    #[serde(default)]
    send_time: Option<u64>,
    #[serde(default)]
    user_id: Option<WireId>,
}

/// An id as [`json::id_value`] takes it: a non-empty string, or an integer of at most 64 bits.
struct WireId(Id);

impl<'de> serde::Deserialize<'de> for WireId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WireId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WireId, E> {
                if s.is_empty() {
                    return Err(E::custom("an empty id"));
                }
                Ok(WireId(Id(s.to_owned())))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<WireId, E> {
                let mut s = String::new();
                crate::model::text::push_u64(&mut s, n);
                Ok(WireId(Id(s)))
            }
        }
        d.deserialize_any(V)
    }
}

impl FromJson for User {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "user")?;
        let email = o
            .get("identifications")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .find(|i| i.get("type").and_then(Value::as_str) == Some("email"))
            .and_then(|i| json::opt_string(i, "value"));
        Ok(Self {
            id: json::id(o, "id")?,
            name: json::opt_string(o, "name"),
            display_name: json::opt_string(o, "display_name"),
            nickname: json::opt_string(o, "nickname"),
            email,
            // Anything that is not a list of strings is an empty list: extra profile data
            // must not make a member unreadable.
            emails: json::list(o, "emails").unwrap_or_default(),
            department: json::opt_string(o, "department"),
            position: json::opt_string(o, "position"),
            responsibility: json::opt_string(o, "responsibility"),
            status: json::opt_string(o, "status"),
            space_id: o
                .get("space_id")
                .and_then(|s| json::id_value(s, "space_id").ok()),
        })
    }
}

impl FromJson for Department {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "department")?;
        let parent_id = o
            .get("parent_id")
            .and_then(|p| json::id_value(p, "parent_id").ok())
            .filter(|p| p.as_str() != "0");
        Ok(Self {
            id: json::id(o, "id")?,
            name: json::string(o, "name")?,
            code: json::opt_string(o, "code").filter(|c| !c.is_empty()),
            parent_id,
            depth: json::opt_u64(o, "depth").unwrap_or(0),
            ids_path: json::opt_string(o, "ids_path").unwrap_or_default(),
            user_count: json::opt_u64(o, "user_count").unwrap_or(0),
            // KakaoWork spells it `users_ids`.
            users_ids: json::list(o, "users_ids")?,
            leader_ids: json::list(o, "leader_ids")?,
        })
    }
}

/// The envelope key an entity is found under.
pub trait EntityKey {
    const KEY: &'static str;
}
impl EntityKey for Bot {
    const KEY: &'static str = "info";
}
impl EntityKey for Space {
    const KEY: &'static str = "space";
}
impl EntityKey for Conversation {
    const KEY: &'static str = "conversation";
}
impl EntityKey for Message {
    const KEY: &'static str = "message";
}
impl EntityKey for User {
    const KEY: &'static str = "user";
}

/// The list key of a paginated method's answer.
pub trait ListKey {
    const LIST: &'static str;
}
impl ListKey for User {
    const LIST: &'static str = "users";
}
impl ListKey for Conversation {
    const LIST: &'static str = "conversations";
}
impl ListKey for Department {
    const LIST: &'static str = "departments";
}

/// The entity under `T::KEY` of a success envelope.
pub struct Entity<T>(pub T);

impl<T: FromJson + EntityKey> FromJson for Entity<T> {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "answer")?;
        T::from_json(json::field(o, T::KEY)?)
            .map(Entity)
            .map_err(|e| format!("`{}`: {e}", T::KEY))
    }
}

/// One page of a list answer: the items under `T::LIST` and the next cursor.
pub struct ListPage<T>(pub Page<T>);

impl<T: FromJson + ListKey> FromJson for ListPage<T> {
    fn from_json(v: &Value) -> Result<Self, String> {
        let o = json::obj(v, "answer")?;
        Ok(Self(Page {
            items: json::list(o, T::LIST).map_err(|e| format!("`{}`: {e}", T::LIST))?,
            cursor: json::opt_string(o, "cursor"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_as_the_reference_shows_it() {
        let v: Value = serde_json::from_str(
            r#"{"id": "10000003", "space_id": "400002", "name": "김민수", "display_name": "김민수",
            "nickname": null, "department": "플랫폼개발팀", "position": "책임", "responsibility": "팀원",
            "identifications": [{"type": "phone", "value": "x"}, {"type": "email", "value": "minsu.kim@example.co.kr"}],
            "emails": ["m@example.com"], "mobiles": [], "status": "activated"}"#,
        )
        .unwrap();
        let u = User::from_json(&v).unwrap();
        assert_eq!(u.id.as_str(), "10000003");
        assert_eq!(u.email.as_deref(), Some("minsu.kim@example.co.kr"));
        assert_eq!(u.emails, vec!["m@example.com".to_owned()]);
        assert_eq!(u.nickname, None);
        assert_eq!(u.space_id, Some(Id("400002".into())));
    }

    #[test]
    fn a_department_reads_int_and_string_ids_and_the_root_has_no_parent() {
        let v: Value = serde_json::from_str(
            r#"{"id": "400010", "ids_path": "400002/400006/400010", "parent_id": 400006, "space_id": "200001",
            "name": "플랫폼개발팀", "code": "DEV-PLT", "user_count": 5, "has_child": false, "depth": 2,
            "users_ids": [10000003, "10000006"], "leader_ids": [10000006], "ancestry": "400002/400006"}"#,
        )
        .unwrap();
        let d = Department::from_json(&v).unwrap();
        assert_eq!(d.parent_id, Some(Id("400006".into())));
        assert_eq!(
            d.users_ids,
            vec![Id("10000003".into()), Id("10000006".into())]
        );
        let root: Value =
            serde_json::from_str(r#"{"id": "400002", "name": "Example Corp.", "parent_id": 0}"#)
                .unwrap();
        assert_eq!(Department::from_json(&root).unwrap().parent_id, None);
        let bad: Value =
            serde_json::from_str(r#"{"id": "1", "name": "x", "users_ids": "all"}"#).unwrap();
        assert!(
            Department::from_json(&bad)
                .unwrap_err()
                .contains("users_ids")
        );
    }

    /// Both readings of a `messages.send` answer, over many shapes: the direct one takes only
    /// answers the generic one reads, reads them the same, and takes every plain success.
    #[test]
    fn the_direct_reading_of_a_sent_answer_agrees_with_the_generic_one() {
        use crate::contract::ports::HttpResponse;
        use crate::model::envelope;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
        let id = || {
            prop_oneof![
                1 => Just(None),
                6 => Just(Some(r#""757617552587034624""#.to_owned())),
                1 => Just(Some(r#""""#.to_owned())),
                1 => Just(Some(r#""\u0037\u0035""#.to_owned())),
                1 => Just(Some("18446744073709551615".to_owned())),
                1 => Just(Some("18446744073709551616".to_owned())),
                1 => Just(Some("-1".to_owned())),
                1 => Just(Some("1.5".to_owned())),
                1 => Just(Some("null".to_owned())),
                1 => Just(Some("[1]".to_owned())),
                6 => Just(Some("3000001".to_owned())),
            ]
        };
        let time = prop_oneof![
            1 => Just(None),
            4 => Just(Some("1700000000".to_owned())),
            1 => Just(Some("null".to_owned())),
            1 => Just(Some("-5".to_owned())),
            1 => Just(Some("1.5".to_owned())),
            1 => Just(Some(r#""1700000000""#.to_owned())),
        ];
        let success = prop_oneof![
            4 => Just(Some("true")),
            1 => Just(Some("false")),
            1 => Just(Some("1")),
            1 => Just(None)
        ];
        let status = prop_oneof![4 => Just(200u16), 1 => Just(201), 1 => Just(400), 1 => Just(429), 1 => Just(500)];
        let extra = prop_oneof![2 => Just(""), 1 => Just(r#""new":{"x":[1,"가"]},"#), 1 => Just(r#""id":"9","#)];
        let mut runner = TestRunner::new_with_rng(
            Config::with_cases(2000),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
        );
        let direct = std::cell::Cell::new(0);
        runner
            .run(
                &(
                    id(),
                    id(),
                    time,
                    success,
                    status,
                    extra,
                    proptest::bool::weighted(0.8),
                ),
                |(mid, cid, time, success, status, extra, has_message)| {
                    let mut fields = vec![];
                    for (k, v) in [("id", mid), ("conversation_id", cid), ("send_time", time)] {
                        if let Some(v) = v {
                            fields.push(format!(r#""{k}":{v}"#));
                        }
                    }
                    let mut top = vec![];
                    if let Some(s) = success {
                        top.push(format!(r#""success":{s}"#));
                    }
                    if has_message {
                        top.push(format!(r#""message":{{{extra}{}}}"#, fields.join(",")));
                    }
                    let body = format!("{{{}}}", top.join(","));
                    let resp = HttpResponse {
                        status,
                        headers: vec![],
                        body: body.clone().into_bytes(),
                    };
                    let generic = envelope::parse::<Entity<Message>>(&resp).map(|e| e.0);
                    if let Some(m) = sent_message(&resp) {
                        direct.set(direct.get() + 1);
                        prop_assert_eq!(Ok(m), generic, "{} {}", status, body);
                    }
                    Ok(())
                },
            )
            .unwrap();
        assert!(
            direct.get() > 20,
            "the direct reading took only {} answers",
            direct.get()
        );
        for body in [
            r#"{"success":true,"message":{"id":"757617552587034624","conversation_id":3000001,"send_time":1700000000}}"#,
            r#"{"error":null,"message":{"conversation_id":"3000001","id":7,"text":"x","blocks":[]},"success":true}"#,
            r#"{"success":true,"message":{"id":"1","conversation_id":"2"}}"#,
        ] {
            let resp = HttpResponse {
                status: 200,
                headers: vec![],
                body: body.as_bytes().to_vec(),
            };
            assert!(sent_message(&resp).is_some(), "{body}");
        }
    }
}
