//! A small HTTP/1 server on its own thread, shared by the emulator and the callback endpoint:
//! it accepts until dropped, and a handler error closes the connection without an answer.

use std::future::Future;
use std::thread::JoinHandle;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub type Response = hyper::Response<Full<Bytes>>;

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
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let handler = handler.clone();
                                tokio::spawn(async move {
                                    let _ = http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), service_fn(handler))
                                        .await;
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
