//! The host's callback endpoint: a real HTTP server that hands KakaoWork's callbacks to the
//! plugin's `handle-callback`, answers with what it returns, reports inbound events, and
//! delivers the messages the plugin left to the host (e.g. a pairing reply while the rate
//! budget is spent). Its submodules: the HTTP server it (and the emulator) runs on, and the
//! delivery loop it (and the CLI) sends with.

pub mod delivery;
pub mod http_server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};

use crate::runtime::pool::{Pool, PoolError};
use crate::serve::delivery::retry_hint;
use crate::serve::http_server::{Limits, Server};
use crate::wit::{CallbackRequest, ChannelError, InboundEvent, SendRequest};

/// Bodies are read up to one byte over the plugin's 64 KiB limit, so that it can answer 413.
const READ_LIMIT: usize = 64 * 1024 + 1;
/// The rest of an oversized body is read and dropped up to this much, so that its client,
/// still writing, reads the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 4 << 20;
/// A client has this long to send its headers, and again this long for its body.
pub const READ_DEADLINE: Duration = Duration::from_secs(10);
/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a callback waits for a free plugin instance before it is answered 503.
const INSTANCE_WAIT: Duration = Duration::from_secs(5);

pub type EventSink = Arc<dyn Fn(&InboundEvent) + Send + Sync>;

pub struct CallbackServer {
    addr: SocketAddr,
    pool: Arc<Pool>,
    outbox: Arc<Mutex<Vec<SendRequest>>>,
    /// Stops (and joins) the server thread when dropped.
    _server: Server,
}

impl CallbackServer {
    /// Serve on `listen` (e.g. "127.0.0.1:0") with the instances of `pool`; `on_event` sees
    /// every inbound event.
    pub fn start(listen: &str, pool: Arc<Pool>, on_event: EventSink) -> std::io::Result<Self> {
        Self::start_with(listen, pool, on_event, READ_DEADLINE)
    }

    /// As [`CallbackServer::start`], with each callback path's token (see
    /// [`CallbackServer::launch`]).
    pub fn start_guarded(
        listen: &str,
        pool: Arc<Pool>,
        on_event: EventSink,
        tokens: Tokens,
    ) -> std::io::Result<Self> {
        Self::launch(listen, pool, on_event, READ_DEADLINE, tokens)
    }

    /// As [`CallbackServer::start`], with another read deadline (tests).
    pub fn start_with(
        listen: &str,
        pool: Arc<Pool>,
        on_event: EventSink,
        read_deadline: Duration,
    ) -> std::io::Result<Self> {
        Self::launch(listen, pool, on_event, read_deadline, Tokens::default())
    }

    /// A request to a path of `tokens` whose `token` is not that path's is answered 401 before
    /// it takes an instance (compared in constant time, by the plugin's own function): a flood
    /// of forged callbacks cannot keep the instances from the real ones. The plugin checks again.
    pub fn launch(
        listen: &str,
        pool: Arc<Pool>,
        on_event: EventSink,
        read_deadline: Duration,
        tokens: Tokens,
    ) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let outbox: Arc<Mutex<Vec<SendRequest>>> = Arc::default();
        let state = State {
            pool: pool.clone(),
            on_event,
            outbox: outbox.clone(),
            read_deadline,
            tokens,
        };
        let limits = Limits {
            header_timeout: Some(read_deadline),
            max_connections: MAX_CONNECTIONS,
            keep_alive: false,
        };
        let server = Server::start_with(listener, "callback-server", limits, move |req| {
            handle(state.clone(), req)
        })?;
        Ok(Self {
            addr,
            pool,
            outbox,
            _server: server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Messages the plugin handed to the host and that are not delivered yet.
    pub fn outbox(&self) -> Vec<SendRequest> {
        self.outbox.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Try to deliver the outbox once; what cannot go now stays. Returns how many went out.
    pub fn flush(&self) -> usize {
        let pending = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
        let mut sent = 0;
        let mut keep = vec![];
        for req in pending {
            match self.pool.with(INSTANCE_WAIT, |p| p.send(&req)) {
                Ok(Ok(_)) => sent += 1,
                Ok(Err(e)) if retry_hint(&e).is_some() => keep.push(req),
                Err(PoolError::Busy(_)) => keep.push(req),
                // A message that cannot be sent (bad target, auth) is reported and dropped.
                Ok(Err(e)) => eprintln!("could not deliver a reply to {}: {e:?}", req.target),
                Err(trap) => eprintln!("delivering a reply to {}: {trap}", req.target),
            }
        }
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(keep);
        sent
    }
}

#[derive(Clone)]
struct State {
    pool: Arc<Pool>,
    on_event: EventSink,
    outbox: Arc<Mutex<Vec<SendRequest>>>,
    read_deadline: Duration,
    tokens: Tokens,
}

/// Callback paths and the token each must carry.
pub type Tokens = Arc<Vec<(String, String)>>;

/// Whether a request to `path` with `query` may take an instance.
fn admitted(tokens: &Tokens, path: &str, query: &str) -> bool {
    use kakaowork_channel::api::callback::{ct_eq, token};
    tokens
        .iter()
        .filter(|(p, _)| p == path)
        .all(|(_, want)| ct_eq(token(query).unwrap_or("").as_bytes(), want.as_bytes()))
}

fn json(status: u16, body: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    (
        status,
        vec![("Content-Type".into(), "application/json".into())],
        serde_json::json!({ "error": body })
            .to_string()
            .into_bytes(),
    )
}

/// The answer for a plugin that could not answer: no internal detail leaves the host (it goes
/// to stderr); KakaoWork is told whether trying again may help.
fn failure(e: &ChannelError) -> (u16, Vec<(String, String)>, Vec<u8>) {
    eprintln!("a callback failed in the plugin: {e:?}");
    match e {
        ChannelError::Storage(_) | ChannelError::NotConfigured | ChannelError::Deferred(_) => {
            json(503, "temporarily unavailable; try again")
        }
        _ => json(500, "internal error"),
    }
}

async fn handle(
    state: State,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(state.read_deadline, read_body(body)).await;
    let (status, headers, body) = match read {
        Err(_) => json(408, "the body was not received in time"),
        Ok(Read::Broken) => json(400, "the body could not be read"),
        Ok(Read::TooLong) => json(413, "the body is over the limit, even to be read"),
        Ok(Read::Body(_))
            if !admitted(
                &state.tokens,
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
            ) =>
        {
            json(401, "missing or wrong token")
        }
        Ok(Read::Body(body)) => {
            let request = CallbackRequest {
                method: parts.method.as_str().to_owned(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or("").to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body,
            };
            // The plugin's calls block (wasmtime, host HTTP): off the server's thread, so a
            // slow one holds one instance and no other connection.
            let pool = state.pool.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                pool.with(INSTANCE_WAIT, |p| p.handle_callback(&request))
            })
            .await;
            match outcome {
                Ok(Ok(Ok(o))) => {
                    for e in &o.events {
                        (state.on_event)(e);
                    }
                    state
                        .outbox
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(o.outbound);
                    (o.response.status, o.response.headers, o.response.body)
                }
                Ok(Ok(Err(e))) => failure(&e),
                Ok(Err(PoolError::Busy(_))) => json(503, "busy; try again"),
                // Logged and replaced by the pool.
                Ok(Err(PoolError::Trap(_))) => json(500, "internal error"),
                Err(_) => json(500, "internal error"),
            }
        }
    };
    let mut resp = hyper::Response::builder().status(status);
    for (k, v) in headers {
        resp = resp.header(k, v);
    }
    Ok(resp
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()))))
}

enum Read {
    /// At most [`READ_LIMIT`] bytes: an oversized body is cut there, and the plugin answers 413.
    Body(Vec<u8>),
    /// Longer than [`DRAIN_LIMIT`]: its connection is closed after the answer.
    TooLong,
    /// The client broke the body off (or sent a malformed chunk).
    Broken,
}

async fn read_body(mut body: Incoming) -> Read {
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Read::Broken;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > DRAIN_LIMIT {
            return Read::TooLong;
        }
        let room = READ_LIMIT - kept.len();
        kept.extend_from_slice(&data[..data.len().min(room)]);
    }
    Read::Body(kept)
}
