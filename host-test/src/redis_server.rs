//! A `redis-server` of its own for tests and benchmarks: on 127.0.0.1 at a free port, with its
//! own data directory, stopped (and its directory removed) when dropped. Without persistence
//! unless asked: a persistent one keeps every acknowledged write across `stop`/`restart`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
    persistent: bool,
    /// `requirepass`, when the server asks for one.
    password: Option<String>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl RedisServer {
    /// Starts one and waits (at most 10 s) until it answers.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(false)
    }

    /// As [`Self::start`], with an append-only file synced at every write, as a production
    /// Redis keeps its data: a restart brings every acknowledged write back.
    pub fn start_persistent() -> std::io::Result<Self> {
        Self::start_with(true)
    }

    /// As [`Self::start`], asking every client for `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> std::io::Result<Self> {
        Self::start_as(false, Some(password.to_owned()))
    }

    fn start_with(persistent: bool) -> std::io::Result<Self> {
        Self::start_as(persistent, None)
    }

    fn start_as(persistent: bool, password: Option<String>) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("kw-redis-{}-{}", std::process::id(), free_port()?));
        std::fs::create_dir_all(&dir)?;
        let mut s = Self {
            child: None,
            dir,
            port: free_port()?,
            persistent,
            password,
        };
        s.restart()?;
        Ok(s)
    }

    /// Its URL, with the password when it has one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Stops the server (SIGKILL); `restart` brings it back.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port: empty, unless it is persistent.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        let persistence: &[&str] = if self.persistent {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", ""])
            .args(persistence)
            .args(
                self.password
                    .iter()
                    .flat_map(|p| ["--requirepass".to_owned(), p.clone()]),
            )
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start redis-server ({e}); install it: apt-get install \
                         redis-server (or run the tests with `cargo xtask test`, which does)"
                    ),
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.answers_ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(std::io::Error::other(format!(
                    "redis-server did not answer on port {} within 10 s",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl RedisServer {
    /// Whether it answers PING with PONG (a server still loading its data answers `-LOADING`).
    fn answers_ping(&self) -> bool {
        let timeout = Duration::from_secs(1);
        let Ok(mut c) = redis::Client::open(self.url())
            .and_then(|client| client.get_connection_with_timeout(timeout))
        else {
            return false;
        };
        let _ = c.set_read_timeout(Some(timeout));
        redis::cmd("PING")
            .query::<String>(&mut c)
            .is_ok_and(|pong| pong == "PONG")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
