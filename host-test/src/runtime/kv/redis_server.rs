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
    /// Certificates, when it takes TLS connections only.
    tls: Option<TestCerts>,
}

/// A CA and a server certificate it signed for 127.0.0.1, made with `openssl` for one test.
pub struct TestCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCerts {
    /// A fresh CA (`<name>-ca.pem`) and a server certificate for 127.0.0.1 it signed, in `dir`.
    pub fn generate(dir: &std::path::Path, name: &str) -> std::io::Result<Self> {
        let at = |f: &str| dir.join(format!("{name}-{f}"));
        let certs = Self {
            ca: at("ca.pem"),
            cert: at("server.pem"),
            key: at("server.key"),
        };
        std::fs::write(at("san.ext"), "subjectAltName=IP:127.0.0.1\n")?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [Vec<std::ffi::OsString>; 3] = [
            args(
                &["req", "-x509"],
                &ec,
                &[
                    "-days",
                    "2",
                    "-subj",
                    "/CN=kakaowork-channel test CA",
                    "-keyout",
                ],
                &[&at("ca.key"), &certs.ca],
                "-out",
            ),
            args(
                &["req"],
                &ec,
                &["-subj", "/CN=127.0.0.1", "-keyout"],
                &[&certs.key, &at("server.csr")],
                "-out",
            ),
            {
                let mut a: Vec<std::ffi::OsString> =
                    ["x509", "-req", "-days", "2", "-CAcreateserial", "-in"]
                        .iter()
                        .map(Into::into)
                        .collect();
                a.push(at("server.csr").into());
                for (flag, path) in [
                    ("-CA", &certs.ca),
                    ("-CAkey", &at("ca.key")),
                    ("-extfile", &at("san.ext")),
                    ("-out", &certs.cert),
                ] {
                    a.push(flag.into());
                    a.push(path.into());
                }
                a
            },
        ];
        for step in steps {
            let out = Command::new("openssl").args(&step).output()?;
            if !out.status.success() {
                return Err(std::io::Error::other(format!(
                    "openssl {:?} failed: {}",
                    step,
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        }
        Ok(certs)
    }
}

/// `openssl` arguments: `head`, the key options, `mid`, then the first path, `flag`, the second.
fn args(
    head: &[&str],
    key: &[&str],
    mid: &[&str],
    paths: &[&PathBuf; 2],
    flag: &str,
) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> =
        head.iter().chain(key).chain(mid).map(Into::into).collect();
    a.push(paths[0].into());
    a.push(flag.into());
    a.push(paths[1].into());
    a
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
        Self::start_as(false, Some(password.to_owned()), false)
    }

    /// As [`Self::start_with_password`], taking TLS connections only, with a certificate for
    /// 127.0.0.1 signed by a CA of its own ([`Self::ca`]).
    pub fn start_tls(password: &str) -> std::io::Result<Self> {
        Self::start_as(false, Some(password.to_owned()), true)
    }

    /// The PEM file of the CA that signed a TLS server's certificate.
    pub fn ca(&self) -> Option<&std::path::Path> {
        self.tls.as_ref().map(|t| t.ca.as_path())
    }

    fn start_with(persistent: bool) -> std::io::Result<Self> {
        Self::start_as(persistent, None, false)
    }

    fn start_as(persistent: bool, password: Option<String>, tls: bool) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("kw-redis-{}-{}", std::process::id(), free_port()?));
        std::fs::create_dir_all(&dir)?;
        let tls = if tls {
            Some(TestCerts::generate(&dir, "redis")?)
        } else {
            None
        };
        let mut s = Self {
            child: None,
            dir,
            port: free_port()?,
            persistent,
            password,
            tls,
        };
        s.restart()?;
        Ok(s)
    }

    /// Its URL, with the password when it has one.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(p) => format!("{scheme}://:{p}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
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
        let port = self.port.to_string();
        let listen: Vec<std::ffi::OsString> = match &self.tls {
            None => ["--port", port.as_str()].iter().map(Into::into).collect(),
            Some(t) => {
                let mut a: Vec<std::ffi::OsString> = [
                    "--port",
                    "0",
                    "--tls-port",
                    port.as_str(),
                    "--tls-auth-clients",
                    "no",
                ]
                .iter()
                .map(Into::into)
                .collect();
                for (flag, path) in [
                    ("--tls-cert-file", &t.cert),
                    ("--tls-key-file", &t.key),
                    ("--tls-ca-cert-file", &t.ca),
                ] {
                    a.push(flag.into());
                    a.push(path.into());
                }
                a
            }
        };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(listen)
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
        let client = match &self.tls {
            Some(t) => std::fs::read(&t.ca)
                .map_err(redis::RedisError::from)
                .and_then(|pem| {
                    let certs = redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    };
                    redis::Client::build_with_tls(self.url(), certs)
                }),
            None => redis::Client::open(self.url()),
        };
        let Ok(mut c) = client.and_then(|client| client.get_connection_with_timeout(timeout))
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
