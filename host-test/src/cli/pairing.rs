//! `kakaowork-host pairing list|approve|reject`: the host's own pairing store (the guest only
//! reads it). Approving moves the user to the allow store in one step; `--notify` tells them
//! through the plugin's `send`.

use clap::Subcommand;
use host_test::runtime::pairing::{PENDING_TTL_MS, Pairing, PairingError};
use host_test::wit;

use super::error::{CliError, describe};
use super::output::utc;
use super::session::{Conn, Session, connect, deliver_showing_progress};

#[derive(Subcommand)]
pub enum PairingAction {
    /// Pending requests (they expire one hour after they were made).
    List(Conn),
    /// Approve a request by its code (any case) or by the user id.
    Approve {
        code_or_user: String,
        /// Tell the user by a KakaoWork message.
        #[arg(long)]
        notify: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Drop a pending request by its code or user id.
    Reject {
        code_or_user: String,
        #[command(flatten)]
        conn: Conn,
    },
}

/// What an approved user is told when the admin asks for a notice.
pub const APPROVED_NOTICE: &str =
    "✅ Moltbot access approved. You can now talk to the assistant here.";

fn store_error(e: PairingError) -> CliError {
    match e {
        PairingError::NotFound(_) => CliError::Channel(e.to_string()),
        other => CliError::Channel(format!("the pairing store failed: {other}")),
    }
}

/// The account the command is about (the default one unless `--account`).
fn account_id(s: &Session, conn: &Conn) -> Result<String, CliError> {
    s.prepared
        .config
        .account(conn.account.as_deref())
        .map(|a| a.id.clone())
        .map_err(|e| CliError::Channel(e.to_string()))
}

pub fn run(action: PairingAction) -> Result<(), CliError> {
    let now = host_test::runtime::clock::Clock::Real.now_ms();
    match action {
        PairingAction::List(conn) => {
            let s = connect(&conn)?;
            let account = account_id(&s, &conn)?;
            let store = Pairing::new(&*s.kv, &account)
                .snapshot(now)
                .map_err(store_error)?;
            if store.pending.is_empty() {
                println!("No pending pairing requests.");
            }
            for p in store.pending {
                println!(
                    "{}  user {}  account {account}  requested {}  expires {}",
                    p.code,
                    p.user_id,
                    utc(p.created_ms / 1000),
                    utc((p.created_ms + PENDING_TTL_MS) / 1000)
                );
            }
            Ok(())
        }
        PairingAction::Approve {
            code_or_user,
            notify,
            conn,
        } => {
            let mut s = connect(&conn)?;
            let account = account_id(&s, &conn)?;
            let p = Pairing::new(&*s.kv, &account)
                .approve(now, &code_or_user)
                .map_err(store_error)?;
            println!(
                "Approved user {} on account {account} (code {}).",
                p.user_id, p.code
            );
            if notify {
                let req = wit::SendRequest {
                    account: Some(account.clone()),
                    target: format!("user:{}", p.user_id),
                    text: APPROVED_NOTICE.into(),
                    idempotency_key: format!("pairing-approved-{}-{}", p.user_id, p.code),
                    format: wit::TextFormat::Plain,
                    blocks: None,
                    buttons: vec![],
                };
                let report = deliver_showing_progress(&mut s.plugin, &req)?;
                match report.outcome {
                    Ok(r) => println!(
                        "Told the user (message {}).",
                        r.message_id.as_deref().unwrap_or("of unknown id")
                    ),
                    // The approval stands; only the notice failed.
                    Err(e) => eprintln!(
                        "warning: the approval stands, but the notice was not sent: {}",
                        describe(&e)
                    ),
                }
            }
            Ok(())
        }
        PairingAction::Reject { code_or_user, conn } => {
            let s = connect(&conn)?;
            let account = account_id(&s, &conn)?;
            let p = Pairing::new(&*s.kv, &account)
                .reject(now, &code_or_user)
                .map_err(store_error)?;
            println!(
                "Rejected the request of user {} (code {}).",
                p.user_id, p.code
            );
            Ok(())
        }
    }
}
