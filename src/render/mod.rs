//! What a message looks like on KakaoWork: Block Kit, markdown rendered into it, and text cut
//! into the pieces KakaoWork accepts. Pure.

pub mod blockkit;
pub mod chunk;
pub mod markdown;
