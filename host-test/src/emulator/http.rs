//! The emulator's HTTP layer: each request recorded, faults applied, the world's answer sent
//! with KakaoWork's headers.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};

use super::answer::fail;
use super::faults::Fault;
use super::world::{Recorded, World};

const MAX_BODY_BYTES: u64 = 1 << 20;

/// Why a connection was dropped on purpose.
#[derive(Debug)]
pub(super) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

fn lock_world(world: &Arc<Mutex<World>>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) async fn serve(
    world: Arc<Mutex<World>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.as_str().to_owned();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let fault = lock_world(&world).take_fault(&path);
    let record = |world: &Arc<Mutex<World>>, body: Vec<u8>, status: u16| {
        let mut w = lock_world(world);
        let at_ms = w.opts.clock.now_ms();
        w.recorded.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body,
            at_ms,
            status,
            fault,
        });
    };
    if fault == Some(Fault::DropBeforeBody) {
        record(&world, vec![], 0);
        return Err(Dropped);
    }
    let body = match Limited::new(body, MAX_BODY_BYTES as usize).collect().await {
        Ok(b) => Some(b.to_bytes().to_vec()),
        Err(_) => None,
    };
    let (answer, limit) = {
        let mut w = lock_world(&world);
        let now = w.opts.clock.now_ms();
        let answer = match (&body, fault) {
            (None, _) => fail(400, "bad_request", "the request body could not be read"),
            (Some(_), Some(Fault::Status(code))) => {
                fail(code, "internal_server_error", "injected failure")
            }
            (Some(b), Some(Fault::StatusAfterWork(code))) => {
                w.answer(now, &method, &path, &query, &headers, b);
                fail(
                    code,
                    "internal_server_error",
                    "injected failure after the work",
                )
            }
            (Some(b), _) => w.answer(now, &method, &path, &query, &headers, b),
        };
        (answer, w.opts.requests_per_minute)
    };
    let body = body.unwrap_or_default();
    if fault == Some(Fault::DropAfterBody) {
        record(&world, body, 0);
        return Err(Dropped);
    }
    record(&world, body, answer.status);
    if let Some(Fault::Delay(ms)) = fault {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut resp = hyper::Response::builder()
        .status(answer.status)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("RateLimit-Limit", limit.to_string());
    for (k, v) in answer.extra {
        resp = resp.header(k, v);
    }
    resp.body(Full::new(Bytes::from(answer.body.to_string())))
        .map_err(|_| Dropped)
}
