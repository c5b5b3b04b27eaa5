//! KakaoWork channel plugin for Moltbot/OpenClaw, as a WebAssembly component.
//!
//! Pure logic lives in the modules below, behind the small traits of [`ports`]; the only
//! wasm-specific code is [`glue`], which binds them to the WIT world in `wit/`.

pub mod api;
pub mod auth_guard;
pub mod binding;
pub mod blockkit;
pub mod budget;
pub mod callback;
pub mod channel;
pub mod chunk;
pub mod compose;
pub mod config;
pub mod directory;
pub mod entities;
pub mod envelope;
pub mod error;
pub mod inbound;
pub mod json;
pub mod ledger;
pub mod limiter;
pub mod markdown;
pub mod memo;
pub mod pagination;
pub mod policy;
pub mod ports;
pub mod records;
pub mod retry;
pub mod rooms;
pub mod send;
pub mod target;
pub mod text;
pub mod wit;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod testkit;

#[cfg(target_arch = "wasm32")]
mod glue;
