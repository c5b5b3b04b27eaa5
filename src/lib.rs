//! KakaoWork channel plugin for Moltbot/OpenClaw, as a WebAssembly component.
//!
//! Pure logic lives in the modules below, behind the small traits of [`ports`]; the only
//! wasm-specific code is [`glue`], which binds them to the WIT world in `wit/`.

pub mod api;
pub mod binding;
pub mod callback;
pub mod channel;
pub mod chunk;
pub mod config;
pub mod envelope;
pub mod error;
pub mod json;
pub mod ledger;
pub mod limiter;
pub mod pagination;
pub mod ports;
pub mod retry;
pub mod target;

#[cfg(test)]
mod fakes;

#[cfg(target_arch = "wasm32")]
mod glue;
