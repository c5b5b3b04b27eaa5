//! A wasmtime host for the KakaoWork channel component, by concern:
//! - [`runtime`]: the wasmtime runtime that instantiates the component, with one module per
//!   import interface (state, configuration and `Host` impl together), the configuration
//!   loader that keeps secrets host-side, and the instance pool;
//! - [`serve`]: the callback endpoint, the HTTP server under it, and the delivery loop;
//! - [`emulator`]: a KakaoWork emulator and its control API.
//!
//! The `kakaowork-host` CLI (`main.rs`, `cli/`) is built on these.

pub mod emulator;
pub mod runtime;
pub mod serve;

/// Host bindings generated from `wit/`.
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "channel-plugin",
        path: "../wit",
    });
}

pub use bindings::exports::moltbot::channel::channel as wit;

/// Path of the component built by `build.rs`.
pub const GUEST_COMPONENT_PATH: &str = env!("GUEST_COMPONENT");

/// The component's bytes, embedded in the host.
pub fn component_bytes() -> &'static [u8] {
    include_bytes!(env!("GUEST_COMPONENT"))
}

/// The value of the first button in a message's blocks (for tests that forge callbacks).
pub fn emulator_button_value(blocks: &serde_json::Value) -> String {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find_map(|e| e["value"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
