//! An embedded KakaoWork Web API emulator: a real HTTP server on 127.0.0.1 serving a seeded
//! workspace, with KakaoWork's envelope, error codes, cursor rules and rate limit headers.
//! It records every request so that tests can assert on what actually went over the wire.

mod blockkit;
pub mod control;
mod directory;
mod faults;
mod http;
mod users;
mod world;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::runtime::clock::Clock;
use crate::serve::http_server::Server;
use serde_json::Value;

pub use directory::{Seed, SeedDepartment, SeedUser};
pub use faults::Fault;
use faults::FaultRule;
use world::{Room, World};

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

pub struct Emulator {
    world: Arc<Mutex<World>>,
    port: u16,
    /// Stops (and joins) the server thread when the emulator is dropped.
    _server: Server,
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
        let world = Arc::new(Mutex::new(World {
            opts,
            rooms,
            next_room: 2_092_305,
            next_message: FIRST_MESSAGE_ID,
            posted: vec![],
            recorded: vec![],
            window: VecDeque::new(),
            faults: VecDeque::new(),
            refused_blocks: vec![],
        }));
        // An error from `serve` is a connection the emulator chose to drop.
        let server = {
            let world = world.clone();
            Server::start(listener, "kakaowork-emulator", move |req| {
                http::serve(world.clone(), req)
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
        self.lock().opts.seed.users.clone()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().recorded.clone()
    }

    /// Every message the bot posted, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.lock().posted.clone()
    }

    /// Why each message whose blocks the emulator refused was refused, in order.
    pub fn refused_blocks(&self) -> Vec<String> {
        self.lock().refused_blocks.clone()
    }

    pub fn set_requests_per_minute(&self, n: u32) {
        self.lock().opts.requests_per_minute = n;
    }
}
