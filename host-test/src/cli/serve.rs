//! `kakaowork-host serve`: the callback endpoint. Every request goes to the plugin's
//! `handle-callback`; inbound events are printed as JSON lines, and what the plugin left to the
//! host is delivered every second.

use std::sync::Arc;

use host_test::runtime::pool::{Factory, Pool};
use host_test::wit;

/// Plugin instances serving callbacks.
const INSTANCES: usize = 4;

use super::error::{CliError, trap};
use super::session::{Conn, connect};

/// Serves until the process is stopped.
pub fn run(listen: &str, conn: &Conn) -> Result<(), CliError> {
    let s = connect(conn)?;
    let emulator = s.emulator;
    // A few configured instances: a callback waiting on KakaoWork holds one of them only.
    let (runtime, env, prepared) = (Arc::new(s.runtime), s.env.clone(), s.prepared.clone());
    let factory: Factory = Box::new(move || {
        let mut p = runtime.instantiate(&env)?;
        p.configure(&prepared.redacted_json, &prepared.credentials)?
            .map_err(|issues| wasmtime::Error::msg(format!("configuration refused: {issues:?}")))?;
        Ok(p)
    });
    let pool = Arc::new(Pool::new(INSTANCES, factory).map_err(trap)?);
    // Each callback path's token, for the check before a request takes an instance.
    let mut tokens = Vec::new();
    for a in s.prepared.config.accounts.iter().filter(|a| a.enabled) {
        let Some(path) = &a.callback_path else {
            continue;
        };
        let token = pool
            .with(std::time::Duration::from_secs(30), |p| {
                p.callback_token(Some(&a.id))
            })
            .map_err(|e| CliError::Channel(format!("the callback token of `{}`: {e:?}", a.id)))?
            .map_err(|e| super::error::channel_error(e, emulator.is_some()))?;
        if let Some(t) = token {
            tokens.push((path.clone(), t));
        }
    }
    let sink: host_test::serve::EventSink =
        Arc::new(|e: &wit::InboundEvent| println!("{}", event_json(e)));
    let server =
        host_test::serve::CallbackServer::start_guarded(listen, pool, sink, Arc::new(tokens))
            .map_err(|e| CliError::Channel(format!("cannot listen on {listen}: {e}")))?;
    // The token is never printed here (logs keep banners): `callback-url` shows it on request.
    let paths: Vec<String> = s
        .prepared
        .config
        .accounts
        .iter()
        .filter_map(|a| {
            let url = server.url(a.callback_path.as_deref()?);
            Some(if a.callback_secret.is_none() && a.accept_unauthenticated {
                format!(
                    "{url} -> account {} WITHOUT AUTHENTICATION ({} is set): anyone who reaches it can act as any user",
                    a.id,
                    kakaowork_channel::model::config::UNAUTHENTICATED_OPT_OUT
                )
            } else {
                format!(
                    "{url}?token=… -> account {} (the URL with its token: kakaowork-host callback-url --account {})",
                    a.id, a.id
                )
            })
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
    let _keep = emulator;
    // Deliver what the plugin left to the host, until stopped.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        server.flush();
    }
}

/// One inbound event as the JSON line `serve` prints; the names are the WIT's, in kebab case.
pub fn event_json(e: &wit::InboundEvent) -> serde_json::Value {
    let kind = match e.kind {
        wit::EventKind::Action => "action",
        wit::EventKind::ModalSubmission => "modal-submission",
        wit::EventKind::Text => "text",
    };
    let chat_type = match e.chat_type {
        wit::ChatType::Direct => "direct",
        wit::ChatType::Group => "group",
    };
    serde_json::json!({
        "account": e.account,
        "kind": kind,
        "senderId": e.sender_id,
        "senderName": e.sender_name,
        "conversationId": e.conversation_id,
        "chatType": chat_type,
        "messageId": e.message_id,
        "timestamp": e.timestamp_ms,
        "text": e.text,
        "From": e.from,
        "To": e.to,
        "actionName": e.action_name,
        "actionValue": e.action_value,
        "actionLabel": e.action_label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_with_the_wit_names() {
        let e = wit::InboundEvent {
            account: "default".into(),
            kind: wit::EventKind::ModalSubmission,
            sender_id: "10000001".into(),
            sender_name: Some("김민수".into()),
            conversation_id: "3000001".into(),
            chat_type: wit::ChatType::Direct,
            message_id: "m-1".into(),
            timestamp_ms: 1,
            text: "hi".into(),
            from: "kakaowork:10000001".into(),
            to: "kakaowork:3000001".into(),
            action_name: None,
            action_value: None,
            action_label: None,
        };
        let v = event_json(&e);
        assert_eq!(v["kind"], "modal-submission");
        assert_eq!(v["chatType"], "direct");
        let group = wit::InboundEvent {
            kind: wit::EventKind::Action,
            chat_type: wit::ChatType::Group,
            ..e
        };
        assert_eq!(event_json(&group)["kind"], "action");
        assert_eq!(event_json(&group)["chatType"], "group");
    }
}
