//! The emulator keeps KakaoWork's rules, and the guest's pagination (run natively here)
//! follows them over real HTTP.

use host_test::emulator::{DEFAULT_APP_KEY, Emulator, EmulatorOptions, SEEDED_GROUP_ROOMS};
use kakaowork_channel::api::client::Client;
use kakaowork_channel::contract::ports::{Http, HttpError, HttpRequest, HttpResponse, Method};
use kakaowork_channel::model::pagination::collect_all;
use serde_json::Value;

/// The guest's `Http` port, implemented natively with the key attached (as the host does).
struct Native(String);

impl Http for Native {
    fn send(&self, req: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let auth = format!("Bearer {}", self.0);
        let resp = match req.method {
            Method::Get => agent.get(&req.url).header("Authorization", &auth).call(),
            Method::Post => agent
                .post(&req.url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(req.body.as_deref().unwrap_or_default()),
        };
        let mut resp = resp.map_err(|e| HttpError::Other(e.to_string()))?;
        Ok(HttpResponse {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: resp
                .body_mut()
                .read_to_vec()
                .map_err(|e| HttpError::Other(e.to_string()))?,
        })
    }
}

fn raw(
    emu: &Emulator,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &str,
    key: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", emu.base_url());
    let auth = format!("Bearer {key}");
    let resp = if method == "GET" {
        agent.get(&url).header("Authorization", &auth).call()
    } else {
        let mut b = agent.post(&url).header("Authorization", &auth);
        if let Some(c) = ctype {
            b = b.header("Content-Type", c);
        }
        b.send(body)
    };
    let mut resp = resp.unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let status = resp.status().as_u16();
    let body: Value = serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap();
    (status, headers, body)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn guest_pagination_reads_every_page_against_the_emulator() {
    let emu = Emulator::start(EmulatorOptions::default()).unwrap();
    let http = Native(DEFAULT_APP_KEY.into());
    let base = emu.base_url();
    let client = Client::new(&http, "default", &base);
    let rooms = collect_all(10, 10, |p| client.conversations_list(p)).unwrap();
    assert_eq!(rooms.len() as u64, SEEDED_GROUP_ROOMS);
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 3, "23 rooms in pages of 10");
    assert_eq!(reqs[0].query, "limit=10");
    for r in &reqs[1..] {
        assert!(
            r.query.starts_with("cursor=") && !r.query.contains('&'),
            "{}",
            r.query
        );
        assert_eq!(r.status, 200);
    }
    let mut ids: Vec<_> = rooms.iter().map(|r| r.id.as_str().to_owned()).collect();
    ids.dedup();
    assert_eq!(ids.len() as u64, SEEDED_GROUP_ROOMS, "no room twice");
}

#[test]
fn cursor_with_another_parameter_fails() {
    let emu = Emulator::start(EmulatorOptions::default()).unwrap();
    let get = |path: &str| {
        let (s, _, v) = raw(&emu, "GET", path, None, "", DEFAULT_APP_KEY);
        (s, v)
    };
    let (s, first) = get("/v1/conversations.list?limit=5");
    assert_eq!(s, 200);
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    let (s, v) = get(&format!("/v1/conversations.list?cursor={cursor}&limit=5"));
    assert_eq!((s, code(&v)), (400, "invalid_parameter"));
    let (s, v) = get(&format!("/v1/conversations.list?cursor={cursor}"));
    assert_eq!(s, 200);
    assert_eq!(v["conversations"].as_array().unwrap().len(), 5);
    let (s, v) = get("/v1/conversations.list?cursor=bm9wZQ==");
    assert_eq!((s, code(&v)), (400, "invalid_parameter"));
    let (s, v) = get("/v1/users.list?limit=101");
    assert_eq!((s, code(&v)), (400, "invalid_parameter"));
}

#[test]
fn authentication_paths_and_content_types() {
    let emu = Emulator::start(EmulatorOptions::default()).unwrap();
    let (s, h, v) = raw(&emu, "GET", "/v1/bots.info", None, "", "wrong");
    assert_eq!((s, code(&v)), (401, "invalid_authentication"));
    assert!(
        h.iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("ratelimit-limit"))
    );
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json");
    let long = format!(
        r#"{{"conversation_id": "3000001", "text": "{}"}}"#,
        "가".repeat(3001)
    );
    // (method, path, content type, body, expected status, expected error code)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);
    let cases: [Case; 6] = [
        (
            "GET",
            "/v1/conversations.create",
            None,
            "",
            404,
            "api_not_found",
        ),
        (
            "POST",
            "/v1/messages.send",
            FORM,
            "conversation_id=3000001&text=hi",
            400,
            "invalid_content_type",
        ),
        // Non-message APIs accept form bodies, as KakaoWork does.
        (
            "POST",
            "/v1/conversations.open",
            FORM,
            "user_id=10000001",
            200,
            "",
        ),
        (
            "POST",
            "/v1/messages.send",
            JSON,
            "{bad json",
            400,
            "invalid_representation",
        ),
        (
            "POST",
            "/v1/messages.send",
            JSON,
            r#"{"conversation_id": 3000001}"#,
            400,
            "missing_parameter",
        ),
        (
            "POST",
            "/v1/messages.send",
            JSON,
            &long,
            400,
            "text_too_long",
        ),
    ];
    for (method, path, ctype, body, status, error) in cases {
        let (s, _, v) = raw(&emu, method, path, ctype, body, DEFAULT_APP_KEY);
        assert_eq!((s, code(&v)), (status, error), "{method} {path}: {v}");
    }
    assert_eq!(emu.requests().len(), 7);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let clock = host_test::runtime::clock::Clock::fake(0);
    let emu = Emulator::start(EmulatorOptions {
        requests_per_minute: 3,
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    for _ in 0..3 {
        let (s, h, _) = raw(&emu, "GET", "/v1/bots.info", None, "", DEFAULT_APP_KEY);
        assert_eq!(s, 200);
        assert!(
            h.iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("ratelimit-limit") && v == "3")
        );
    }
    clock.advance(20_000);
    let (s, h, v) = raw(&emu, "GET", "/v1/bots.info", None, "", DEFAULT_APP_KEY);
    assert_eq!((s, code(&v)), (429, "too_many_requests"));
    let retry = h
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .unwrap()
        .1
        .clone();
    assert_eq!(retry, "40");
    clock.advance(40_000);
    let (s, _, _) = raw(&emu, "GET", "/v1/bots.info", None, "", DEFAULT_APP_KEY);
    assert_eq!(s, 200, "the window moved on");
}

#[test]
fn a_bad_block_is_answered_as_kakaowork_does_and_nothing_is_posted() {
    let emu = Emulator::start(EmulatorOptions::default()).unwrap();
    let body = r#"{"conversation_id": "3000001", "text": "x",
        "blocks": [{"type": "header", "text": "스무 글자가 넘는 아주 긴 헤더 제목입니다"}]}"#;
    let (status, _, v) = raw(
        &emu,
        "POST",
        "/v1/messages.send",
        Some("application/json"),
        body,
        DEFAULT_APP_KEY,
    );
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "invalid_parameter");
    assert_eq!(
        v["error"]["message"],
        "요청한 블록 정보가 올바르지 않습니다."
    );
    assert!(emu.posted().is_empty());
    assert!(
        emu.refused_blocks()[0].contains("blocks[0]"),
        "{:?}",
        emu.refused_blocks()
    );
    let good = r#"{"conversation_id": "3000001", "text": "x",
        "blocks": [{"type": "header", "text": "배포 알림"}]}"#;
    let (status, _, _) = raw(
        &emu,
        "POST",
        "/v1/messages.send",
        Some("application/json"),
        good,
        DEFAULT_APP_KEY,
    );
    assert_eq!(status, 200);
    assert_eq!(emu.posted().len(), 1);
}
