//! What a conversation is, as KV keeps it: a DM with one user, or a group.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    /// A DM: its user, or empty when KakaoWork did not say who it is.
    Dm {
        user: String,
    },
    Group,
}

impl Room {
    pub fn is_group(&self) -> bool {
        matches!(self, Self::Group)
    }

    /// The DM's user; empty for a group or an unknown user.
    pub fn user(&self) -> &str {
        match self {
            Self::Dm { user } => user,
            Self::Group => "",
        }
    }

    pub fn encode(&self) -> String {
        match self {
            Self::Dm { user } => crate::model::text::concat(&["d|", user]),
            Self::Group => "g".to_owned(),
        }
    }

    pub fn decode(raw: &[u8]) -> Option<Self> {
        match std::str::from_utf8(raw).ok()? {
            "g" => Some(Self::Group),
            s => s.strip_prefix("d|").map(|user| Self::Dm {
                user: user.to_owned(),
            }),
        }
    }
}
