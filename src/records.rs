//! The records the `channel` export takes and returns, as the guest's logic uses them; the glue
//! maps them to and from the WIT's.

use crate::callback::CallbackResponse;
use crate::config::{ConfigIssue, CredentialSource, DmPolicy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub account: String,
    pub source: CredentialSource,
    /// A non-secret identifier of the key (e.g. a hash prefix), so a changed key is noticed.
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub id: String,
    pub enabled: bool,
    pub configured: bool,
    pub credential_source: CredentialSource,
    pub dm_policy: DmPolicy,
    pub api_base: String,
    pub callback_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureResult {
    pub accounts: Vec<AccountInfo>,
    pub default_account: String,
    pub warnings: Vec<ConfigIssue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub account: Option<String>,
    pub target: String,
    pub text: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    Sent,
    Ambiguous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkReceipt {
    pub index: u32,
    pub outcome: ChunkOutcome,
    pub message_id: Option<String>,
    pub send_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub account: String,
    pub idempotency_key: String,
    /// The first chunk's message id ("" if its outcome is ambiguous).
    pub message_id: String,
    pub conversation_id: String,
    pub send_time: u64,
    pub chunks: Vec<ChunkReceipt>,
    /// True when some chunk's outcome is unknown (at-most-once mode).
    pub ambiguous: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Action,
    ModalSubmission,
    Text,
}

/// One inbound message for the agent, as OpenClaw's inbound context needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    pub account: String,
    pub kind: EventKind,
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub conversation_id: String,
    pub chat_type: ChatType,
    pub message_id: String,
    pub timestamp_ms: u64,
    pub text: String,
    pub from: String,
    pub to: String,
    pub action_name: Option<String>,
    pub action_value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackOutcome {
    pub response: CallbackResponse,
    pub events: Vec<InboundEvent>,
    /// Messages the plugin could not send now (e.g. a pairing reply while the budget is spent);
    /// the host delivers them.
    pub outbound: Vec<SendRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    Direct,
    Group,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyDecision {
    Allow(String),
    Deny(String),
    PairingRequired {
        code: String,
        created: bool,
        reply: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub account: String,
    pub bot_id: String,
    pub title: String,
    pub status: String,
    pub elapsed_ms: u64,
}
