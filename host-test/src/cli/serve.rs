//! `kakaowork-host serve`: the callback endpoint. Every request goes to the plugin's
//! `handle-callback`; inbound events are printed as JSON lines, and what the plugin left to the
//! host is delivered every second.

use std::sync::Arc;

use host_test::wit;

use crate::{CliError, Conn, connect};

/// Serves until the process is stopped.
pub fn run(listen: &str, conn: &Conn) -> Result<(), CliError> {
    let s = connect(conn)?;
    let (plugin, runtime, emulator) = (s.plugin, s.runtime, s.emulator);
    let plugin = Arc::new(std::sync::Mutex::new(plugin));
    let sink: host_test::serve::EventSink = Arc::new(|e: &wit::InboundEvent| {
        let line = serde_json::json!({
            "account": e.account,
            "kind": format!("{:?}", e.kind).to_lowercase(),
            "senderId": e.sender_id,
            "senderName": e.sender_name,
            "conversationId": e.conversation_id,
            "chatType": format!("{:?}", e.chat_type).to_lowercase(),
            "messageId": e.message_id,
            "timestamp": e.timestamp_ms,
            "text": e.text,
            "From": e.from,
            "To": e.to,
            "actionName": e.action_name,
            "actionValue": e.action_value,
        });
        println!("{line}");
    });
    let server = host_test::serve::CallbackServer::start(listen, plugin.clone(), sink)
        .map_err(|e| CliError::Channel(format!("cannot listen on {listen}: {e}")))?;
    let paths: Vec<String> = s
        .prepared
        .config
        .accounts
        .iter()
        .filter_map(|a| {
            a.callback_path
                .clone()
                .map(|p| format!("{} -> account {}", server.url(&p), a.id))
        })
        .collect();
    eprintln!(
        "Listening for KakaoWork callbacks on http://{}:",
        server.addr()
    );
    for p in paths {
        eprintln!("  {p}");
    }
    if emulator.is_some() {
        eprintln!("(emulator mode: callbacks come from the embedded emulator only)");
    }
    let _keep = (runtime, emulator);
    // Deliver what the plugin left to the host, until stopped.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        server.flush(&plugin);
    }
}
