//! `moltbot:channel/http`: outbound HTTP with the host's capability checks.
//!
//! The guest names an account; the host attaches that account's app key, and only when the
//! URL is on the account's configured API origin. Everything else is refused with `denied`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::{Origin, Url};

use crate::bindings::moltbot::channel::http::{
    Error, Host, Method, Request, Response, TransportFailure,
};

/// An app key. Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AppKey(String);

impl AppKey {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppKey(***)")
    }
}

/// What the host knows about one account: where its API is, and its key.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub origin: Origin,
    /// The API base as parsed: a request's URL is compared with its parts without allocating.
    base: Url,
    pub key: Option<AppKey>,
    pub proxy: Option<String>,
}

impl Endpoint {
    pub fn new(
        api_base: &str,
        key: Option<AppKey>,
        proxy: Option<String>,
    ) -> Result<Self, url::ParseError> {
        let base = Url::parse(api_base)?;
        Ok(Self {
            origin: base.origin(),
            base,
            key,
            proxy,
        })
    }

    /// Whether `url` is on this endpoint's origin (scheme, host and port).
    fn serves(&self, url: &Url) -> bool {
        matches!(self.origin, Origin::Tuple(..))
            && url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }
}

/// A request that passed the capability checks, credential attached, ready to go out.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    pub proxy: Option<String>,
}

/// What carries requests out. The default is a blocking HTTP client over real sockets;
/// benchmarks plug in an in-process responder.
pub trait Transport: Send + Sync {
    fn execute(&self, req: Outgoing) -> Result<Response, Error>;
}

/// The capability policy of the `http` interface, shared by every store of one runtime.
#[derive(Clone)]
pub struct HttpPolicy {
    pub accounts: HashMap<String, Endpoint>,
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    pub max_response_bytes: u64,
    /// `None`: real HTTP.
    pub transport: Option<Arc<dyn Transport>>,
    /// Keep the guest's latest requests for `Plugin::guest_requests` (tests ask for it; off by
    /// default, as copying every request costs a send more than the rest of the host's work).
    pub record_requests: bool,
}

impl fmt::Debug for HttpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPolicy")
            .field("accounts", &self.accounts)
            .field("default_timeout", &self.default_timeout)
            .field("max_timeout", &self.max_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("transport", &self.transport.as_ref().map(|_| "custom"))
            .field("record_requests", &self.record_requests)
            .finish()
    }
}

impl HttpPolicy {
    pub fn new(accounts: HashMap<String, Endpoint>) -> Self {
        Self {
            accounts,
            default_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_secs(30),
            max_response_bytes: 4 * 1024 * 1024,
            transport: None,
            record_requests: false,
        }
    }
}

/// A request exactly as the guest produced it, before the host added anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub account: Option<String>,
}

/// How many of the guest's latest requests the log keeps: `serve` runs for days.
pub const GUEST_LOG_CAP: usize = 1024;

/// Per-store state of the `http` interface.
pub struct HttpState {
    policy: Arc<HttpPolicy>,
    agents: HashMap<Option<String>, ureq::Agent>,
    /// The guest's latest requests (at most [`GUEST_LOG_CAP`]), for tests and the CLI.
    pub log: Arc<Mutex<VecDeque<GuestRequest>>>,
}

impl HttpState {
    pub fn new(policy: Arc<HttpPolicy>) -> Self {
        Self {
            policy,
            agents: HashMap::new(),
            log: Arc::default(),
        }
    }

    fn agent(&mut self, proxy: Option<&String>) -> Result<ureq::Agent, Error> {
        if let Some(a) = self.agents.get(&proxy.cloned()) {
            return Ok(a.clone());
        }
        let proxy_cfg = proxy
            .map(|p| ureq::Proxy::new(p).map_err(|e| Error::Other(format!("proxy `{p}`: {e}"))))
            .transpose()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirect could carry the key elsewhere: never follow one.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(proxy_cfg)
            .timeout_global(Some(self.policy.default_timeout))
            .build()
            .into();
        self.agents.insert(proxy.cloned(), agent.clone());
        Ok(agent)
    }

    /// Which credential (if any) this request gets, or why it is refused.
    /// The request's URL, its `Authorization` value (the account's key) and its proxy.
    fn authorize(&self, req: &Request) -> Result<(Url, Option<String>, Option<String>), Error> {
        let url = Url::parse(&req.url)
            .map_err(|e| Error::Denied(format!("`{}` is not a valid URL: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Denied(format!(
                "scheme `{}` is not allowed",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Denied(
                "URLs with credentials are not allowed".into(),
            ));
        }
        if let Some((name, _)) = req.headers.iter().find(|(k, _)| {
            k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("proxy-authorization")
        }) {
            return Err(Error::Denied(format!(
                "the guest may not set `{name}`: the host attaches credentials"
            )));
        }
        match &req.account {
            Some(id) => {
                let ep = self.policy.accounts.get(id).ok_or_else(|| {
                    Error::Denied(format!("no account `{id}` in the host's configuration"))
                })?;
                if !ep.serves(&url) {
                    return Err(Error::Denied(format!(
                        "{} is not the API origin of account `{id}` ({})",
                        url.origin().ascii_serialization(),
                        ep.origin.ascii_serialization()
                    )));
                }
                let auth = ep.key.as_ref().map(|k| {
                    let mut v = String::with_capacity(7 + k.expose().len());
                    v.push_str("Bearer ");
                    v.push_str(k.expose());
                    v
                });
                Ok((url, auth, ep.proxy.clone()))
            }
            None => {
                let ep = self
                    .policy
                    .accounts
                    .values()
                    .find(|ep| ep.serves(&url))
                    .ok_or_else(|| {
                        Error::Denied(format!(
                            "{} is not a configured API origin",
                            url.origin().ascii_serialization()
                        ))
                    })?;
                Ok((url, None, ep.proxy.clone()))
            }
        }
    }
}

fn transport(message: String, maybe_delivered: bool) -> Error {
    Error::Transport(TransportFailure {
        message,
        maybe_delivered,
    })
}

fn map_error(e: ureq::Error) -> Error {
    match e {
        ureq::Error::Timeout(_) => Error::Timeout,
        ureq::Error::BodyExceedsLimit(_) => Error::TooLarge,
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::InvalidProxyUrl => transport(e.to_string(), false),
        ureq::Error::Io(io) => {
            let refused = matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            );
            transport(io.to_string(), !refused)
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            transport(e.to_string(), false)
        }
        ureq::Error::Protocol(_) => transport(e.to_string(), true),
        other => Error::Other(other.to_string()),
    }
}

impl HttpState {
    fn execute_ureq(&mut self, out: Outgoing) -> Result<Response, Error> {
        let agent = self.agent(out.proxy.as_ref())?;
        let result = match out.method {
            Method::Get => {
                let mut b = agent.get(out.url.as_str());
                for (k, v) in &out.headers {
                    b = b.header(k, v);
                }
                b.config().timeout_global(Some(out.timeout)).build().call()
            }
            Method::Post => {
                let mut b = agent.post(out.url.as_str());
                for (k, v) in &out.headers {
                    b = b.header(k, v);
                }
                let b = b.config().timeout_global(Some(out.timeout)).build();
                b.send(out.body.as_deref().unwrap_or_default())
            }
        };
        let mut resp = result.map_err(map_error)?;
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.policy.max_response_bytes)
            .read_to_vec()
            .map_err(map_error)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Host for HttpState {
    fn send(&mut self, req: Request) -> Result<Response, Error> {
        if self.policy.record_requests
            && let Ok(mut log) = self.log.lock()
        {
            if log.len() == GUEST_LOG_CAP {
                log.pop_front();
            }
            log.push_back(GuestRequest {
                method: match req.method {
                    Method::Get => "GET",
                    Method::Post => "POST",
                },
                url: req.url.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
                account: req.account.clone(),
            });
        }
        let (url, auth, proxy) = self.authorize(&req)?;
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(self.policy.default_timeout)
            .min(self.policy.max_timeout);
        let mut headers = req.headers;
        if let Some(v) = auth {
            headers.push(("Authorization".into(), v));
        }
        let out = Outgoing {
            method: req.method,
            url,
            headers,
            body: req.body,
            timeout,
            proxy,
        };
        let mut resp = match self.policy.transport.clone() {
            Some(t) => t.execute(out),
            None => self.execute_ureq(out),
        }?;
        resp.headers.retain(|(name, _)| {
            req.response_headers
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(name))
        });
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every request at once with the same headers.
    struct Answering(Vec<(String, String)>);

    impl Transport for Answering {
        fn execute(&self, _: Outgoing) -> Result<Response, Error> {
            Ok(Response {
                status: 200,
                headers: self.0.clone(),
                body: b"{\"success\":true}".to_vec(),
            })
        }
    }

    #[test]
    fn only_the_headers_the_guest_names_come_back() {
        let endpoint = Endpoint::new("https://api.kakaowork.com", Some(AppKey::new("k")), None);
        let mut policy = HttpPolicy::new(HashMap::from([("a".to_owned(), endpoint.unwrap())]));
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        policy.transport = Some(Arc::new(Answering(vec![
            pair("Date", "Wed, 02 Dec 2026 13:00:00 GMT"),
            pair("RateLimit-Limit", "100"),
            pair("Content-Type", "application/json"),
            pair("ratelimit-limit", "90"),
            pair("Retry-After", "3"),
        ])));
        let mut state = HttpState::new(Arc::new(policy));
        let mut send = |wanted: &[&str]| {
            state
                .send(Request {
                    method: Method::Get,
                    url: "https://api.kakaowork.com/v1/bots.info".into(),
                    headers: vec![],
                    body: None,
                    account: Some("a".into()),
                    timeout_ms: None,
                    response_headers: wanted.iter().map(|w| (*w).to_owned()).collect(),
                })
                .unwrap()
                .headers
        };
        // Names compare case-insensitively, and every header of a wanted name comes back, in
        // the answer's order.
        assert_eq!(
            send(&["RATELIMIT-LIMIT", "retry-after"]),
            vec![
                pair("RateLimit-Limit", "100"),
                pair("ratelimit-limit", "90"),
                pair("Retry-After", "3"),
            ]
        );
        assert_eq!(send(&[]), vec![]);
        assert_eq!(send(&["x-missing"]), vec![]);
    }

    /// The cases both hosts share (`spec/http-policy.json`): what the capability checks allow,
    /// with or without the account's key, and what they refuse, with which words.
    #[test]
    fn the_capability_checks_are_the_shared_ones() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../spec/http-policy.json")).unwrap();
        let accounts = spec["accounts"].as_object().unwrap();
        let endpoints = accounts.iter().map(|(id, a)| {
            let key = a["key"].as_str().map(AppKey::new);
            let ep = Endpoint::new(a["apiBase"].as_str().unwrap(), key, None).unwrap();
            (id.clone(), ep)
        });
        let state = HttpState::new(Arc::new(HttpPolicy::new(endpoints.collect())));
        let cases = spec["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for c in cases {
            let about = c["about"].as_str().unwrap();
            let headers = c["headers"].as_array().unwrap().iter().map(|h| {
                let s = |i: usize| h[i].as_str().unwrap().to_owned();
                (s(0), s(1))
            });
            let req = Request {
                method: if c["method"] == "post" {
                    Method::Post
                } else {
                    Method::Get
                },
                url: c["url"].as_str().unwrap().into(),
                headers: headers.collect(),
                body: None,
                account: c["account"].as_str().map(str::to_owned),
                timeout_ms: None,
                response_headers: vec![],
            };
            match (state.authorize(&req), &c["allowed"]) {
                (Ok((_, auth, _)), allowed) if allowed.is_object() => {
                    let key = allowed["key"].as_bool().unwrap();
                    let want = key.then(|| {
                        let id = c["account"].as_str().unwrap();
                        format!("Bearer {}", accounts[id]["key"].as_str().unwrap())
                    });
                    assert_eq!(auth, want, "{about}");
                }
                (Err(Error::Denied(m)), refused) if refused.is_null() => {
                    assert_eq!(c["refused"], "denied", "{about}");
                    let says = c["says"].as_str().unwrap();
                    assert!(m.contains(says), "{about}: {m}");
                }
                (r, _) => panic!("{about}: {r:?}"),
            }
        }
    }

    #[test]
    fn the_request_log_keeps_only_the_latest() {
        let mut policy = HttpPolicy::new(HashMap::new());
        policy.record_requests = true;
        let mut state = HttpState::new(Arc::new(policy));
        for i in 0..GUEST_LOG_CAP + 10 {
            let r = state.send(Request {
                method: Method::Get,
                url: format!("https://api.kakaowork.com/v1/bots.info?n={i}"),
                headers: vec![],
                body: None,
                account: Some("nobody".into()),
                timeout_ms: None,
                response_headers: vec![],
            });
            assert!(matches!(r, Err(Error::Denied(_))), "{r:?}");
        }
        let log = state.log.lock().unwrap();
        assert_eq!(log.len(), GUEST_LOG_CAP);
        assert!(log[0].url.ends_with("n=10"), "{}", log[0].url);
        assert!(
            log.back()
                .unwrap()
                .url
                .ends_with(&format!("n={}", GUEST_LOG_CAP + 9))
        );
    }
}
