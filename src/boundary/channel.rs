//! The channel behind the `channel` export: one instance, and every operation it offers, each
//! handed to its pipeline in [`crate::pipelines`]. This is the one place that lists them.

use crate::contract::ports::Ports;
pub use crate::contract::records::*;
use crate::model::error::ChannelError;
use crate::pipelines::context::Core;
use crate::pipelines::{inbound, listing, policy, send};

/// One instance: its configuration and what it remembers between calls (shared state lives
/// in KV).
#[derive(Default)]
pub struct Channel {
    core: Core,
}

impl Channel {
    /// What the pipelines see, for tests that drive one step alone.
    #[cfg(test)]
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// Validates the configuration and starts afresh (the instance's memory is dropped).
    pub fn configure(
        &mut self,
        json: &str,
        credentials: &[CredentialStatus],
    ) -> Result<ConfigureResult, Vec<ConfigIssue>> {
        self.core.configure(json, credentials)
    }

    /// Sends a message: target -> parts -> ledger -> budget -> API -> ledger -> receipt.
    pub fn send(&self, ports: &Ports<'_>, req: &SendRequest) -> Result<SendReceipt, ChannelError> {
        send::send(&self.core, ports, req)
    }

    /// Where a send with this idempotency key stands, from its ledger.
    pub fn send_status(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
        idempotency_key: &str,
    ) -> Result<SendState, ChannelError> {
        send::status::send_status(&self.core, ports, account, idempotency_key)
    }

    /// A callback from KakaoWork: checks -> binding -> de-duplication -> policy -> event.
    pub fn handle_callback(
        &self,
        ports: &Ports<'_>,
        req: &CallbackRequest,
    ) -> Result<CallbackOutcome, ChannelError> {
        inbound::handle_callback(&self.core, ports, req)
    }

    /// The token callbacks must carry for the account, or `None` when it takes them without.
    pub fn callback_token(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<Option<String>, ChannelError> {
        inbound::callback_token(&self.core, ports, account)
    }

    /// Whether a sender may talk to the agent, under the account's DM or group policy.
    pub fn check_policy(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
        sender: &str,
        chat: ChatType,
    ) -> Result<PolicyDecision, ChannelError> {
        policy::check_policy(&self.core, ports, account, sender, chat)
    }

    /// `bots.info` for the account: a cheap authenticated call.
    pub fn probe(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<ProbeResult, ChannelError> {
        listing::probe(&self.core, ports, account)
    }

    /// Every page of a list, filtered by the query.
    pub fn directory(
        &self,
        ports: &Ports<'_>,
        q: &DirectoryQuery,
    ) -> Result<DirectoryListing, ChannelError> {
        listing::directory(&self.core, ports, q)
    }

    /// One member, by `user:<id>`, a numeric id or an e-mail address.
    pub fn lookup_member(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
        who: &str,
    ) -> Result<Member, ChannelError> {
        listing::lookup_member(&self.core, ports, account, who)
    }

    /// The members of a conversation the bot is in.
    pub fn conversation_members(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
        conversation_id: &str,
    ) -> Result<Vec<Member>, ChannelError> {
        listing::conversation_members(&self.core, ports, account, conversation_id)
    }

    /// The workspace.
    pub fn space(
        &self,
        ports: &Ports<'_>,
        account: Option<&str>,
    ) -> Result<SpaceInfo, ChannelError> {
        listing::space(&self.core, ports, account)
    }
}

#[cfg(test)]
mod tests;
