//! The Redis backend: one store shared by every process and machine that points at the same
//! Redis, so several gateways (and the CLI) share one rate budget, one set of ledgers and one
//! pairing state.
//!
//! Each value is stored as `<expires_at>\n<bytes>` (`0`: never), so expiry follows the host's
//! clock exactly, as in the other backends; Redis's own TTL (`PX`) only collects entries an
//! hour after they expired. Compare-and-swap is one Lua script, atomic on the server. Keys are
//! listed with `SCAN`, never `KEYS`. Every key lives under this store's namespace.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Error, KvStore};

/// Where keys of this plugin live in a shared Redis (`spec/kv-layout.json`).
pub const REDIS_NAMESPACE: &str = "kakaowork-channel/";

/// How long after its expiry Redis keeps an entry (it already reads as absent).
const COLLECT_AFTER_MS: u64 = 3600 * 1000;
const TIMEOUT: Duration = Duration::from_secs(2);

/// Compare-and-swap as one server-side step (the file says how it reads its arguments).
const CAS: &str = include_str!("cas.lua");

pub struct RedisKv {
    client: redis::Client,
    /// Where the store is, for messages (without a password).
    shown: String,
    namespace: String,
    conn: Mutex<Option<redis::Connection>>,
    cas: redis::Script,
}

fn encode(value: &[u8], expires_at: Option<u64>) -> Vec<u8> {
    let mut v = format!("{}\n", expires_at.unwrap_or(0)).into_bytes();
    v.extend_from_slice(value);
    v
}

/// The value, if it is still live at `now`.
fn decode(raw: &[u8], now: u64) -> Option<Vec<u8>> {
    let nl = raw.iter().position(|b| *b == b'\n')?;
    let exp: u64 = std::str::from_utf8(&raw[..nl]).ok()?.parse().ok()?;
    (exp == 0 || exp > now).then(|| raw[nl + 1..].to_vec())
}

/// Redis's own expiry: an hour after the entry's, counted from `wall` (wall-clock time); none
/// for an entry that never expires.
fn px(expires_at: Option<u64>, wall: u64) -> Option<u64> {
    expires_at.map(|at| at.saturating_sub(wall) + COLLECT_AFTER_MS)
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `prefix` as a SCAN pattern that matches it literally.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

/// Where a Redis URL points, for messages: scheme, host, port and database, never the user or
/// the password (nor anything of a string that does not parse).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let db = u.path().trim_start_matches('/');
            let db = if db.is_empty() { "0" } else { db };
            format!("{}://{host}{port}/{db}", u.scheme())
        }
        Err(_) => "(a value that is not a URL)".into(),
    }
}

impl RedisKv {
    /// A store at `url` (`redis://host:port/db`) under `namespace`. Connects lazily: an
    /// unreachable Redis is an `unavailable` error on the first call, not here.
    pub fn open(url: &str, namespace: &str) -> Result<Self, Error> {
        Self::open_with(url, namespace, None)
    }

    /// As [`Self::open`]; a `rediss://` URL connects over TLS, checking the server's
    /// certificate against the PEM file `ca` (else the system's CAs).
    pub fn open_with(url: &str, namespace: &str, ca: Option<&Path>) -> Result<Self, Error> {
        let not_redis = |e: redis::RedisError| {
            Error::Other(format!(
                "{} is not a Redis URL ({e}); use redis://host:port/db (user:password@ before \
                 the host when it asks for them), or rediss:// for TLS",
                shown_url(url)
            ))
        };
        let client = match ca {
            Some(ca) if url.starts_with("rediss://") => {
                let pem = std::fs::read(ca).map_err(|e| {
                    Error::Other(format!(
                        "cannot read the Redis CA file {}: {e}; point stateCa (--state-ca, \
                         KAKAOWORK_STATE_CA) at the PEM file of the CA that signed the server's \
                         certificate",
                        ca.display()
                    ))
                })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(url, certs).map_err(not_redis)?
            }
            _ => redis::Client::open(url).map_err(not_redis)?,
        };
        let shown = shown_url(url);
        Ok(Self {
            client,
            shown,
            namespace: namespace.to_owned(),
            conn: Mutex::new(None),
            cas: redis::Script::new(CAS),
        })
    }

    fn unavailable(&self, e: redis::RedisError) -> Error {
        // What a TLS mismatch looks like from here, said in the user's terms.
        let hint = if self.shown.starts_with("rediss://") {
            let text = e.to_string();
            if text.contains("certificate") || text.contains("Issuer") {
                " The server's certificate is not signed by a CA this host trusts: point \
                 stateCa (--state-ca, KAKAOWORK_STATE_CA) at the CA's PEM file."
            } else {
                ""
            }
        } else {
            " If this Redis takes TLS connections only, use a rediss:// URL."
        };
        Error::Unavailable(format!(
            "Redis at {} cannot be reached ({e}); nothing was stored. Start Redis or fix --state.{hint}",
            self.shown
        ))
    }

    /// Runs `f` on the connection, connecting first if needed; a failed call drops the
    /// connection so that the next one connects again.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        let mut slot = self
            .conn
            .lock()
            .map_err(|_| Error::Unavailable("the Redis connection lock is poisoned".into()))?;
        if slot.is_none() {
            let c = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .map_err(|e| self.unavailable(e))?;
            c.set_read_timeout(Some(TIMEOUT))
                .and_then(|()| c.set_write_timeout(Some(TIMEOUT)))
                .map_err(|e| self.unavailable(e))?;
            *slot = Some(c);
        }
        let Some(c) = slot.as_mut() else {
            return Err(Error::Unavailable("no Redis connection".into()));
        };
        f(c).map_err(|e| {
            *slot = None;
            self.unavailable(e)
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.namespace)
    }

    /// Every key under `prefix` (namespaced), by SCAN.
    fn scan(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let pattern = glob_escape(&self.key(prefix));
        self.with(|c| {
            let mut keys = Vec::new();
            let mut cursor = 0u64;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            keys.sort_unstable();
            keys.dedup();
            Ok(keys)
        })
    }

    /// The raw values of `keys`, in order.
    fn values(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let got: Vec<Option<Vec<u8>>> =
                self.with(|c| redis::cmd("MGET").arg(chunk).query(c))?;
            out.extend(got);
        }
        Ok(out)
    }
}

impl KvStore for RedisKv {
    fn get(&self, key: &str, now: u64) -> Result<Option<Vec<u8>>, Error> {
        let raw: Option<Vec<u8>> = self.with(|c| redis::cmd("GET").arg(self.key(key)).query(c))?;
        Ok(raw.and_then(|r| decode(&r, now)))
    }

    fn set(&self, key: &str, value: &[u8], expires_at: Option<u64>) -> Result<(), Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(encode(value, expires_at));
        if let Some(ms) = px(expires_at, wall_ms()) {
            cmd.arg("PX").arg(ms);
        }
        self.with(|c| cmd.query(c))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.with(|c| redis::cmd("DEL").arg(self.key(key)).query(c))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<bool, Error> {
        let swapped: i64 = self.with(|c| {
            self.cas
                .key(self.key(key))
                .arg(now)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(if new.is_some() { "1" } else { "0" })
                .arg(new.map(|v| encode(v, expires_at)).unwrap_or_default())
                .arg(px(expires_at, wall_ms()).unwrap_or(0))
                .invoke(c)
        })?;
        Ok(swapped == 1)
    }

    fn list_keys(&self, prefix: &str, now: u64) -> Result<Vec<String>, Error> {
        let keys = self.scan(prefix)?;
        let values = self.values(&keys)?;
        Ok(keys
            .into_iter()
            .zip(values)
            .filter(|(_, v)| v.as_deref().and_then(|r| decode(r, now)).is_some())
            .filter_map(|(k, _)| k.strip_prefix(&self.namespace).map(str::to_owned))
            .collect())
    }

    /// Redis's `PX` drops each expiring entry an hour after it expired.
    fn collects_expired(&self) -> bool {
        true
    }

    fn purge_expired(&self, now: u64) -> Result<usize, Error> {
        let keys = self.scan("")?;
        let values = self.values(&keys)?;
        let dead: Vec<&String> = keys
            .iter()
            .zip(values)
            .filter(|(_, v)| v.as_deref().is_some_and(|r| decode(r, now).is_none()))
            .map(|(k, _)| k)
            .collect();
        for chunk in dead.chunks(500) {
            let () = self.with(|c| redis::cmd("DEL").arg(chunk).query(c))?;
        }
        Ok(dead.len())
    }
}

#[cfg(test)]
mod shown {
    /// The cases both hosts share (`spec/shown-urls.json`).
    #[test]
    fn a_redis_url_is_shown_without_its_user_or_password() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../../spec/shown-urls.json")).unwrap();
        let cases = spec["cases"].as_array().unwrap();
        assert!(cases.len() >= 5);
        for c in cases {
            let shown = super::shown_url(c["url"].as_str().unwrap());
            assert_eq!(shown, c["shown"].as_str().unwrap());
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }
}

#[cfg(test)]
mod layout {
    use super::{REDIS_NAMESPACE, RedisKv, decode, encode, px};
    use serde_json::Value;

    fn hex(v: &Value) -> Vec<u8> {
        let s = v.as_str().unwrap();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The cases both hosts share (`spec/kv-layout.json`): what a set stores and what stored
    /// bytes read as.
    #[test]
    fn the_redis_layout_is_the_shared_one() {
        let spec: Value =
            serde_json::from_str(include_str!("../../../../spec/kv-layout.json")).unwrap();
        assert_eq!(spec["namespace"], REDIS_NAMESPACE);
        // Not reached: a store connects on its first call.
        let store = RedisKv::open("redis://127.0.0.1:1/0", REDIS_NAMESPACE).unwrap();
        let sets = spec["set"].as_array().unwrap();
        assert!(!sets.is_empty());
        for c in sets {
            let about = &c["about"];
            let expires_at = c["ttlMs"].as_u64().map(|t| c["now"].as_u64().unwrap() + t);
            assert_eq!(
                store.key(c["key"].as_str().unwrap()),
                c["storedKey"],
                "{about}"
            );
            assert_eq!(
                encode(&hex(&c["valueHex"]), expires_at),
                hex(&c["storedHex"]),
                "{about}"
            );
            assert_eq!(
                px(expires_at, c["wall"].as_u64().unwrap()),
                c["px"].as_u64(),
                "{about}"
            );
        }
        let reads = spec["read"].as_array().unwrap();
        assert!(!reads.is_empty());
        for c in reads {
            let value = (!c["valueHex"].is_null()).then(|| hex(&c["valueHex"]));
            assert_eq!(
                decode(&hex(&c["storedHex"]), c["now"].as_u64().unwrap()),
                value,
                "{}",
                c["about"]
            );
        }
    }
}
