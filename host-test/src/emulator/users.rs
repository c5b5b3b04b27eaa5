//! The emulator playing a KakaoWork user: clicking a message's button and submitting a modal,
//! by calling the bot's callback URL the way KakaoWork does.

use std::time::Duration;

use serde_json::{Value, json};

use super::{BOT_USER_ID, Emulator, Posted};

impl Emulator {
    /// Play a user: click the button labelled `label` on message `message_id`, the way
    /// KakaoWork calls the bot (`request_modal` for `call_modal` buttons, else `submit_action`).
    /// Returns the bot's status and JSON answer (a modal view for `request_modal`).
    pub fn click(
        &self,
        callback_url: &str,
        message_id: &str,
        label: &str,
        user_id: u64,
    ) -> Result<(u16, Value), String> {
        let (message, button) = {
            let w = self.lock();
            let m = w
                .posted
                .iter()
                .find(|p| p.id == message_id)
                .cloned()
                .ok_or("no such message")?;
            let button = buttons(&m.blocks)
                .into_iter()
                .find(|b| b["text"] == label)
                .ok_or_else(|| format!("message {message_id} has no button `{label}`"))?;
            (m, button)
        };
        let action_type = button["action"]["type"]
            .as_str()
            .or(button["action_type"].as_str())
            .unwrap_or("");
        let value = button["action"]["value"]
            .as_str()
            .or(button["value"].as_str())
            .unwrap_or("")
            .to_owned();
        let mut body = self.callback_body(&message, user_id, &value);
        if action_type == "call_modal" {
            body["type"] = json!("request_modal");
        } else {
            body["type"] = json!("submit_action");
            body["action_name"] = button["action"]["name"].clone();
            if body["action_name"].is_null() {
                body["action_name"] = button["action_name"].clone();
            }
        }
        post_json(callback_url, &body)
    }

    /// Play a user: accept a modal `view` (from `click`) with these inputs.
    pub fn submit(
        &self,
        callback_url: &str,
        message_id: &str,
        user_id: u64,
        view: &Value,
        inputs: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        let message = self
            .lock()
            .posted
            .iter()
            .find(|p| p.id == message_id)
            .cloned()
            .ok_or("no such message")?;
        let value = view["value"].as_str().unwrap_or("").to_owned();
        let mut body = self.callback_body(&message, user_id, &value);
        body["type"] = json!("submission");
        body["actions"] = Value::Object(
            inputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect(),
        );
        post_json(callback_url, &body)
    }

    fn callback_body(&self, m: &Posted, user_id: u64, value: &str) -> Value {
        let now = self.lock().opts.clock.now_ms();
        json!({
            "action_time": (now / 1000).to_string(),
            "message": {"id": m.id, "text": "<encrypted>", "user_id": BOT_USER_ID.to_string(),
                        "conversation_id": m.conversation_id, "send_time": m.send_time,
                        "update_time": m.send_time, "blocks": m.blocks},
            "react_user_id": user_id,
            "value": value,
        })
    }
}

/// Buttons of a message: top-level button blocks and the elements of action blocks.
fn buttons(blocks: &Value) -> Vec<Value> {
    let mut out = vec![];
    for b in blocks.as_array().into_iter().flatten() {
        match b["type"].as_str() {
            Some("button") => out.push(b.clone()),
            Some("action") => out.extend(b["elements"].as_array().into_iter().flatten().cloned()),
            _ => {}
        }
    }
    out
}

/// POST a callback the way KakaoWork does (JSON, no signature).
fn post_json(url: &str, body: &Value) -> Result<(u16, Value), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json;charset=utf-8")
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
