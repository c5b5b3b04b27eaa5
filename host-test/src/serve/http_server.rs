//! A small HTTP/1 server on its own thread, shared by the emulator and the callback endpoint:
//! it accepts until dropped, and a handler error closes the connection without an answer.
//! The callback endpoint runs it within [`Limits`]: a deadline for the headers, a cap on open
//! connections, one request per connection.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

pub type Response = hyper::Response<Full<Bytes>>;

/// What one server allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A connection that has not sent its request headers within this is closed.
    pub header_timeout: Option<Duration>,
    /// Connections open at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// Keep a connection open for more requests after the first.
    pub keep_alive: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: None,
            max_connections: usize::MAX >> 4,
            keep_alive: true,
        }
    }
}

pub struct Server {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serve `listener` (non-blocking) on a thread named `name` with `handler`.
    pub fn start<H, Fut, E>(
        listener: std::net::TcpListener,
        name: &str,
        handler: H,
    ) -> std::io::Result<Self>
    where
        H: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Response, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        Self::start_with(listener, name, Limits::default(), handler)
    }

    /// As [`Server::start`], within `limits`.
    pub fn start_with<H, Fut, E>(
        listener: std::net::TcpListener,
        name: &str,
        limits: Limits,
        handler: H,
    ) -> std::io::Result<Self>
    where
        H: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Response, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        listener.set_nonblocking(true)?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let slots = Arc::new(Semaphore::new(limits.max_connections));
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                // Over the cap: closed at once rather than left waiting.
                                let Ok(slot) = slots.clone().try_acquire_owned() else {
                                    drop(stream);
                                    continue;
                                };
                                let handler = handler.clone();
                                tokio::spawn(async move {
                                    let mut b = http1::Builder::new();
                                    b.timer(TokioTimer::new())
                                        .header_read_timeout(limits.header_timeout)
                                        .keep_alive(limits.keep_alive);
                                    let _ = b
                                        .serve_connection(TokioIo::new(stream), service_fn(handler))
                                        .await;
                                    drop(slot);
                                });
                            }
                        }
                    }
                })
            })?;
        Ok(Self {
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
