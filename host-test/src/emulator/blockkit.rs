//! KakaoWork's check of a message's Block Kit blocks, as the emulator applies it: KakaoWork's
//! published limits, written apart from the guest's checks so that each tests the other. A bad
//! block gets 400 `invalid_parameter` with KakaoWork's generic message; the reason is kept for
//! the emulator's log and tests.

use serde_json::{Map, Value};

const MAX_BLOCKS: usize = 50;

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn text_within(o: &Map<String, Value>, key: &str, max: usize) -> Result<(), String> {
    let n = o
        .get(key)
        .and_then(Value::as_str)
        .map(|s| s.chars().count())
        .ok_or_else(|| format!("`{key}` is missing"))?;
    if n == 0 || n > max {
        return Err(format!("`{key}` has {n} characters (1-{max})"));
    }
    Ok(())
}

fn web_url(v: Option<&Value>) -> Result<(), String> {
    match v.and_then(Value::as_str) {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => Ok(()),
        _ => Err("not an http(s) URL".into()),
    }
}

fn one_of(o: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<(), String> {
    match o.get(key) {
        None => Ok(()),
        Some(v) if v.as_str().is_some_and(|s| allowed.contains(&s)) => Ok(()),
        Some(v) => Err(format!("`{key}` {v} is not one of {allowed:?}")),
    }
}

fn text_block(v: &Value, max: usize) -> Result<(), String> {
    let o = v.as_object().ok_or("a text block is not an object")?;
    if o.get("type").and_then(Value::as_str) != Some("text") {
        return Err("content is not a text block".into());
    }
    text_within(o, "text", max)?;
    if let Some(inlines) = o.get("inlines") {
        let list = inlines.as_array().ok_or("inlines is not a list")?;
        if o.get("markdown") == Some(&Value::Bool(true)) && !list.is_empty() {
            return Err("markdown with inlines".into());
        }
        let mut total = 0;
        for i in list {
            let io = i.as_object().ok_or("an inline is not an object")?;
            total += chars(io.get("text").unwrap_or(&Value::Null));
            match io.get("type").and_then(Value::as_str) {
                Some("styled") => one_of(io, "color", &["default", "grey", "blue", "red"])?,
                Some("link") => web_url(io.get("url"))?,
                _ => return Err("an inline is neither styled nor link".into()),
            }
        }
        if total > max {
            return Err(format!("inlines hold {total} characters (at most {max})"));
        }
    }
    Ok(())
}

fn image(v: Option<&Value>) -> Result<(), String> {
    let o = v.and_then(Value::as_object).ok_or("an image is missing")?;
    web_url(o.get("url"))
}

fn button(o: &Map<String, Value>) -> Result<(), String> {
    text_within(o, "text", 20)?;
    one_of(o, "style", &["default", "primary", "danger"])?;
    let kind = o
        .get("action")
        .and_then(|a| a.get("type"))
        .or_else(|| o.get("action_type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let kinds = [
        "open_inapp_browser",
        "open_system_browser",
        "open_external_app",
        "submit_action",
        "call_modal",
    ];
    if !kinds.contains(&kind) {
        return Err(format!("button action `{kind}`"));
    }
    Ok(())
}

fn block(v: &Value) -> Result<(), String> {
    let o = v.as_object().ok_or("a block is not an object")?;
    match o.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => text_block(v, 500),
        "image_link" => web_url(o.get("url")),
        "button" => button(o),
        "divider" => Ok(()),
        "header" => {
            text_within(o, "text", 20)?;
            one_of(o, "style", &["blue", "red", "yellow"])
        }
        "action" => {
            let els = o
                .get("elements")
                .and_then(Value::as_array)
                .ok_or("action without elements")?;
            if els.is_empty() || els.len() > 3 {
                return Err(format!("action with {} buttons", els.len()));
            }
            for e in els {
                button(e.as_object().ok_or("an element is not an object")?)?;
            }
            Ok(())
        }
        "description" => {
            text_within(o, "term", 10)?;
            text_block(o.get("content").unwrap_or(&Value::Null), 3000)
        }
        "section" => {
            text_block(o.get("content").unwrap_or(&Value::Null), 500)?;
            image(o.get("accessory"))
        }
        "context" => {
            text_block(o.get("content").unwrap_or(&Value::Null), 500)?;
            image(o.get("image"))
        }
        other => Err(format!("unknown block type `{other}`")),
    }
}

/// Why `blocks` would be refused, if it would.
pub(super) fn check(blocks: &Value) -> Result<(), String> {
    let list = blocks.as_array().ok_or("blocks is not a list")?;
    if list.len() > MAX_BLOCKS {
        return Err(format!("{} blocks (at most {MAX_BLOCKS})", list.len()));
    }
    for (i, b) in list.iter().enumerate() {
        block(b).map_err(|e| format!("blocks[{i}]: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kakaoworks_limits() {
        let ok = json!([
            {"type": "header", "text": "배포 승인 요청", "style": "yellow"},
            {"type": "text", "text": "x", "inlines": [{"type": "styled", "text": "x", "bold": true}]},
            {"type": "description", "term": "요청자", "content": {"type": "text", "text": "이영희"}},
            {"type": "action", "elements": [{"type": "button", "text": "승인", "action_type": "submit_action", "action_name": "a", "value": "v"}]},
            {"type": "image_link", "url": "https://example.com/a.png"}
        ]);
        check(&ok).unwrap();
        for bad in [
            json!([{"type": "header", "text": "가".repeat(21)}]),
            json!([{"type": "text", "text": "가".repeat(501)}]),
            json!([{"type": "button", "text": "x", "action_type": "teleport"}]),
            json!([{"type": "action", "elements": []}]),
            json!([{"type": "image_link", "url": "ftp://x"}]),
            json!([{"type": "label", "text": "x"}]),
            Value::Array(vec![json!({"type": "divider"}); 51]),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
    }
}
