//! The records the `channel` export takes and returns: the WIT's own, as wit-bindgen generates
//! them (see [`crate::wit`]). The logic builds and reads these directly; nothing copies them.

pub use crate::wit::types::{
    AccountInfo, ApiFailure, BotStatus, CallbackOutcome, CallbackRequest, CallbackResponse,
    ChatType, ChunkOutcome, ChunkReceipt, ConfigIssue, ConfigureResult, CredentialSource,
    CredentialStatus, DmPolicy, EventKind, InboundEvent, PairingChallenge, PolicyDecision,
    ProbeResult, SendReceipt, SendRequest, TransportError,
};
