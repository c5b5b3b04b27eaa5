//! KakaoWork's answer envelope (`success`, or an `error` with its code and message), the
//! bottom of the emulator: the directory and the world answer with it, the HTTP layer sends it.

use serde_json::{Map, Value, json};

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) extra: Vec<(String, String)>,
}

pub(super) fn ok(body: Value) -> Answer {
    let mut map = match body {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.insert("success".into(), Value::Bool(true));
    Answer {
        status: 200,
        body: Value::Object(map),
        extra: vec![],
    }
}

pub(super) fn fail(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: json!({"success": false, "error": {"code": code, "message": message}}),
        extra: vec![],
    }
}
