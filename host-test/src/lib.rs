//! A wasmtime host for the KakaoWork channel component: one module per import interface
//! (state, configuration and `Host` impl together), the runtime that instantiates the
//! component, a KakaoWork emulator, and the configuration loader that keeps secrets host-side.

pub mod clock;
pub mod config;
pub mod delivery;
pub mod emulator;
pub mod emulator_control;
pub mod http;
pub mod http_server;
pub mod inspect;
pub mod kv;
pub mod pairing;
pub mod pool;
pub mod random;
pub mod redis_server;
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
