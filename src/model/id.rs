//! KakaoWork's ids: strings or numbers in JSON, kept as decimal text so that ids above 2^53
//! stay exact.

use std::fmt;

/// A KakaoWork id, kept as its decimal text whether the API sent a string or a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
