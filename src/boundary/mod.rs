//! The boundary to the host: [`channel::Channel`], the one type every export calls, and the
//! wasm32 glue that binds it to the WIT world.

pub mod channel;
#[cfg(target_arch = "wasm32")]
mod glue;
