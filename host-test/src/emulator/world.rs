//! The emulated workspace: its users, rooms and messages, what it records, and KakaoWork's
//! answers to each method (error codes, rate limit). The HTTP layer and the emulator's handle
//! call into it; it calls down only, to the directory, the envelope and the fault rules.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::answer::{Answer, fail, ok};
use super::blockkit;
use super::directory::{SPACE_ID, Seed, SeedUser, paginate};
use super::faults::{self, Fault, FaultRule};
use crate::runtime::clock::Clock;

pub const DEFAULT_APP_KEY: &str = "emulator0.0123456789abcdef0123456789abcdef";
pub const BOT_USER_ID: u64 = 9_000_001;
/// Above 2^53, as KakaoWork's real message ids are.
const FIRST_MESSAGE_ID: u64 = 757_617_552_587_034_624;
const MAX_TEXT_CHARS: usize = 3000;

/// A user's DM with the bot is `DM_ROOM_BASE + user id % 10000`.
pub const DM_ROOM_BASE: u64 = 2_090_000;

/// 23 group rooms, so that listing them with the default page size takes 3 pages.
pub const SEEDED_GROUP_ROOMS: u64 = 23;
pub const FIRST_GROUP_ROOM: u64 = 3_000_001;

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub app_key: String,
    /// Keys of other bots of the same workspace (they share its rate budget).
    pub extra_app_keys: Vec<String>,
    pub requests_per_minute: u32,
    pub clock: Clock,
    /// The workspace's members and departments.
    pub seed: Seed,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            app_key: DEFAULT_APP_KEY.into(),
            extra_app_keys: vec![],
            requests_per_minute: 200,
            clock: Clock::Real,
            seed: Seed::default(),
        }
    }
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

#[derive(Clone, Debug)]
pub(super) struct Room {
    pub(super) id: u64,
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) members: Vec<u64>,
}

pub(super) struct World {
    pub(super) opts: EmulatorOptions,
    pub(super) rooms: Vec<Room>,
    pub(super) next_room: u64,
    pub(super) next_message: u64,
    pub(super) posted: Vec<Posted>,
    pub(super) recorded: Vec<Recorded>,
    pub(super) window: VecDeque<u64>,
    pub(super) faults: VecDeque<FaultRule>,
    /// Why each refused `blocks` was refused, in order.
    pub(super) refused_blocks: Vec<String>,
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

/// A request's header by name, in any case.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn room_json(r: &Room) -> Value {
    json!({"id": r.id.to_string(), "type": r.kind, "users_count": r.members.len(),
           "avatar_url": null, "name": r.name})
}

impl World {
    /// The workspace at start: the seed's members, and the group rooms the bot is in.
    pub(super) fn new(opts: EmulatorOptions) -> Self {
        let users = &opts.seed.users;
        // Among the first five members (or as many as a seed has), two per room.
        let n = users.len().clamp(1, 5) as u64;
        let rooms = (0..SEEDED_GROUP_ROOMS)
            .map(|i| {
                let mut members = vec![BOT_USER_ID, users[(i % n) as usize].id];
                let second = users[((i + 1) % n) as usize].id;
                if !members.contains(&second) {
                    members.push(second);
                }
                Room {
                    id: FIRST_GROUP_ROOM + i,
                    kind: "group",
                    name: format!("프로젝트 채널 {}", i + 1),
                    members,
                }
            })
            .collect();
        World {
            opts,
            rooms,
            next_room: 2_092_305,
            next_message: FIRST_MESSAGE_ID,
            posted: vec![],
            recorded: vec![],
            window: VecDeque::new(),
            faults: VecDeque::new(),
            refused_blocks: vec![],
        }
    }

    pub(super) fn take_fault(&mut self, path: &str) -> Option<Fault> {
        faults::take(&mut self.faults, path)
    }

    pub(super) fn answer(
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
            ("GET", "spaces.info") => Ok(ok(
                json!({"space": {"id": SPACE_ID, "kakaoi_org_id": 285847,
                "name": "Example Corp.", "color_code": "default", "color_tone": "light",
                "permitted_ext": ["*"], "profile_name_format": "name_only",
                "profile_position_format": "responsibility", "logo_url": ""}}),
            )),
            ("GET", "users.info") => self.users_info(&params),
            ("GET", "users.find_by_email") => self.find_by_email(&params),
            ("GET", "users.list") => Ok(self.opts.seed.users_list(&params)),
            ("GET", "departments.list") => Ok(self.opts.seed.departments_list(&params)),
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
            ("GET", _) if api.starts_with("conversations/") && api.ends_with("/users") => {
                self.conversation_users(&api["conversations/".len()..api.len() - "/users".len()])
            }
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
            .opts
            .seed
            .users
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| fail(400, "user_not_found", "사용자를 찾을 수 없습니다."))?;
        Ok(ok(json!({"user": self.opts.seed.user_json(u)})))
    }

    /// `conversations/{id}/users`: the members of a room the bot is in (the bot excluded).
    fn conversation_users(&self, id: &str) -> Result<Answer, Answer> {
        let room = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.rooms.iter().find(|r| r.id == id))
            .filter(|r| r.members.contains(&BOT_USER_ID))
            .ok_or_else(|| fail(400, "conversation_not_found", "채팅방을 찾을 수 없습니다."))?;
        let users: Vec<Value> = room
            .members
            .iter()
            .filter_map(|m| self.opts.seed.users.iter().find(|u| u.id == *m))
            .map(|u| self.opts.seed.user_json(u))
            .collect();
        Ok(ok(json!({ "users": users })))
    }

    fn user_by_email(&self, params: &Map<String, Value>) -> Result<SeedUser, Answer> {
        let email = params
            .get("email")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(400, "missing_parameter", "email parameter is missing."))?;
        // KakaoWork answers an unknown e-mail with invalid_parameter.
        self.opts
            .seed
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned()
            .ok_or_else(|| fail(400, "invalid_parameter", "no member with this e-mail"))
    }

    fn find_by_email(&self, params: &Map<String, Value>) -> Result<Answer, Answer> {
        let u = self.user_by_email(params)?;
        Ok(ok(json!({"user": self.opts.seed.user_json(&u)})))
    }

    fn dm_with(&mut self, user: u64) -> Result<Room, Answer> {
        let u = self
            .opts
            .seed
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
                Some(id) if self.opts.seed.users.iter().any(|u| u.id == id) => members.push(id),
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
        if let Some(blocks) = params.get("blocks")
            && let Err(why) = blockkit::check(blocks)
        {
            self.refused_blocks.push(why);
            return Err(fail(
                400,
                "invalid_parameter",
                "요청한 블록 정보가 올바르지 않습니다.",
            ));
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
