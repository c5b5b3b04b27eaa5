//! `kakaowork-host probe`: check an account's app key with `bots.info`.

use host_test::clock::Clock;
use host_test::delivery::with_retries;
use host_test::wit;

use super::error::{CliError, channel_error, trap};
use super::session::{Conn, connect, show_wait};

pub fn run(conn: Conn) -> Result<(), CliError> {
    let mut s = connect(&conn)?;
    // Other processes on the same state share the account's rate limit: wait as told.
    let (outcome, _, _) = with_retries(&Clock::Real, 50, show_wait, || {
        s.plugin.probe(conn.account.as_deref())
    })
    .map_err(trap)?;
    let p = outcome.map_err(|e| channel_error(e, s.emulator.is_some()))?;
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
