//! `kakaowork-host policy check`: what the policy decides for a user, decided on a copy of the
//! state so that explaining changes nothing.

use clap::Subcommand;
use host_test::runtime::HostEnv;
use host_test::runtime::clock::Clock;
use host_test::runtime::kv::MemoryKv;
use host_test::wit;

use super::error::{CliError, channel_error, trap};
use super::session::{Conn, configure, connect};

#[derive(Subcommand)]
pub enum PolicyAction {
    /// Explain what the policy decides for a user (changes nothing).
    Check {
        #[arg(long)]
        user: String,
        #[arg(long, value_enum, default_value = "direct")]
        chat_type: ChatKind,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ChatKind {
    Direct,
    Group,
}

pub fn run(action: PolicyAction) -> Result<(), CliError> {
    let PolicyAction::Check {
        user,
        chat_type,
        conn,
    } = action;
    let s = connect(&conn)?;
    // Explaining must change nothing: decide on a copy of the state.
    let copy = MemoryKv::copy_of(s.kv.as_ref(), Clock::Real.now_ms())
        .map_err(|e| CliError::Channel(format!("cannot read the state: {e:?}")))?;
    let env = HostEnv {
        kv: copy,
        ..s.env.clone()
    };
    let mut dry = s.runtime.instantiate(&env).map_err(trap)?;
    configure(&mut dry, &s.prepared)?;
    let chat = match chat_type {
        ChatKind::Direct => wit::ChatType::Direct,
        ChatKind::Group => wit::ChatType::Group,
    };
    let decision = dry
        .check_policy(conn.account.as_deref(), &user, chat)
        .map_err(trap)?
        .map_err(|e| channel_error(e, false))?;
    match decision {
        wit::PolicyDecision::Allow(why) => println!("allow: {why}"),
        wit::PolicyDecision::Deny(why) => println!("deny: {why}"),
        wit::PolicyDecision::PairingRequired(p) => {
            println!(
                "pairing required: {user} is unknown; a message from them would {} and get this reply:",
                if p.created {
                    "create a pairing request"
                } else {
                    "find their pending request"
                }
            );
            for line in p.reply.lines() {
                println!("  {line}");
            }
        }
    }
    Ok(())
}
