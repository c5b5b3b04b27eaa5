//! State: what lives in KV (every key is named in [`keys`]) and what one instance remembers in
//! memory between calls ([`memo`]).

pub mod binding;
pub mod keys;
pub mod ledger;
pub mod limiter;
pub mod memo;
pub mod room;
pub mod table;
