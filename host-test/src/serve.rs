//! The host's callback endpoint: a real HTTP server that hands KakaoWork's callbacks to the
//! plugin's `handle-callback`, answers with what it returns, reports inbound events, and
//! delivers the messages the plugin left to the host (e.g. a pairing reply while the rate
//! budget is spent).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};

use crate::http_server::Server;

use crate::delivery::retry_hint;
use crate::runtime::Plugin;
use crate::wit::{CallbackRequest, InboundEvent, SendRequest};

/// Bodies are read up to one byte over the plugin's 64 KiB limit, so that it can answer 413.
const READ_LIMIT: usize = 64 * 1024 + 1;

pub type EventSink = Arc<dyn Fn(&InboundEvent) + Send + Sync>;

pub struct CallbackServer {
    addr: SocketAddr,
    outbox: Arc<Mutex<Vec<SendRequest>>>,
    /// Stops (and joins) the server thread when dropped.
    _server: Server,
}

impl CallbackServer {
    /// Serve on `listen` (e.g. "127.0.0.1:0"); `on_event` sees every inbound event.
    pub fn start(
        listen: &str,
        plugin: Arc<Mutex<Plugin>>,
        on_event: EventSink,
    ) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let outbox: Arc<Mutex<Vec<SendRequest>>> = Arc::default();
        let state = (plugin, on_event, outbox.clone());
        let server = Server::start(listener, "callback-server", move |req| {
            handle(state.clone(), req)
        })?;
        Ok(Self {
            addr,
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
    pub fn flush(&self, plugin: &Mutex<Plugin>) -> usize {
        let pending = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
        let mut sent = 0;
        let mut keep = vec![];
        for req in pending {
            let mut p = plugin.lock().unwrap_or_else(|e| e.into_inner());
            match p.send(&req) {
                Ok(Ok(_)) => sent += 1,
                Ok(Err(e)) if retry_hint(&e).is_some() => keep.push(req),
                // A message that cannot be sent (bad target, auth) is reported and dropped.
                Ok(Err(e)) => eprintln!("could not deliver a reply to {}: {e:?}", req.target),
                Err(trap) => eprintln!("the plugin trapped delivering a reply: {trap:?}"),
            }
        }
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(keep);
        sent
    }
}

type State = (Arc<Mutex<Plugin>>, EventSink, Arc<Mutex<Vec<SendRequest>>>);

async fn handle(
    (plugin, on_event, outbox): State,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, READ_LIMIT).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        // Over the limit: hand over a body that is, so the plugin answers 413.
        Err(_) => vec![0; READ_LIMIT],
    };
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
    let outcome = {
        let mut p = plugin.lock().unwrap_or_else(|e| e.into_inner());
        p.handle_callback(&request)
    };
    let (status, headers, body) = match outcome {
        Ok(Ok(o)) => {
            for e in &o.events {
                on_event(e);
            }
            outbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(o.outbound);
            (o.response.status, o.response.headers, o.response.body)
        }
        Ok(Err(e)) => (
            500,
            vec![],
            serde_json::json!({ "error": format!("{e:?}") })
                .to_string()
                .into_bytes(),
        ),
        Err(trap) => {
            eprintln!("the plugin trapped on a callback: {trap:?}");
            (500, vec![], br#"{"error":"internal error"}"#.to_vec())
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
