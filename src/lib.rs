//! KakaoWork channel plugin for Moltbot/OpenClaw, as a WebAssembly component.
//!
//! The guest in layers, each using only those listed before it (`tests/layers.rs` checks it):
//!
//! 1. [`contract`]: the WIT's generated types and the small traits the imports stand behind.
//! 2. [`model`]: KakaoWork's data (envelope, entities, pagination, targets), the channel's
//!    configuration and its errors; pure.
//! 3. [`render`]: text and markdown into Block Kit and chunks KakaoWork accepts; pure.
//! 4. [`state`]: what lives in KV (every key in [`state::keys`]) and in the instance's memory.
//! 5. [`api`]: talking to KakaoWork: the client, retries, the rate budget, callbacks' tokens,
//!    the directory.
//! 6. [`pipelines`]: the exported operations as named steps: `send`, `handle-callback`
//!    ([`pipelines::inbound`]), `check-policy`, the directory listings.
//! 7. [`boundary`]: [`boundary::channel::Channel`], the one type every operation hangs off, and
//!    the wasm32 glue that binds it to the WIT world in `wit/`.

// Functions of at most 80 lines (`clippy.toml`): a step reads at once. Tests are exempt.
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod api;
pub mod boundary;
pub mod contract;
pub mod model;
pub mod pipelines;
pub mod render;
pub mod state;

#[cfg(test)]
mod fakes;
#[cfg(test)]
mod testkit;
