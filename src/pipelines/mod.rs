//! The exported operations, each a pipeline of named steps over typed values: [`send`],
//! [`inbound`] (`handle-callback`), [`policy`] (`check-policy`) and [`listing`] (the directory).
//! They work on a [`context::Core`]; [`crate::boundary::channel::Channel`] calls them.

pub mod context;
pub mod inbound;
pub mod listing;
pub mod policy;
pub mod send;
