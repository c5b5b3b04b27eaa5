//! The wasmtime side: one engine (pooling allocator, epoch interruption), one `InstancePre`,
//! and a fresh store per instance with a memory limit and a deadline per call. Its submodules
//! are what it links and takes: one per import interface, the host's configuration, the
//! inspectable memories of the sandbox tests, and the instance pool built on [`Plugin`].

pub mod clock;
pub mod config;
pub mod http;
pub mod inspect;
pub mod kv;
pub mod pairing;
pub mod pool;
pub mod random;

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};

use crate::bindings::{ChannelPlugin, ChannelPluginPre};
use crate::runtime::clock::{Clock, ClockState};
use crate::runtime::http::{GuestRequest, HttpPolicy, HttpState};
use crate::runtime::kv::{KvState, KvStore};
use crate::runtime::pairing::PairingState;
use crate::runtime::random::RandomState;
use crate::wit;

pub struct RuntimeOptions {
    /// Linear memory per instance.
    pub memory_limit: usize,
    /// Wall-clock budget of one export call, host HTTP time included.
    pub call_deadline: Duration,
    pub epoch_tick: Duration,
    /// Instances that may exist at once (sizes the pooling allocator).
    pub max_instances: u32,
    /// Replace the pooling allocator by host-allocated memories that tests can read.
    pub memory_probe: Option<Arc<dyn wasmtime::MemoryCreator>>,
    /// Where the compiled component is kept between processes, so that a CLI command does not
    /// compile it with Cranelift at every start; `None` compiles every time.
    pub compiled_cache: Option<CompiledCache>,
    /// Write `/tmp/perf-<pid>.map` so that `perf` names the guest's compiled functions
    /// (profiling only).
    pub perf_map: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            memory_limit: 64 << 20,
            call_deadline: Duration::from_secs(120),
            epoch_tick: Duration::from_millis(10),
            max_instances: 64,
            memory_probe: None,
            compiled_cache: None,
            perf_map: false,
        }
    }
}

/// The file name of a compiled component: the component's digest and the engine's
/// compatibility hash, so that another component or engine configuration never reads it.
pub fn compiled_file_name(engine: &Engine, component_bytes: &[u8]) -> String {
    use sha2::Digest;
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let digest = sha2::Sha256::digest(component_bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("kakaowork-channel-{hex}-{:016x}.cwasm", h.finish())
}

/// The compiled-component cache: a directory, and the key its files are signed with. Loading
/// compiled code runs it, so a file is loaded only when it is this user's own, private, and
/// carries a MAC under `key` (which lives in the user's state, where nobody else can read it).
#[derive(Clone)]
pub struct CompiledCache {
    pub dir: std::path::PathBuf,
    pub key: [u8; 32],
}

impl CompiledCache {
    /// A cache in `dir` keyed from the state's secret salt.
    pub fn new(dir: std::path::PathBuf, state_salt: &[u8]) -> Self {
        Self {
            dir,
            key: mac_of(state_salt, b"compiled-component cache v1"),
        }
    }

    fn mac_path(path: &std::path::Path) -> std::path::PathBuf {
        path.with_extension("cwasm.mac")
    }

    /// The file's bytes when they are trusted: owned by this user, private, MAC valid.
    fn read_trusted(&self, path: &std::path::Path) -> Option<Vec<u8>> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
                return None;
            }
        }
        let bytes = std::fs::read(path).ok()?;
        let mac = std::fs::read(Self::mac_path(path)).ok()?;
        let want = mac_of(&self.key, &bytes);
        (mac.len() == want.len() && kakaowork_channel::api::callback::ct_eq(&mac, &want))
            .then_some(bytes)
    }

    /// Writes `bytes` and its MAC, each private to this user and renamed into place whole.
    fn write(&self, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
        crate::runtime::kv::private_dir(&self.dir)?;
        let private = |to: &std::path::Path, data: &[u8]| -> std::io::Result<()> {
            use std::io::Write;
            let tmp = self.dir.join(format!(".{}.tmp", std::process::id()));
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let written = o.open(&tmp).and_then(|mut f| f.write_all(data));
            let renamed = written.and_then(|()| std::fs::rename(&tmp, to));
            if renamed.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            renamed
        };
        // The MAC first: a crash between the two leaves a file that does not verify.
        private(&Self::mac_path(path), &mac_of(&self.key, bytes))?;
        private(path, bytes)
    }
}

fn mac_of(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Compiles the component, or loads what an earlier process of this user compiled for this
/// same engine. The cache only saves time: any doubt about a file, and any failure to read or
/// write it, falls back to compiling (and puts a good copy back).
fn load_component(
    engine: &Engine,
    component_bytes: &[u8],
    cache: Option<&CompiledCache>,
) -> wasmtime::Result<Component> {
    let Some(cache) = cache else {
        return Component::new(engine, component_bytes);
    };
    let path = cache.dir.join(compiled_file_name(engine, component_bytes));
    if let Some(bytes) = cache.read_trusted(&path) {
        // SAFETY: these bytes are what `serialize` wrote for this component and this engine
        // configuration (both are in the name), as their MAC under the state's key proves
        // (checked on these very bytes, not on the file again); wasmtime checks the header
        // and refuses another version or configuration, and a refusal compiles instead.
        if let Ok(c) = unsafe { Component::deserialize(engine, &bytes) } {
            return Ok(c);
        }
    }
    let component = Component::new(engine, component_bytes)?;
    if let Ok(bytes) = component.serialize() {
        let _ = cache.write(&path, &bytes);
    }
    Ok(component)
}

/// Everything an instance's imports are bound to.
#[derive(Clone)]
pub struct HostEnv {
    pub http: Arc<HttpPolicy>,
    pub kv: Arc<dyn KvStore>,
    pub clock: Clock,
}

pub struct HostState {
    pub http: HttpState,
    pub kv: KvState,
    pub pairing: PairingState,
    pub clock: ClockState,
    pub random: RandomState,
    limits: StoreLimits,
}

pub struct Runtime {
    engine: Engine,
    component: Component,
    pre: ChannelPluginPre<HostState>,
    deadline_ticks: u64,
    memory_limit: usize,
}

impl Runtime {
    pub fn new(component_bytes: &[u8], opts: RuntimeOptions) -> wasmtime::Result<Self> {
        let mut cfg = Config::new();
        cfg.epoch_interruption(true);
        cfg.max_wasm_stack(512 << 10);
        if opts.perf_map {
            cfg.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        match &opts.memory_probe {
            Some(creator) => {
                // Host memories have no guard region: bounds checks are explicit.
                cfg.with_host_memory(creator.clone());
                cfg.memory_reservation(0);
                cfg.memory_guard_size(0);
                cfg.memory_reservation_for_growth(0);
                cfg.memory_init_cow(false);
            }
            None => {
                let mut pool = PoolingAllocationConfig::default();
                pool.total_component_instances(opts.max_instances)
                    .total_core_instances(opts.max_instances * 4)
                    .total_memories(opts.max_instances * 2)
                    .total_tables(opts.max_instances * 4)
                    .max_memory_size(opts.memory_limit);
                cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            }
        }
        let engine = Engine::new(&cfg)?;
        let component = load_component(&engine, component_bytes, opts.compiled_cache.as_ref())?;
        let mut linker = Linker::<HostState>::new(&engine);
        use crate::bindings::{moltbot::channel as mc, wasi};
        mc::http::add_to_linker::<_, HasSelf<HttpState>>(&mut linker, |s| &mut s.http)?;
        mc::kv::add_to_linker::<_, HasSelf<KvState>>(&mut linker, |s| &mut s.kv)?;
        mc::pairing::add_to_linker::<_, HasSelf<PairingState>>(&mut linker, |s| &mut s.pairing)?;
        wasi::clocks::wall_clock::add_to_linker::<_, HasSelf<ClockState>>(&mut linker, |s| {
            &mut s.clock
        })?;
        wasi::random::random::add_to_linker::<_, HasSelf<RandomState>>(&mut linker, |s| {
            &mut s.random
        })?;
        let pre = ChannelPluginPre::new(linker.instantiate_pre(&component)?)?;

        let weak = engine.weak();
        let tick = opts.epoch_tick;
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                // Stops by itself once the engine is dropped.
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(tick);
                }
            })?;
        let deadline_ticks =
            (opts.call_deadline.as_millis() / opts.epoch_tick.as_millis().max(1)).max(1) as u64;
        Ok(Self {
            engine,
            component,
            pre,
            deadline_ticks,
            memory_limit: opts.memory_limit,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn component(&self) -> &Component {
        &self.component
    }

    /// A fresh instance in its own store.
    pub fn instantiate(&self, env: &HostEnv) -> wasmtime::Result<Plugin> {
        let state = HostState {
            http: HttpState::new(env.http.clone()),
            kv: KvState::new(env.kv.clone(), env.clock.clone()),
            // The host's pairing store lives in the same KV as the guest's state.
            pairing: PairingState {
                store: env.kv.clone(),
                clock: env.clock.clone(),
            },
            clock: ClockState {
                clock: env.clock.clone(),
            },
            random: RandomState::default(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.memory_limit)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(self.deadline_ticks);
        let bindings = self.pre.instantiate(&mut store)?;
        Ok(Plugin {
            store,
            bindings,
            deadline_ticks: self.deadline_ticks,
        })
    }
}

/// One instance of the component. Calls return `Err` only on a trap; the plugin's own
/// errors are the inner `Result`.
pub struct Plugin {
    store: Store<HostState>,
    bindings: ChannelPlugin,
    deadline_ticks: u64,
}

impl Plugin {
    fn arm(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
    }

    pub fn configure(
        &mut self,
        config_json: &str,
        credentials: &[wit::CredentialStatus],
    ) -> wasmtime::Result<Result<wit::ConfigureResult, Vec<wit::ConfigIssue>>> {
        self.arm();
        self.bindings.moltbot_channel_channel().call_configure(
            &mut self.store,
            config_json,
            credentials,
        )
    }

    pub fn send(
        &mut self,
        req: &wit::SendRequest,
    ) -> wasmtime::Result<Result<wit::SendReceipt, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_send(&mut self.store, req)
    }

    pub fn probe(
        &mut self,
        account: Option<&str>,
    ) -> wasmtime::Result<Result<wit::ProbeResult, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_probe(&mut self.store, account)
    }

    pub fn directory(
        &mut self,
        q: &wit::DirectoryQuery,
    ) -> wasmtime::Result<Result<wit::DirectoryListing, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_directory(&mut self.store, q)
    }

    pub fn lookup_member(
        &mut self,
        account: Option<&str>,
        who: &str,
    ) -> wasmtime::Result<Result<wit::Member, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_lookup_member(&mut self.store, account, who)
    }

    pub fn conversation_members(
        &mut self,
        account: Option<&str>,
        conversation: &str,
    ) -> wasmtime::Result<Result<Vec<wit::Member>, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_conversation_members(&mut self.store, account, conversation)
    }

    pub fn space(
        &mut self,
        account: Option<&str>,
    ) -> wasmtime::Result<Result<wit::SpaceInfo, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_space(&mut self.store, account)
    }

    pub fn handle_callback(
        &mut self,
        req: &wit::CallbackRequest,
    ) -> wasmtime::Result<Result<wit::CallbackOutcome, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_handle_callback(&mut self.store, req)
    }

    /// The token the account's callback URL carries; `None` under the opt-out.
    pub fn callback_token(
        &mut self,
        account: Option<&str>,
    ) -> wasmtime::Result<Result<Option<String>, wit::ChannelError>> {
        self.arm();
        self.bindings
            .moltbot_channel_channel()
            .call_callback_token(&mut self.store, account)
    }

    /// What the send ledger knows of a send; sends nothing.
    pub fn send_status(
        &mut self,
        account: Option<&str>,
        idempotency_key: &str,
    ) -> wasmtime::Result<Result<wit::SendState, wit::ChannelError>> {
        self.arm();
        self.bindings.moltbot_channel_channel().call_send_status(
            &mut self.store,
            account,
            idempotency_key,
        )
    }

    pub fn check_policy(
        &mut self,
        account: Option<&str>,
        sender_id: &str,
        chat_type: wit::ChatType,
    ) -> wasmtime::Result<Result<wit::PolicyDecision, wit::ChannelError>> {
        self.arm();
        self.bindings.moltbot_channel_channel().call_check_policy(
            &mut self.store,
            account,
            sender_id,
            chat_type,
        )
    }

    /// The guest's latest requests (at most `http::GUEST_LOG_CAP`), before the host added anything.
    pub fn guest_requests(&self) -> Vec<GuestRequest> {
        self.store
            .data()
            .http
            .log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}
