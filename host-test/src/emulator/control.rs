//! The control API of a standalone emulator (`kakaowork-host emulator`): a second loopback
//! HTTP server through which another host's tests (OpenClaw's, in Node) read what the emulator
//! received and play a KakaoWork user. It only calls the emulator's public methods.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};

use crate::emulator::{Emulator, Fault, Posted, Recorded};
use crate::serve::http_server::{Response, Server};

const MAX_BODY_BYTES: usize = 1 << 20;

pub struct ControlServer {
    port: u16,
    /// Stops the server thread when dropped.
    _server: Server,
}

impl ControlServer {
    pub fn start(addr: &str, emulator: Arc<Emulator>) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let server = Server::start(listener, "emulator-control", move |req| {
            handle(emulator.clone(), req)
        })?;
        Ok(Self {
            port,
            _server: server,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn answer(status: u16, body: Value) -> Response {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

fn bad(status: u16, message: impl Into<String>) -> Response {
    answer(status, json!({ "error": message.into() }))
}

pub fn recorded_json(r: &Recorded) -> Value {
    json!({
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "status": r.status,
        "atMs": r.at_ms,
        "fault": r.fault.map(|f| format!("{f:?}")),
        "authorization": r.header("authorization"),
        "body": String::from_utf8_lossy(&r.body),
    })
}

pub fn posted_json(p: &Posted) -> Value {
    json!({
        "id": p.id,
        "conversationId": p.conversation_id,
        "text": p.text,
        "sendTime": p.send_time,
        "blocks": p.blocks,
    })
}

/// `"drop-before-body"`, `"drop-after-body"`, `{"status": 503}`, `{"statusAfterWork": 502}`
/// or `{"delayMs": 5000}`.
fn parse_fault(v: &Value) -> Result<Fault, String> {
    match v {
        Value::String(s) if s == "drop-before-body" => Ok(Fault::DropBeforeBody),
        Value::String(s) if s == "drop-after-body" => Ok(Fault::DropAfterBody),
        Value::Object(m) => {
            if let Some(s) = m.get("status").and_then(Value::as_u64) {
                return match u16::try_from(s) {
                    Ok(s @ 500..=599) => Ok(Fault::Status(s)),
                    _ => Err(format!("fault.status must be 500-599, not {s}")),
                };
            }
            if let Some(s) = m.get("statusAfterWork").and_then(Value::as_u64) {
                return match u16::try_from(s) {
                    Ok(s @ 500..=599) => Ok(Fault::StatusAfterWork(s)),
                    _ => Err(format!("fault.statusAfterWork must be 500-599, not {s}")),
                };
            }
            if let Some(ms) = m.get("delayMs").and_then(Value::as_u64) {
                return Ok(Fault::Delay(ms.min(120_000)));
            }
            Err("fault must have `status` or `statusAfterWork` (500-599), or `delayMs`".into())
        }
        _ => Err(
            "fault must be \"drop-before-body\", \"drop-after-body\", {\"status\": 5xx}, {\"statusAfterWork\": 5xx} or {\"delayMs\": n}"
                .into(),
        ),
    }
}

fn str_field<'a>(body: &'a Value, key: &str) -> Result<&'a str, String> {
    body[key]
        .as_str()
        .ok_or_else(|| format!("`{key}` (a string) is required"))
}

fn user_field(body: &Value) -> Result<u64, String> {
    match &body["userId"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| "`userId` (a numeric user id) is required".into())
}

/// Plays a user; the callback is a blocking HTTP call that may call the emulator back, so it
/// runs off the server's thread.
async fn play(emu: Arc<Emulator>, body: Value, submit: bool) -> Response {
    let outcome = tokio::task::spawn_blocking(move || -> Result<(u16, Value), String> {
        let url = str_field(&body, "callbackUrl")?;
        let message = str_field(&body, "messageId")?;
        let user = user_field(&body)?;
        if submit {
            let inputs: Vec<(String, String)> = body["inputs"]
                .as_object()
                .ok_or("`inputs` (an object of input names to values) is required")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect();
            let inputs: Vec<(&str, &str)> = inputs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            emu.submit(url, message, user, &body["view"], &inputs)
        } else {
            emu.click(url, message, str_field(&body, "label")?, user)
        }
    })
    .await;
    match outcome {
        Ok(Ok((status, body))) => answer(200, json!({ "status": status, "body": body })),
        Ok(Err(e)) => bad(422, e),
        Err(e) => bad(500, format!("the user could not be played: {e}")),
    }
}

async fn handle(emu: Arc<Emulator>, req: hyper::Request<Incoming>) -> Result<Response, Infallible> {
    let (parts, body) = req.into_parts();
    let route = (
        parts.method.as_str().to_owned(),
        parts.uri.path().to_owned(),
    );
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(bad(413, "request body over 1 MiB")),
    };
    let parsed = match route.0.as_str() {
        "POST" if body.is_empty() => json!({}),
        "POST" => match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return Ok(bad(400, format!("body is not JSON: {e}"))),
        },
        _ => Value::Null,
    };
    Ok(match (route.0.as_str(), route.1.as_str()) {
        ("GET", "/requests") => answer(
            200,
            Value::Array(emu.requests().iter().map(recorded_json).collect()),
        ),
        ("GET", "/posted") => answer(
            200,
            Value::Array(emu.posted().iter().map(posted_json).collect()),
        ),
        ("GET", "/users") => answer(
            200,
            Value::Array(
                emu.users()
                    .iter()
                    .map(|u| json!({"id": u.id, "name": u.name, "email": u.email}))
                    .collect(),
            ),
        ),
        ("POST", "/click") => play(emu, parsed, false).await,
        ("POST", "/submit") => play(emu, parsed, true).await,
        ("POST", "/fault") => match parse_fault(&parsed["fault"]) {
            Ok(fault) => {
                emu.inject(parsed["path"].as_str(), fault);
                answer(200, json!({ "injected": format!("{fault:?}") }))
            }
            Err(e) => bad(400, e),
        },
        ("POST", "/clear-faults") => {
            emu.clear_faults();
            answer(200, json!({}))
        }
        ("POST", "/rate-limit") => match parsed["requestsPerMinute"].as_u64() {
            Some(n @ 1..=100_000) => {
                emu.set_requests_per_minute(n as u32);
                answer(200, json!({ "requestsPerMinute": n }))
            }
            _ => bad(400, "`requestsPerMinute` must be 1-100000"),
        },
        (m, p) => bad(
            404,
            format!(
                "no control endpoint {m} {p}; there are GET /requests, /posted, /users and \
                 POST /click, /submit, /fault, /clear-faults, /rate-limit"
            ),
        ),
    })
}
