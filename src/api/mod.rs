//! Talking to KakaoWork: the Web API client, retries, the shared rate budget, the guard against
//! a revoked key, what a conversation is, the directory's listings and the callbacks' tokens.

pub mod auth_guard;
pub mod budget;
pub mod callback;
pub mod client;
pub mod directory;
pub mod retry;
pub mod rooms;
