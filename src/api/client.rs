//! KakaoWork Web API mapping: one function per method, request shapes as KakaoWork documents
//! them, answers parsed through the envelope into typed entities (see [`crate::model::entities`]).

use serde_json::json;

use crate::contract::ports::{Http, HttpRequest, HttpResponse, Method};
pub use crate::model::entities::{Bot, Conversation, Department, Message, Space, User};
use crate::model::entities::{Entity, ListPage};
use crate::model::envelope;
use crate::model::json::FromJson;
use crate::model::pagination::{Page, PageParams};

/// The whole-request timeout the guest asks for; the host may lower it.
pub const REQUEST_TIMEOUT_MS: u32 = 10_000;

pub use crate::model::error::ApiError;

/// Checks every request of a client: the rate limiter sits here, so every API call counts.
pub trait Gate {
    /// Called before a request; an error means the request is not made.
    fn before(&self) -> Result<(), ApiError>;
    /// Called with every answer (rate limit headers, 429s).
    fn after(&self, resp: &HttpResponse);
}

/// The body of `messages.send` (a conversation) or `messages.send_by_email` (an address).
#[derive(serde::Serialize)]
struct MessageBody<'a, B: serde::Serialize + ?Sized> {
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<&'a B>,
}

/// A client bound to one account: its id (for the host's credential) and API origin.
pub struct Client<'a> {
    http: &'a dyn Http,
    account: &'a str,
    base: &'a str,
    gate: Option<&'a dyn Gate>,
    timeout_ms: u32,
}

/// Percent-encode a query component (RFC 3986 unreserved characters pass through).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl<'a> Client<'a> {
    pub fn new(http: &'a dyn Http, account: &'a str, base: &'a str) -> Self {
        Self {
            http,
            account,
            base,
            gate: None,
            timeout_ms: REQUEST_TIMEOUT_MS,
        }
    }

    pub fn with_gate(mut self, gate: &'a dyn Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// A shorter whole-request timeout, for calls made while someone waits (a callback).
    pub fn with_timeout(mut self, ms: u32) -> Self {
        self.timeout_ms = ms.min(REQUEST_TIMEOUT_MS);
        self
    }

    pub fn url(&self, method: &str) -> String {
        crate::model::text::concat(&[self.base, "/v1/", method])
    }

    fn request(&self, method: Method, url: String, body: Option<Vec<u8>>) -> HttpRequest {
        const ACCEPT: (&str, &str) = ("Accept", "application/json");
        const CONTENT_TYPE: (&str, &str) = ("Content-Type", "application/json; charset=utf-8");
        HttpRequest {
            method,
            url,
            headers: if body.is_some() {
                &[ACCEPT, CONTENT_TYPE]
            } else {
                &[ACCEPT]
            },
            body,
            account: Some(self.account.to_owned()),
            timeout_ms: Some(self.timeout_ms),
            response_headers: envelope::READ_HEADERS,
        }
    }

    /// A GET with query parameters.
    pub fn get_request(&self, method: &str, query: &[(&str, String)]) -> HttpRequest {
        let mut url = self.url(method);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode(v));
        }
        self.request(Method::Get, url, None)
    }

    /// A POST with a JSON body (the Messages APIs accept nothing else).
    pub fn post_request(&self, method: &str, body: &impl serde::Serialize) -> HttpRequest {
        self.request(
            Method::Post,
            self.url(method),
            Some({
                // A message body with the Reply button fits; a longer one grows once or twice.
                let mut out = Vec::with_capacity(1024);
                let _ = serde_json::to_writer(&mut out, body);
                out
            }),
        )
    }

    fn call<T: FromJson>(&self, req: HttpRequest) -> Result<T, ApiError> {
        Ok(envelope::parse(&self.exchange(req)?)?)
    }

    /// One request through the gate.
    fn exchange(&self, req: HttpRequest) -> Result<HttpResponse, ApiError> {
        if let Some(g) = self.gate {
            g.before()?;
        }
        let resp = self.http.send(&req)?;
        if let Some(g) = self.gate {
            g.after(&resp);
        }
        Ok(resp)
    }

    /// `GET /v1/spaces.info`: the workspace, whose id keys the shared rate budget.
    pub fn spaces_info(&self) -> Result<Space, ApiError> {
        self.call::<Entity<Space>>(self.get_request("spaces.info", &[]))
            .map(|e| e.0)
    }

    /// `GET /v1/bots.info`: the payload is under `info`.
    pub fn bots_info(&self) -> Result<Bot, ApiError> {
        self.call::<Entity<Bot>>(self.get_request("bots.info", &[]))
            .map(|e| e.0)
    }

    /// `POST /v1/conversations.open` with `{"user_id": Int}`: the bot's DM with that user.
    pub fn conversations_open(&self, user_id: &str) -> Result<Conversation, ApiError> {
        // Ids reach here validated as u64 digits; KakaoWork types user_id as Integer.
        let uid: serde_json::Value = user_id
            .parse::<u64>()
            .map(Into::into)
            .unwrap_or_else(|_| user_id.into());
        self.call::<Entity<Conversation>>(
            self.post_request("conversations.open", &json!({ "user_id": uid })),
        )
        .map(|e| e.0)
    }

    /// `POST /v1/conversations.open` with `{"user_ids": [Int, ...]}`: a new group conversation
    /// of the bot and these users (KakaoWork opens a new one every time).
    pub fn conversations_open_group(&self, user_ids: &[String]) -> Result<Conversation, ApiError> {
        let ids: Vec<serde_json::Value> = user_ids
            .iter()
            .map(|u| {
                u.parse::<u64>()
                    .map_or_else(|_| u.as_str().into(), Into::into)
            })
            .collect();
        self.call::<Entity<Conversation>>(
            self.post_request("conversations.open", &json!({ "user_ids": ids })),
        )
        .map(|e| e.0)
    }

    /// `GET /v1/conversations.list`, one page.
    pub fn conversations_list(&self, page: &PageParams) -> Result<Page<Conversation>, ApiError> {
        self.list_page("conversations.list", page)
    }

    /// `GET /v1/users.list`, one page.
    pub fn users_list(&self, page: &PageParams) -> Result<Page<User>, ApiError> {
        self.list_page("users.list", page)
    }

    /// `GET /v1/departments.list`, one page.
    pub fn departments_list(&self, page: &PageParams) -> Result<Page<Department>, ApiError> {
        self.list_page("departments.list", page)
    }

    /// One page of a list method: `limit` on the first call, the cursor alone after it.
    fn list_page<T: FromJson + crate::model::entities::ListKey>(
        &self,
        method: &str,
        page: &PageParams,
    ) -> Result<Page<T>, ApiError> {
        self.call::<ListPage<T>>(self.get_request(method, &page.query()))
            .map(|p| p.0)
    }

    /// `GET /v1/conversations/{id}/users`: the members of a conversation the bot is in (one
    /// page: KakaoWork documents no pagination for it).
    pub fn conversations_users(&self, conversation_id: &str) -> Result<Vec<User>, ApiError> {
        let method = format!("conversations/{}/users", encode(conversation_id));
        self.call::<ListPage<User>>(self.get_request(&method, &[]))
            .map(|p| p.0.items)
    }

    /// `POST /v1/messages.send` with `{"conversation_id", "text"}` and optional Block Kit
    /// blocks (`text` is then the notification preview).
    pub fn messages_send<B: serde::Serialize + ?Sized>(
        &self,
        conversation_id: &str,
        text: &str,
        blocks: Option<&B>,
    ) -> Result<Message, ApiError> {
        self.post_message(
            "messages.send",
            MessageBody {
                conversation_id: Some(conversation_id),
                email: None,
                text,
                blocks,
            },
        )
    }

    /// `POST /v1/messages.send_by_email` with `{"email", "text"}` and optional blocks.
    pub fn messages_send_by_email<B: serde::Serialize + ?Sized>(
        &self,
        email: &str,
        text: &str,
        blocks: Option<&B>,
    ) -> Result<Message, ApiError> {
        self.post_message(
            "messages.send_by_email",
            MessageBody {
                conversation_id: None,
                email: Some(email),
                text,
                blocks,
            },
        )
    }

    /// A Messages API call: `body` plus the blocks, if any.
    fn post_message<B: serde::Serialize + ?Sized>(
        &self,
        method: &str,
        body: MessageBody<'_, B>,
    ) -> Result<Message, ApiError> {
        let resp = self.exchange(self.post_request(method, &body))?;
        if let Some(m) = crate::model::entities::sent_message(&resp) {
            return Ok(m);
        }
        Ok(envelope::parse::<Entity<Message>>(&resp)?.0)
    }

    /// `GET /v1/users.info?user_id=...`.
    pub fn users_info(&self, user_id: &str) -> Result<User, ApiError> {
        self.call::<Entity<User>>(self.get_request("users.info", &[("user_id", user_id.into())]))
            .map(|e| e.0)
    }

    /// `GET /v1/users.find_by_email?email=...`.
    pub fn users_find_by_email(&self, email: &str) -> Result<User, ApiError> {
        self.call::<Entity<User>>(
            self.get_request("users.find_by_email", &[("email", email.into())]),
        )
        .map(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ports::HttpError;
    use crate::fakes::ScriptedHttp;
    use crate::model::pagination::collect_all;

    const BASE: &str = "https://api.kakaowork.com";

    #[test]
    fn request_shapes_match_the_reference() {
        let http = ScriptedHttp::new(vec![
            (
                200,
                r#"{"success":true,"info":{"bot_id":1234,"title":"배포봇","status":"activated"}}"#,
            ),
            (
                200,
                r#"{"success":true,"conversation":{"id":"2092305","type":"dm","users_count":2,"name":"김민수"}}"#,
            ),
            (
                200,
                r#"{"success":true,"message":{"id":"757617552587034624","conversation_id":2092305,"send_time":1700000000}}"#,
            ),
            (
                200,
                r#"{"success":true,"message":{"id":"1","conversation_id":"5","send_time":1}}"#,
            ),
            (
                200,
                r#"{"success":true,"user":{"id":"10000003","space_id":"400002","name":"김민수"}}"#,
            ),
        ]);
        let c = Client::new(&http, "acct", BASE);
        let bot = c.bots_info().unwrap();
        assert_eq!(
            (bot.bot_id.as_str(), bot.title.as_str()),
            ("1234", "배포봇")
        );
        let conv = c.conversations_open("10000003").unwrap();
        assert_eq!(conv.id.as_str(), "2092305");
        let m = c
            .messages_send::<serde_json::Value>("2092305", "hi", None)
            .unwrap();
        assert_eq!(m.id.as_str(), "757617552587034624");
        c.messages_send_by_email::<serde_json::Value>("a@b.co", "hey", None)
            .unwrap();
        let u = c.users_find_by_email("a+b@example.co.kr").unwrap();
        assert_eq!(u.id.as_str(), "10000003");

        let reqs = http.requests();
        let shape: Vec<(Method, &str)> = reqs.iter().map(|r| (r.method, r.url.as_str())).collect();
        assert_eq!(
            shape,
            [
                (Method::Get, "https://api.kakaowork.com/v1/bots.info"),
                (
                    Method::Post,
                    "https://api.kakaowork.com/v1/conversations.open"
                ),
                (Method::Post, "https://api.kakaowork.com/v1/messages.send"),
                (
                    Method::Post,
                    "https://api.kakaowork.com/v1/messages.send_by_email"
                ),
                (
                    Method::Get,
                    "https://api.kakaowork.com/v1/users.find_by_email?email=a%2Bb%40example.co.kr"
                ),
            ]
        );
        let body = |i: usize| -> serde_json::Value {
            serde_json::from_slice(reqs[i].body.as_ref().unwrap()).unwrap()
        };
        assert_eq!(body(1), json!({"user_id": 10000003u64}));
        assert_eq!(body(2), json!({"conversation_id": "2092305", "text": "hi"}));
        assert_eq!(body(3), json!({"email": "a@b.co", "text": "hey"}));
        for r in &reqs {
            assert_eq!(r.account.as_deref(), Some("acct"));
            assert!(
                r.headers
                    .iter()
                    .all(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
            );
            if r.body.is_some() {
                assert!(
                    r.headers
                        .iter()
                        .any(|(k, v)| *k == "Content-Type" && v.starts_with("application/json"))
                );
            }
            // The host hands back only the headers named: the limiter's and the retry's.
            for wanted in ["RateLimit-Limit", "Retry-After"] {
                assert!(
                    r.response_headers
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(wanted))
                );
            }
        }
    }

    #[test]
    fn conversations_list_paginates_with_cursor_only() {
        let http = ScriptedHttp::new(vec![
            (
                200,
                r#"{"success":true,"cursor":"c1","conversations":[{"id":"1"},{"id":"2"}]}"#,
            ),
            (
                200,
                r#"{"success":true,"cursor":"c2","conversations":[{"id":"3"},{"id":"4"}]}"#,
            ),
            (
                200,
                r#"{"success":true,"cursor":null,"conversations":[{"id":5}]}"#,
            ),
        ]);
        let c = Client::new(&http, "a", BASE);
        let all = collect_all(2, 10, |p| c.conversations_list(p)).unwrap();
        let ids: Vec<_> = all.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5"]);
        let urls: Vec<_> = http.requests().into_iter().map(|r| r.url).collect();
        assert_eq!(
            urls,
            [
                "https://api.kakaowork.com/v1/conversations.list?limit=2",
                "https://api.kakaowork.com/v1/conversations.list?cursor=c1",
                "https://api.kakaowork.com/v1/conversations.list?cursor=c2",
            ]
        );
    }

    #[test]
    fn http_and_api_errors_are_typed() {
        let http = ScriptedHttp::new(vec![(
            401,
            r#"{"success":false,"error":{"code":"invalid_authentication","message":"bad key"}}"#,
        )]);
        let c = Client::new(&http, "a", BASE);
        match c.bots_info().unwrap_err() {
            ApiError::Envelope(e) => assert!(e.code().unwrap().is_authentication()),
            other => panic!("{other:?}"),
        }
        let http = ScriptedHttp::failing(HttpError::Timeout);
        let c = Client::new(&http, "a", BASE);
        assert_eq!(
            c.bots_info().unwrap_err(),
            ApiError::Http(HttpError::Timeout)
        );
    }
}
