//! The `channels.kakao` configuration: parsing, validation with JSON paths, and account
//! resolution (base fields, `accounts.<id>` overrides, `defaultAccount`).
//!
//! The host uses this module too (natively) to find each account's credential source and API
//! origin, so that host and guest cannot disagree about which accounts exist.

mod fields;
mod model;
mod parse;
// The manifest's schema is generated natively; the component does without it.
#[cfg(not(target_arch = "wasm32"))]
pub mod schema;

pub use fields::{TOP_ONLY_KEYS, split_origin};
pub use model::*;
pub use parse::{parse, parse_str};

#[cfg(test)]
mod tests;
