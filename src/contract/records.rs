//! The records the `channel` export takes and returns: the WIT's own, as wit-bindgen generates
//! them (see [`crate::contract::wit`]). The logic builds and reads these directly; nothing copies them.

pub use crate::contract::wit::types::{
    AccountInfo, ActionButton, ApiFailure, BotStatus, ButtonStyle, CallbackOutcome,
    CallbackRequest, CallbackResponse, ChatType, ChunkOutcome, ChunkReceipt, ConfigIssue,
    ConfigureResult, ConversationInfo, CredentialSource, CredentialStatus, DepartmentInfo,
    DirectoryKind, DirectoryListing, DirectoryQuery, DmPolicy, EventKind, InboundEvent, Member,
    MemberStatus, PairingChallenge, PolicyDecision, ProbeResult, SendReceipt, SendRequest,
    SendState, SpaceInfo, TextFormat, TransportError,
};
