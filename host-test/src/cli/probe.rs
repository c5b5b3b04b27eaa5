//! `kakaowork-host probe`: check an account's app key with `bots.info`.

use host_test::wit;

use super::error::CliError;
use super::session::{Conn, call, connect};

pub fn run(conn: Conn) -> Result<(), CliError> {
    let mut s = connect(&conn)?;
    let account = conn.account.as_deref();
    // Other processes on the same state share the account's rate limit: wait as told.
    let p = call(&mut s, |s| s.plugin.probe(account))?;
    println!(
        "Account {}: bot \"{}\" (id {}), status {}, answered in {} ms",
        p.account,
        p.title,
        p.bot_id,
        match p.status {
            wit::BotStatus::Activated => "activated",
            wit::BotStatus::Deactivated => "deactivated",
            wit::BotStatus::Unknown => "unknown",
        },
        p.elapsed_ms
    );
    Ok(())
}
