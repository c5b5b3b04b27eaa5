//! `kakaowork-host callback-url`: the URL to register as the bot's callback URL in KakaoWork,
//! with its token. The one place the token is shown: `serve` prints the URL without it.

use super::error::CliError;
use super::session::{Conn, call, connect_with};

/// `serve`'s default address: where the URL points unless told otherwise.
pub const DEFAULT_BASE: &str = "http://127.0.0.1:8080";

pub fn run(conn: &Conn, base: Option<&str>) -> Result<(), CliError> {
    // Needs no app key: the token is in this machine's state (or the config).
    let mut s = connect_with(conn, false)?;
    let accounts: Vec<_> = s
        .prepared
        .config
        .accounts
        .iter()
        .filter(|a| a.enabled && conn.account.as_deref().is_none_or(|id| id == a.id))
        .map(|a| {
            (
                a.id.clone(),
                a.callback_url.clone(),
                a.callback_path.clone(),
            )
        })
        .collect();
    if accounts.is_empty() {
        return Err(CliError::Usage(match &conn.account {
            Some(id) => format!("no enabled account `{id}` in channels.kakao"),
            None => "no enabled account in channels.kakao".into(),
        }));
    }
    let many = accounts.len() > 1;
    for (id, url, path) in accounts {
        let token = call(&mut s, |s| s.plugin.callback_token(Some(&id)))?;
        let url = match (url, base) {
            // The configured public URL, unless --base says where this host is reached.
            (Some(u), None) => u,
            (_, b) => format!(
                "{}{}",
                b.unwrap_or(DEFAULT_BASE).trim_end_matches('/'),
                path.unwrap_or_default()
            ),
        };
        let shown = match token {
            Some(t) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}token={t}")
            }
            None => url,
        };
        if many {
            println!("{id} {shown}");
        } else {
            println!("{shown}");
        }
    }
    Ok(())
}
