//! Reading typed records out of `serde_json::Value` without serde derives.
//!
//! Every record the guest reads (API answers, its ledger, its pairing store) goes through these
//! few helpers instead of a derived `Deserialize` per type: one shared code path keeps the
//! component small. Unknown fields are ignored.

use serde_json::{Map, Value};

use crate::model::id::Id;

pub type Obj = Map<String, Value>;

/// A type that can be read from a JSON value; errors say which field is wrong.
pub trait FromJson: Sized {
    fn from_json(v: &Value) -> Result<Self, String>;
}

pub fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Obj, String> {
    v.as_object()
        .ok_or_else(|| format!("`{what}` is not an object"))
}

pub fn field<'a>(o: &'a Obj, key: &str) -> Result<&'a Value, String> {
    o.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("missing field `{key}`"))
}

pub fn string(o: &Obj, key: &str) -> Result<String, String> {
    field(o, key)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("field `{key}` is not a string"))
}

pub fn opt_string(o: &Obj, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

pub fn u64_of(o: &Obj, key: &str) -> Result<u64, String> {
    field(o, key)?
        .as_u64()
        .ok_or_else(|| format!("field `{key}` is not a non-negative integer"))
}

pub fn opt_u64(o: &Obj, key: &str) -> Option<u64> {
    o.get(key).and_then(Value::as_u64)
}

/// An id sent as a string or as a number; numbers above 2^53 stay exact (serde_json keeps
/// integers as u64), and anything that is not an integer of at most 64 bits is refused.
pub fn id_value(v: &Value, key: &str) -> Result<Id, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(Id(s.clone())),
        Value::Number(n) => n.as_u64().map(|n| Id(n.to_string())).ok_or_else(|| {
            format!("field `{key}`: an id that is not an integer of at most 64 bits cannot be kept exact")
        }),
        _ => Err(format!("field `{key}` is not an id")),
    }
}

pub fn id(o: &Obj, key: &str) -> Result<Id, String> {
    id_value(field(o, key)?, key)
}

pub fn list<T: FromJson>(o: &Obj, key: &str) -> Result<Vec<T>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items.iter().map(T::from_json).collect(),
        Some(_) => Err(format!("field `{key}` is not a list")),
    }
}

/// Parse bytes and read a `T`.
pub fn decode<T: FromJson>(bytes: &[u8]) -> Result<T, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    T::from_json(&v)
}

impl FromJson for String {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| "expected a string".to_owned())
    }
}
