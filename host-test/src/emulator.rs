//! An embedded KakaoWork Web API emulator: a real HTTP server on 127.0.0.1 serving a seeded
//! workspace, with KakaoWork's envelope, error codes, cursor rules and rate limit headers.
//! It records every request so that tests can assert on what actually went over the wire.

// From the bottom up: `answer` (the envelope), `directory`, `faults` and `blockkit`; `world`
// on them; `http` on `world`; this handle on both. `users` (playing a member) and `control`
// (the control API) are built on the handle; nothing below calls up.
mod answer;
mod blockkit;
pub mod control;
mod directory;
mod faults;
mod http;
mod users;
mod world;

use std::sync::{Arc, Mutex, MutexGuard};

use crate::serve::http_server::Server;

pub use directory::{Seed, SeedDepartment, SeedUser};
pub use faults::Fault;
use faults::FaultRule;
use world::World;
pub use world::{
    BOT_USER_ID, DEFAULT_APP_KEY, DM_ROOM_BASE, EmulatorOptions, FIRST_GROUP_ROOM, Posted,
    Recorded, SEEDED_GROUP_ROOMS,
};

pub struct Emulator {
    world: Arc<Mutex<World>>,
    port: u16,
    /// Stops (and joins) the server thread when the emulator is dropped.
    _server: Server,
}

impl Emulator {
    pub fn start(opts: EmulatorOptions) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", opts)
    }

    /// Serve on `addr` (`127.0.0.1:0` picks a free port).
    pub fn start_on(addr: &str, opts: EmulatorOptions) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let world = Arc::new(Mutex::new(World::new(opts)));
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
