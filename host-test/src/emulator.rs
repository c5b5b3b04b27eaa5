//! An embedded KakaoWork Web API emulator: a real HTTP server on 127.0.0.1 serving a seeded
//! workspace, with KakaoWork's envelope, error codes, cursor rules and rate limit headers.
//! It records every request so that tests can assert on what actually went over the wire.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};

use crate::http_server::Server;
use serde_json::{Map, Value, json};

use crate::clock::Clock;

pub const DEFAULT_APP_KEY: &str = "emulator0.0123456789abcdef0123456789abcdef";
pub const BOT_USER_ID: u64 = 9_000_001;
/// Above 2^53, as KakaoWork's real message ids are.
const FIRST_MESSAGE_ID: u64 = 757_617_552_587_034_624;
const MAX_TEXT_CHARS: usize = 3000;
const MAX_BODY_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub app_key: String,
    /// Keys of other bots of the same workspace (they share its rate budget).
    pub extra_app_keys: Vec<String>,
    pub requests_per_minute: u32,
    pub clock: Clock,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            app_key: DEFAULT_APP_KEY.into(),
            extra_app_keys: vec![],
            requests_per_minute: 200,
            clock: Clock::Real,
        }
    }
}

/// A fault the emulator can inject into an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this 5xx status without doing anything.
    Status(u16),
    /// Do the work (a message is posted), then answer with this 5xx status anyway, as a
    /// failing proxy or a load balancer's timeout would.
    StatusAfterWork(u16),
    /// Close the connection before reading the request body: nothing happens.
    DropBeforeBody,
    /// Do the work (a message is posted), then close the connection without answering.
    DropAfterBody,
    /// Do the work, then answer only after this many real milliseconds.
    Delay(u64),
}

/// Which requests faults apply to, and how.
#[derive(Clone, Debug)]
enum FaultRule {
    /// The next request to `path` (any path when `None`) gets this fault.
    Once(Option<String>, Fault),
    /// After `skip` more requests to `path` pass untouched, the next one gets this fault.
    After(Option<String>, u32, Fault),
    /// Every request to `path` gets one of `faults` with probability `per_mille / 1000`.
    Random {
        path: Option<String>,
        per_mille: u32,
        faults: Vec<Fault>,
        state: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedUser {
    pub id: u64,
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug)]
struct Room {
    id: u64,
    kind: &'static str,
    name: String,
    members: Vec<u64>,
}

/// A request as the emulator received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at_ms: u64,
    /// The status answered; 0 when the connection was dropped instead.
    pub status: u16,
    pub fault: Option<Fault>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A message the bot posted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub id: String,
    pub conversation_id: u64,
    pub text: String,
    pub send_time: u64,
    pub blocks: Value,
}

struct World {
    opts: EmulatorOptions,
    users: Vec<SeedUser>,
    rooms: Vec<Room>,
    next_room: u64,
    next_message: u64,
    posted: Vec<Posted>,
    recorded: Vec<Recorded>,
    window: VecDeque<u64>,
    faults: VecDeque<FaultRule>,
}

pub struct Emulator {
    world: Arc<Mutex<World>>,
    port: u16,
    /// Stops (and joins) the server thread when the emulator is dropped.
    _server: Server,
}

fn seed_users() -> Vec<SeedUser> {
    [
        (10_000_001, "김민수", "minsu.kim@example.co.kr"),
        (10_000_002, "이영희", "yh.lee@example.co.kr"),
        (10_000_003, "박지훈", "jihoon.park@example.co.kr"),
        (10_000_004, "최수진", "sujin.choi@example.co.kr"),
        (10_000_005, "정우성", "woosung.jung@example.co.kr"),
    ]
    .into_iter()
    .map(|(id, name, email)| SeedUser {
        id,
        name: name.into(),
        email: email.into(),
    })
    .collect()
}

/// A user's DM with the bot is `DM_ROOM_BASE + user id % 10000`.
pub const DM_ROOM_BASE: u64 = 2_090_000;

/// 23 group rooms, so that listing them with the default page size takes 3 pages.
pub const SEEDED_GROUP_ROOMS: u64 = 23;
pub const FIRST_GROUP_ROOM: u64 = 3_000_001;

impl Emulator {
    pub fn start(opts: EmulatorOptions) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", opts)
    }

    /// Serve on `addr` (`127.0.0.1:0` picks a free port).
    pub fn start_on(addr: &str, opts: EmulatorOptions) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let users = seed_users();
        let rooms = (0..SEEDED_GROUP_ROOMS)
            .map(|i| Room {
                id: FIRST_GROUP_ROOM + i,
                kind: "group",
                name: format!("프로젝트 채널 {}", i + 1),
                members: vec![
                    BOT_USER_ID,
                    users[(i % 5) as usize].id,
                    users[((i + 1) % 5) as usize].id,
                ],
            })
            .collect();
        let world = Arc::new(Mutex::new(World {
            opts,
            users,
            rooms,
            next_room: 2_092_305,
            next_message: FIRST_MESSAGE_ID,
            posted: vec![],
            recorded: vec![],
            window: VecDeque::new(),
            faults: VecDeque::new(),
        }));
        // An error from `serve` is a connection the emulator chose to drop.
        let server = {
            let world = world.clone();
            Server::start(listener, "kakaowork-emulator", move |req| {
                serve(world.clone(), req)
            })?
        };
        Ok(Self {
            world,
            port,
            _server: server,
        })
    }

    /// The next request to `path` (e.g. "/v1/messages.send"; any when `None`) gets `fault`.
    pub fn inject(&self, path: Option<&str>, fault: Fault) {
        self.lock()
            .faults
            .push_back(FaultRule::Once(path.map(str::to_owned), fault));
    }

    /// Let `skip` requests to `path` through, then give the next one `fault`.
    pub fn inject_after(&self, path: Option<&str>, skip: u32, fault: Fault) {
        self.lock()
            .faults
            .push_back(FaultRule::After(path.map(str::to_owned), skip, fault));
    }

    /// From now on, each request to `path` gets one of `faults` with probability
    /// `per_mille / 1000`, drawn from a generator seeded with `seed` (reproducible).
    pub fn inject_randomly(&self, path: Option<&str>, per_mille: u32, faults: &[Fault], seed: u64) {
        self.lock().faults.push_back(FaultRule::Random {
            path: path.map(str::to_owned),
            per_mille,
            faults: faults.to_vec(),
            state: seed | 1,
        });
    }

    /// Play a user: click the button labelled `label` on message `message_id`, the way
    /// KakaoWork calls the bot (`request_modal` for `call_modal` buttons, else `submit_action`).
    /// Returns the bot's status and JSON answer (a modal view for `request_modal`).
    pub fn click(
        &self,
        callback_url: &str,
        message_id: &str,
        label: &str,
        user_id: u64,
    ) -> Result<(u16, Value), String> {
        let (message, button) = {
            let w = self.lock();
            let m = w
                .posted
                .iter()
                .find(|p| p.id == message_id)
                .cloned()
                .ok_or("no such message")?;
            let button = buttons(&m.blocks)
                .into_iter()
                .find(|b| b["text"] == label)
                .ok_or_else(|| format!("message {message_id} has no button `{label}`"))?;
            (m, button)
        };
        let action_type = button["action"]["type"]
            .as_str()
            .or(button["action_type"].as_str())
            .unwrap_or("");
        let value = button["action"]["value"]
            .as_str()
            .or(button["value"].as_str())
            .unwrap_or("")
            .to_owned();
        let mut body = self.callback_body(&message, user_id, &value);
        if action_type == "call_modal" {
            body["type"] = json!("request_modal");
        } else {
            body["type"] = json!("submit_action");
            body["action_name"] = button["action"]["name"].clone();
            if body["action_name"].is_null() {
                body["action_name"] = button["action_name"].clone();
            }
        }
        post_json(callback_url, &body)
    }

    /// Play a user: accept a modal `view` (from `click`) with these inputs.
    pub fn submit(
        &self,
        callback_url: &str,
        message_id: &str,
        user_id: u64,
        view: &Value,
        inputs: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        let message = self
            .lock()
            .posted
            .iter()
            .find(|p| p.id == message_id)
            .cloned()
            .ok_or("no such message")?;
        let value = view["value"].as_str().unwrap_or("").to_owned();
        let mut body = self.callback_body(&message, user_id, &value);
        body["type"] = json!("submission");
        body["actions"] = Value::Object(
            inputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect(),
        );
        post_json(callback_url, &body)
    }

    fn callback_body(&self, m: &Posted, user_id: u64, value: &str) -> Value {
        let now = self.lock().opts.clock.now_ms();
        json!({
            "action_time": (now / 1000).to_string(),
            "message": {"id": m.id, "text": "<encrypted>", "user_id": BOT_USER_ID.to_string(),
                        "conversation_id": m.conversation_id, "send_time": m.send_time,
                        "update_time": m.send_time, "blocks": m.blocks},
            "react_user_id": user_id,
            "value": value,
        })
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn app_key(&self) -> String {
        self.lock().opts.app_key.clone()
    }

    pub fn users(&self) -> Vec<SeedUser> {
        self.lock().users.clone()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// Every message the bot posted, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.lock().posted.clone()
    }

    pub fn set_requests_per_minute(&self, n: u32) {
        self.lock().opts.requests_per_minute = n;
    }
}

struct Answer {
    status: u16,
    body: Value,
    extra: Vec<(String, String)>,
}

fn ok(body: Value) -> Answer {
    let mut map = match body {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.insert("success".into(), Value::Bool(true));
    Answer {
        status: 200,
        body: Value::Object(map),
        extra: vec![],
    }
}

fn fail(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: json!({"success": false, "error": {"code": code, "message": message}}),
        extra: vec![],
    }
}

/// Buttons of a message: top-level button blocks and the elements of action blocks.
fn buttons(blocks: &Value) -> Vec<Value> {
    let mut out = vec![];
    for b in blocks.as_array().into_iter().flatten() {
        match b["type"].as_str() {
            Some("button") => out.push(b.clone()),
            Some("action") => out.extend(b["elements"].as_array().into_iter().flatten().cloned()),
            _ => {}
        }
    }
    out
}

/// POST a callback the way KakaoWork does (JSON, no signature).
fn post_json(url: &str, body: &Value) -> Result<(u16, Value), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json;charset=utf-8")
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Why a connection was dropped on purpose.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

fn lock_world(world: &Arc<Mutex<World>>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

async fn serve(
    world: Arc<Mutex<World>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.as_str().to_owned();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let fault = lock_world(&world).take_fault(&path);
    let record = |world: &Arc<Mutex<World>>, body: Vec<u8>, status: u16| {
        let mut w = lock_world(world);
        let at_ms = w.opts.clock.now_ms();
        w.recorded.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body,
            at_ms,
            status,
            fault,
        });
    };
    if fault == Some(Fault::DropBeforeBody) {
        record(&world, vec![], 0);
        return Err(Dropped);
    }
    let body = match Limited::new(body, MAX_BODY_BYTES as usize).collect().await {
        Ok(b) => Some(b.to_bytes().to_vec()),
        Err(_) => None,
    };
    let (answer, limit) = {
        let mut w = lock_world(&world);
        let now = w.opts.clock.now_ms();
        let answer = match (&body, fault) {
            (None, _) => fail(400, "bad_request", "the request body could not be read"),
            (Some(_), Some(Fault::Status(code))) => {
                fail(code, "internal_server_error", "injected failure")
            }
            (Some(b), Some(Fault::StatusAfterWork(code))) => {
                w.answer(now, &method, &path, &query, &headers, b);
                fail(
                    code,
                    "internal_server_error",
                    "injected failure after the work",
                )
            }
            (Some(b), _) => w.answer(now, &method, &path, &query, &headers, b),
        };
        (answer, w.opts.requests_per_minute)
    };
    let body = body.unwrap_or_default();
    if fault == Some(Fault::DropAfterBody) {
        record(&world, body, 0);
        return Err(Dropped);
    }
    record(&world, body, answer.status);
    if let Some(Fault::Delay(ms)) = fault {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut resp = hyper::Response::builder()
        .status(answer.status)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("RateLimit-Limit", limit.to_string());
    for (k, v) in answer.extra {
        resp = resp.header(k, v);
    }
    resp.body(Full::new(Bytes::from(answer.body.to_string())))
        .map_err(|_| Dropped)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An id parameter, accepted as a JSON number or a string of digits.
fn id_param(params: &Map<String, Value>, key: &str) -> Result<Option<u64>, Answer> {
    match params.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            fail(
                400,
                "invalid_parameter",
                &format!("{key} is not a valid id"),
            )
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            fail(
                400,
                "invalid_parameter",
                &format!("{key} is not a valid id"),
            )
        }),
        Some(_) => Err(fail(
            400,
            "invalid_parameter",
            &format!("{key} is not a valid id"),
        )),
    }
}

fn required_id(params: &Map<String, Value>, key: &str) -> Result<u64, Answer> {
    id_param(params, key)?.ok_or_else(|| {
        fail(
            400,
            "missing_parameter",
            &format!("{key} parameter is missing."),
        )
    })
}

fn user_json(u: &SeedUser) -> Value {
    json!({
        "id": u.id.to_string(), "space_id": "230021", "name": u.name, "display_name": u.name,
        "nickname": null, "avatar_url": null, "department": "플랫폼개발팀", "position": null,
        "responsibility": "팀원", "identifications": [{"type": "email", "value": u.email}],
        "emails": [], "mobiles": [], "tels": [], "status": "activated",
        "work_start_time": null, "work_end_time": null,
        "vacation_start_time": null, "vacation_end_time": null
    })
}

fn room_json(r: &Room) -> Value {
    json!({"id": r.id.to_string(), "type": r.kind, "users_count": r.members.len(),
           "avatar_url": null, "name": r.name})
}

/// One page of `items` under `key`, by KakaoWork's cursor rules.
fn paginate(params: &Map<String, Value>, items: Vec<Value>, key: &str) -> Answer {
    let (offset, limit) = if let Some(cursor) = params.get("cursor") {
        if params.len() > 1 {
            return fail(400, "invalid_parameter", "cursor must be passed alone");
        }
        let decoded = cursor
            .as_str()
            .and_then(|c| B64.decode(c).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let parsed = decoded.as_deref().and_then(|d| {
            let (a, b) = d.split_once('&')?;
            Some((
                a.strip_prefix("cursor_id=")?.parse::<usize>().ok()?,
                b.strip_prefix("limit=")?.parse::<usize>().ok()?,
            ))
        });
        match parsed {
            Some(p) => p,
            None => return fail(400, "invalid_parameter", "cursor is not valid"),
        }
    } else {
        let limit = match params.get("limit") {
            None => 10,
            Some(v) => match v.as_u64().or_else(|| v.as_str()?.parse().ok()) {
                Some(n @ 1..=100) => n as usize,
                _ => return fail(400, "invalid_parameter", "limit must be between 1 and 100"),
            },
        };
        (0, limit)
    };
    let end = (offset + limit).min(items.len());
    let page: Vec<Value> = items.get(offset..end).unwrap_or_default().to_vec();
    let cursor = (end < items.len()).then(|| B64.encode(format!("cursor_id={end}&limit={limit}")));
    let mut body = Map::new();
    body.insert("cursor".into(), cursor.map_or(Value::Null, Value::String));
    body.insert(key.into(), Value::Array(page));
    ok(Value::Object(body))
}

impl World {
    fn take_fault(&mut self, path: &str) -> Option<Fault> {
        let matches = |p: &Option<String>| p.as_deref().is_none_or(|p| p == path);
        let idx = self.faults.iter().position(|r| match r {
            FaultRule::Once(p, _) | FaultRule::After(p, _, _) => matches(p),
            FaultRule::Random { path: p, .. } => matches(p),
        })?;
        match &mut self.faults[idx] {
            FaultRule::After(_, skip, _) if *skip > 0 => {
                *skip -= 1;
                None
            }
            FaultRule::After(..) => match self.faults.remove(idx) {
                Some(FaultRule::After(_, _, f)) => Some(f),
                _ => None,
            },
            FaultRule::Once(..) => match self.faults.remove(idx) {
                Some(FaultRule::Once(_, f)) => Some(f),
                _ => None,
            },
            FaultRule::Random {
                per_mille,
                faults,
                state,
                ..
            } => {
                // xorshift64: reproducible for a seed.
                let mut next = || {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    *state
                };
                let hit = next() % 1000 < u64::from(*per_mille);
                let pick = next() as usize;
                (hit && !faults.is_empty()).then(|| faults[pick % faults.len()])
            }
        }
    }

    fn answer(
        &mut self,
        now: u64,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Answer {
        // Every request counts against the workspace's per-minute budget.
        while self.window.front().is_some_and(|t| *t + 60_000 <= now) {
            self.window.pop_front();
        }
        if self.window.len() >= self.opts.requests_per_minute as usize {
            let oldest = self.window.front().copied().unwrap_or(now);
            let wait_s = (oldest + 60_000 - now).div_ceil(1000).max(1);
            let mut a = fail(429, "too_many_requests", "요청이 너무 많습니다.");
            a.extra.push(("Retry-After".into(), wait_s.to_string()));
            return a;
        }
        self.window.push_back(now);

        let authorized = header(headers, "authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|k| {
                k == self.opts.app_key || self.opts.extra_app_keys.iter().any(|e| e == k)
            });
        if !authorized {
            return fail(
                401,
                "invalid_authentication",
                "인증 정보가 올바르지 않습니다.",
            );
        }
        let Some(api) = path.strip_prefix("/v1/") else {
            return fail(404, "api_not_found", "api not found");
        };
        let params = match self.params(api, method, query, headers, body) {
            Ok(p) => p,
            Err(a) => return a,
        };
        let result = match (method, api) {
            ("GET", "bots.info") => Ok(ok(
                json!({"info": {"bot_id": 1234, "title": "Moltbot 에뮬레이터 봇", "status": "activated"}}),
            )),
            ("GET", "spaces.info") => {
                Ok(ok(json!({"space": {"id": 230021, "kakaoi_org_id": 285847,
                "name": "Example Corp.", "color_code": "default", "color_tone": "light",
                "permitted_ext": ["*"], "profile_name_format": "name_only",
                "profile_position_format": "responsibility", "logo_url": ""}})))
            }
            ("GET", "users.info") => self.users_info(&params),
            ("GET", "users.find_by_email") => self.find_by_email(&params),
            ("GET", "users.list") => {
                let items = self.users.iter().map(user_json).collect();
                Ok(paginate(&params, items, "users"))
            }
            ("GET", "conversations.list") => {
                let mut rooms = self.rooms.clone();
                rooms.sort_by_key(|r| r.id);
                Ok(paginate(
                    &params,
                    rooms.iter().map(room_json).collect(),
                    "conversations",
                ))
            }
            ("POST", "conversations.open") => self.open(&params),
            ("POST", "messages.send") => self.send(now, &params),
            ("POST", "messages.send_by_email") => self.send_by_email(now, &params),
            _ => Err(fail(404, "api_not_found", "api not found")),
        };
        result.unwrap_or_else(|a| a)
    }

    fn params(
        &self,
        api: &str,
        method: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Map<String, Value>, Answer> {
        let mut params: Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        if method != "POST" {
            return Ok(params);
        }
        let ctype = header(headers, "content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if ctype.starts_with("application/json") {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => params.extend(m),
                _ => {
                    return Err(fail(
                        400,
                        "invalid_representation",
                        "the body is not a JSON object",
                    ));
                }
            }
        } else if ctype.starts_with("application/x-www-form-urlencoded")
            && !api.starts_with("messages.")
        {
            params.extend(
                url::form_urlencoded::parse(body)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))),
            );
        } else {
            return Err(fail(
                400,
                "invalid_content_type",
                "application/json is required",
            ));
        }
        Ok(params)
    }

    fn users_info(&self, params: &Map<String, Value>) -> Result<Answer, Answer> {
        let id = required_id(params, "user_id")?;
        let u = self
            .users
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| fail(400, "user_not_found", "사용자를 찾을 수 없습니다."))?;
        Ok(ok(json!({"user": user_json(u)})))
    }

    fn user_by_email(&self, params: &Map<String, Value>) -> Result<SeedUser, Answer> {
        let email = params
            .get("email")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(400, "missing_parameter", "email parameter is missing."))?;
        // KakaoWork answers an unknown e-mail with invalid_parameter (reference notes, 2.2).
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned()
            .ok_or_else(|| fail(400, "invalid_parameter", "no member with this e-mail"))
    }

    fn find_by_email(&self, params: &Map<String, Value>) -> Result<Answer, Answer> {
        let u = self.user_by_email(params)?;
        Ok(ok(json!({"user": user_json(&u)})))
    }

    fn dm_with(&mut self, user: u64) -> Result<Room, Answer> {
        let u = self
            .users
            .iter()
            .find(|u| u.id == user)
            .cloned()
            .ok_or_else(|| fail(400, "user_not_found", "사용자를 찾을 수 없습니다."))?;
        if let Some(r) = self
            .rooms
            .iter()
            .find(|r| r.kind == "dm" && r.members.contains(&user))
        {
            return Ok(r.clone());
        }
        // DM ids depend only on the user, so cached ids stay right across emulator runs.
        let room = Room {
            id: DM_ROOM_BASE + user % 10_000,
            kind: "dm",
            name: u.name,
            members: vec![BOT_USER_ID, user],
        };
        self.rooms.push(room.clone());
        Ok(room)
    }

    fn open(&mut self, params: &Map<String, Value>) -> Result<Answer, Answer> {
        if let Some(user) = id_param(params, "user_id")? {
            let room = self.dm_with(user)?;
            return Ok(ok(json!({"conversation": room_json(&room)})));
        }
        let ids = params
            .get("user_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| fail(400, "missing_parameter", "user_id parameter is missing."))?;
        let mut members = vec![BOT_USER_ID];
        for v in ids {
            let id = v.as_u64().or_else(|| v.as_str()?.parse().ok());
            match id {
                Some(id) if self.users.iter().any(|u| u.id == id) => members.push(id),
                _ => return Err(fail(400, "user_not_found", "사용자를 찾을 수 없습니다.")),
            }
        }
        let room = Room {
            id: self.next_room,
            kind: "group",
            name: params
                .get("conversation_name")
                .and_then(Value::as_str)
                .unwrap_or("그룹 채팅")
                .to_owned(),
            members,
        };
        self.next_room += 1;
        self.rooms.push(room.clone());
        Ok(ok(json!({"conversation": room_json(&room)})))
    }

    fn post(
        &mut self,
        now: u64,
        conversation_id: u64,
        params: &Map<String, Value>,
    ) -> Result<Answer, Answer> {
        let text = match params.get("text") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(fail(
                    400,
                    "invalid_parameter",
                    "text must be a non-empty string",
                ));
            }
            None => return Err(fail(400, "missing_parameter", "text parameter is missing.")),
        };
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(fail(400, "text_too_long", "text is too long"));
        }
        let id = self.next_message.to_string();
        self.next_message += 1;
        let send_time = now / 1000;
        self.posted.push(Posted {
            id: id.clone(),
            conversation_id,
            text: text.clone(),
            send_time,
            blocks: params.get("blocks").cloned().unwrap_or(json!([])),
        });
        Ok(ok(json!({"message": {
            "id": id, "text": text, "user_id": BOT_USER_ID.to_string(),
            "conversation_id": conversation_id, "send_time": send_time, "update_time": send_time,
            "blocks": params.get("blocks").cloned().unwrap_or(json!([]))
        }})))
    }

    fn send(&mut self, now: u64, params: &Map<String, Value>) -> Result<Answer, Answer> {
        let conv = required_id(params, "conversation_id")?;
        if !self
            .rooms
            .iter()
            .any(|r| r.id == conv && r.members.contains(&BOT_USER_ID))
        {
            return Err(fail(
                400,
                "conversation_not_found",
                "채팅방을 찾을 수 없습니다.",
            ));
        }
        self.post(now, conv, params)
    }

    fn send_by_email(&mut self, now: u64, params: &Map<String, Value>) -> Result<Answer, Answer> {
        let user = self.user_by_email(params)?;
        let room = self.dm_with(user.id)?;
        self.post(now, room.id, params)
    }
}
