//! The CLI's commands, one file each, and what they share: the session (configuration, state,
//! an instance), the errors, and the output helpers.

pub mod batch;
pub mod callback_url;
pub mod component;
pub mod directory;
pub mod emulator;
pub mod error;
pub mod message;
pub mod output;
pub mod pairing;
pub mod policy;
pub mod probe;
pub mod serve;
pub mod session;
