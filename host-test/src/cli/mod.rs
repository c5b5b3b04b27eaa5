//! The CLI's commands, one file each (the older ones still live in `main.rs`).

pub mod emulator;
pub mod pairing;
pub mod serve;
