//! Send targets: where a message goes, parsed before any request is made.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `conversation:<id>` or a bare numeric id: `messages.send`.
    Conversation(String),
    /// `user:<id>`: `conversations.open` (cached), then `messages.send`.
    User(String),
    /// `email:<addr>`: `messages.send_by_email`.
    Email(String),
    /// `users:<id>,<id>,...`: a new group conversation of the bot and these users
    /// (`conversations.open` with `user_ids`), then `messages.send`.
    Users(Vec<String>),
}

/// The most users one `users:` target may name.
pub const MAX_GROUP_USERS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid target `{input}`: {reason}. Use conversation:<id>, a numeric conversation id, user:<id>, users:<id>,<id>,... or email:<address>"
)]
pub struct TargetError {
    pub input: String,
    pub reason: String,
}

const CHANNEL_PREFIXES: [&str; 3] = ["kakaowork:", "kakao:", "kw:"];

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Ids are decimal digits that fit in 64 bits.
fn numeric_id(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u64>().is_ok())
    .then(|| s.to_owned())
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

pub fn parse(input: &str) -> Result<Target, TargetError> {
    let err = |reason: &str| TargetError {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let mut rest = input.trim();
    // One channel prefix at most, as OpenClaw's normalizeTarget strips it.
    if let Some(r) = CHANNEL_PREFIXES
        .iter()
        .find_map(|p| strip_prefix_ci(rest, p))
    {
        rest = r.trim();
    }
    if rest.is_empty() {
        return Err(err("it is empty"));
    }
    if let Some(id) = strip_prefix_ci(rest, "conversation:") {
        return numeric_id(id)
            .map(Target::Conversation)
            .ok_or_else(|| err("a conversation id is a number"));
    }
    if let Some(id) = strip_prefix_ci(rest, "user:") {
        return numeric_id(id)
            .map(Target::User)
            .ok_or_else(|| err("a user id is a number"));
    }
    if let Some(list) = strip_prefix_ci(rest, "users:") {
        let mut ids: Vec<String> = Vec::new();
        for part in list.split(',') {
            let id = numeric_id(part)
                .ok_or_else(|| err("users: takes numeric user ids separated by commas"))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.len() > MAX_GROUP_USERS {
            return Err(err(&format!(
                "a group takes at most {MAX_GROUP_USERS} users"
            )));
        }
        return Ok(Target::Users(ids));
    }
    if let Some(addr) = strip_prefix_ci(rest, "email:") {
        let addr = addr.trim();
        return if valid_email(addr) {
            Ok(Target::Email(addr.to_owned()))
        } else {
            Err(err("that is not an e-mail address"))
        };
    }
    if let Some(id) = numeric_id(rest) {
        return Ok(Target::Conversation(id));
    }
    if valid_email(rest) {
        return Err(err("an e-mail address needs the `email:` prefix"));
    }
    Err(err("unknown form"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let cases = [
            (
                "conversation:2092305",
                Target::Conversation("2092305".into()),
            ),
            ("2092305", Target::Conversation("2092305".into())),
            ("  2092305 ", Target::Conversation("2092305".into())),
            ("user:10000003", Target::User("10000003".into())),
            (
                "email:minsu.kim@example.co.kr",
                Target::Email("minsu.kim@example.co.kr".into()),
            ),
            ("kakao:user:10000003", Target::User("10000003".into())),
            ("kakaowork:conversation:5", Target::Conversation("5".into())),
            ("kw:7", Target::Conversation("7".into())),
            (
                "users:10000001, 10000002,10000001",
                Target::Users(vec!["10000001".into(), "10000002".into()]),
            ),
            ("KW:Email:a@b.co", Target::Email("a@b.co".into())),
            (
                "18446744073709551615",
                Target::Conversation("18446744073709551615".into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn rejected_forms_say_why() {
        let cases = [
            ("", "empty"),
            ("kw:", "empty"),
            ("conversation:abc", "conversation id is a number"),
            ("conversation:", "conversation id is a number"),
            ("user:-1", "user id is a number"),
            ("user:12 34", "user id is a number"),
            ("email:not-an-address", "not an e-mail"),
            ("email:a@b", "not an e-mail"),
            ("a@b.co", "needs the `email:` prefix"),
            ("#general", "unknown form"),
            ("18446744073709551616", "unknown form"),
            ("channel:5", "unknown form"),
            ("users:", "numeric user ids separated by commas"),
            ("users:1,,2", "numeric user ids separated by commas"),
            ("users:1,x", "numeric user ids separated by commas"),
        ];
        for (input, why) in cases {
            let e = parse(input).unwrap_err();
            assert!(e.reason.contains(why), "{input}: {e}");
            assert!(e.to_string().contains("email:<address>"), "{e}");
        }
    }
}
