//! KakaoWork's data and the channel's own: the JSON envelope, entities, pagination, targets,
//! the configuration and the errors. Pure: no import is called here.

pub mod config;
pub mod entities;
pub mod envelope;
pub mod error;
pub mod id;
pub mod json;
pub mod pagination;
pub mod target;
pub mod text;
