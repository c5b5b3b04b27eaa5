//! KakaoWork's response envelope: `{"success": true, <entity>...}` or
//! `{"success": false, "error": {"code", "message"}}`, parsed into typed results.
//!
//! Unknown fields are ignored (KakaoWork keeps adding them), ids may be strings or numbers,
//! and ids above 2^53 stay exact because they are kept as decimal strings.

use serde_json::Value;
use thiserror::Error;

use crate::model::json::{self, FromJson};

use crate::contract::ports::HttpResponse;

/// KakaoWork's error codes; unknown codes are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    MissingParameter,
    InvalidParameter,
    BadRequest,
    InvalidRepresentation,
    InvalidContentType,
    InvalidAuthentication,
    ExpiredAuthentication,
    Unauthorized,
    ApiNotFound,
    UserNotFound,
    ConversationNotFound,
    TextTooLong,
    InvalidBlocks,
    TooManyRequests,
    InternalServerError,
    Unknown(String),
}

impl ErrorCode {
    pub fn parse(code: &str) -> Self {
        match code {
            "missing_parameter" => Self::MissingParameter,
            "invalid_parameter" => Self::InvalidParameter,
            "bad_request" => Self::BadRequest,
            "invalid_representation" => Self::InvalidRepresentation,
            "invalid_content_type" => Self::InvalidContentType,
            "invalid_authentication" => Self::InvalidAuthentication,
            "expired_authentication" => Self::ExpiredAuthentication,
            "unauthorized" => Self::Unauthorized,
            "api_not_found" => Self::ApiNotFound,
            "user_not_found" => Self::UserNotFound,
            "conversation_not_found" => Self::ConversationNotFound,
            "text_too_long" => Self::TextTooLong,
            "invalid_blocks" => Self::InvalidBlocks,
            "too_many_requests" => Self::TooManyRequests,
            "internal_server_error" => Self::InternalServerError,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::MissingParameter => "missing_parameter",
            Self::InvalidParameter => "invalid_parameter",
            Self::BadRequest => "bad_request",
            Self::InvalidRepresentation => "invalid_representation",
            Self::InvalidContentType => "invalid_content_type",
            Self::InvalidAuthentication => "invalid_authentication",
            Self::ExpiredAuthentication => "expired_authentication",
            Self::Unauthorized => "unauthorized",
            Self::ApiNotFound => "api_not_found",
            Self::UserNotFound => "user_not_found",
            Self::ConversationNotFound => "conversation_not_found",
            Self::TextTooLong => "text_too_long",
            Self::InvalidBlocks => "invalid_blocks",
            Self::TooManyRequests => "too_many_requests",
            Self::InternalServerError => "internal_server_error",
            Self::Unknown(s) => s,
        }
    }

    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            Self::InvalidAuthentication | Self::ExpiredAuthentication
        )
    }
}

/// A failure KakaoWork reported, or an answer that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    #[error("KakaoWork error `{}` (HTTP {status}): {message}", code.as_str())]
    Api {
        code: ErrorCode,
        message: String,
        status: u16,
        retry_after_ms: Option<u64>,
    },
    #[error("KakaoWork answered HTTP {status} with an unreadable body: {detail}")]
    Invalid { status: u16, detail: String },
}

impl EnvelopeError {
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(code),
            Self::Invalid { .. } => None,
        }
    }
}

/// The answer's headers the guest reads: the limit KakaoWork reports, and how long to wait
/// after a 429 or 503. The host hands back only these.
pub const READ_HEADERS: &[&str] = &[RATE_LIMIT_LIMIT, RETRY_AFTER];
pub const RATE_LIMIT_LIMIT: &str = "ratelimit-limit";
pub const RETRY_AFTER: &str = "retry-after";

/// `Retry-After` in whole seconds (KakaoWork sends integers), as milliseconds.
pub fn retry_after_ms(resp: &HttpResponse) -> Option<u64> {
    resp.header(RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1000))
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        s.push('…');
    }
    s
}

/// Parse an answer into `T`, the success payload (entity keys such as `message` as fields).
pub fn parse<T: FromJson>(resp: &HttpResponse) -> Result<T, EnvelopeError> {
    let value = parse_value(resp)?;
    T::from_json(&value).map_err(|e| EnvelopeError::Invalid {
        status: resp.status,
        detail: format!("unexpected shape: {e}"),
    })
}

/// The success envelope as a JSON value; one copy of this code serves every entity type.
fn parse_value(resp: &HttpResponse) -> Result<Value, EnvelopeError> {
    let status = resp.status;
    let not_json = |e: serde_json::Error| EnvelopeError::Invalid {
        status,
        detail: format!("not JSON ({e}): {}", snippet(&resp.body)),
    };
    // UTF-8 checked once, with SIMD, rather than string by string; `from_slice` then only
    // to say where an invalid body goes wrong.
    let value: Value = match simdutf8::basic::from_utf8(&resp.body) {
        Ok(text) => serde_json::from_str(text).map_err(not_json)?,
        Err(_) => serde_json::from_slice(&resp.body).map_err(not_json)?,
    };
    let Value::Object(map) = &value else {
        return Err(EnvelopeError::Invalid {
            status,
            detail: "the body is not a JSON object".into(),
        });
    };
    let success = match map.get("success") {
        Some(Value::Bool(b)) => *b,
        _ if status == 429 => false,
        _ => {
            return Err(EnvelopeError::Invalid {
                status,
                detail: "no boolean `success` field".into(),
            });
        }
    };
    if !success || !(200..300).contains(&status) {
        let raw = map.get("error").and_then(Value::as_object);
        let code = raw.and_then(|e| json::opt_string(e, "code"));
        let message = raw
            .and_then(|e| json::opt_string(e, "message"))
            .unwrap_or_default();
        let code = match code {
            Some(c) => ErrorCode::parse(&c),
            None if status == 429 => ErrorCode::TooManyRequests,
            None if status == 401 => ErrorCode::InvalidAuthentication,
            None if status >= 500 => ErrorCode::InternalServerError,
            None => ErrorCode::Unknown(format!("http_{status}")),
        };
        return Err(EnvelopeError::Api {
            code,
            message,
            status,
            retry_after_ms: retry_after_ms(resp),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::id::Id;

    #[derive(Debug)]
    struct WithMessage {
        message: Msg,
    }
    #[derive(Debug)]
    struct Msg {
        id: Id,
        conversation_id: Id,
    }

    impl FromJson for WithMessage {
        fn from_json(v: &Value) -> Result<Self, String> {
            let m = json::obj(json::field(json::obj(v, "answer")?, "message")?, "message")?;
            Ok(Self {
                message: Msg {
                    id: json::id(m, "id")?,
                    conversation_id: json::id(m, "conversation_id")?,
                },
            })
        }
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn success_with_unknown_fields_and_mixed_id_types() {
        let r = resp(
            200,
            r#"{"success":true,"error":null,"future_field":{"x":1},
               "message":{"id":"757617552587034624","conversation_id":2092305,"new":"field"}}"#,
        );
        let m: WithMessage = parse(&r).unwrap();
        assert_eq!(m.message.id.as_str(), "757617552587034624");
        assert_eq!(m.message.conversation_id.as_str(), "2092305");
    }

    #[test]
    fn an_answer_that_is_not_utf8_is_an_invalid_answer_that_says_where() {
        let mut body =
            br#"{"success":true,"message":{"id":"1","conversation_id":"2","text":""#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}}"#);
        let r = HttpResponse {
            status: 200,
            headers: vec![],
            body,
        };
        match parse::<WithMessage>(&r) {
            Err(EnvelopeError::Invalid { status, detail }) => {
                assert_eq!(status, 200);
                assert!(detail.starts_with("not JSON (invalid unicode"), "{detail}");
                assert!(detail.contains("column"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_above_2_pow_53_as_numbers_stay_exact() {
        // 2^53 + 1 is the first integer an f64 cannot hold.
        let r = resp(
            200,
            r#"{"success":true,"message":{"id":9007199254740993,"conversation_id":18446744073709551615}}"#,
        );
        let m: WithMessage = parse(&r).unwrap();
        assert_eq!(m.message.id.as_str(), "9007199254740993");
        assert_eq!(m.message.conversation_id.as_str(), "18446744073709551615");
    }

    #[test]
    fn ids_beyond_u64_are_an_error_not_a_rounding() {
        let r = resp(
            200,
            r#"{"success":true,"message":{"id":18446744073709551616,"conversation_id":1}}"#,
        );
        let err = parse::<WithMessage>(&r).unwrap_err();
        assert!(matches!(err, EnvelopeError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot be kept exact"), "{err}");
    }

    #[test]
    fn known_error_codes_become_variants() {
        let r = resp(
            404,
            r#"{"success":false,"error":{"code":"conversation_not_found","message":"없음"}}"#,
        );
        match parse::<WithMessage>(&r).unwrap_err() {
            EnvelopeError::Api {
                code,
                message,
                status,
                ..
            } => {
                assert_eq!(code, ErrorCode::ConversationNotFound);
                assert_eq!(message, "없음");
                assert_eq!(status, 404);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_error_codes_are_kept_verbatim() {
        let r = resp(
            400,
            r#"{"success":false,"error":{"code":"brand_new_code","message":"m"}}"#,
        );
        let err = parse::<WithMessage>(&r).unwrap_err();
        assert_eq!(
            err.code(),
            Some(&ErrorCode::Unknown("brand_new_code".into()))
        );
        assert_eq!(err.code().unwrap().as_str(), "brand_new_code");
    }

    #[test]
    fn every_known_code_round_trips() {
        for c in [
            "missing_parameter",
            "invalid_parameter",
            "bad_request",
            "invalid_representation",
            "invalid_content_type",
            "invalid_authentication",
            "expired_authentication",
            "unauthorized",
            "api_not_found",
            "user_not_found",
            "conversation_not_found",
            "text_too_long",
            "invalid_blocks",
            "too_many_requests",
            "internal_server_error",
        ] {
            let code = ErrorCode::parse(c);
            assert!(!matches!(code, ErrorCode::Unknown(_)), "{c}");
            assert_eq!(code.as_str(), c);
        }
    }

    #[test]
    fn rate_limit_carries_retry_after() {
        let mut r = resp(
            429,
            r#"{"success":false,"error":{"code":"too_many_requests","message":"slow down"}}"#,
        );
        r.headers.push(("Retry-After".into(), "7".into()));
        match parse::<WithMessage>(&r).unwrap_err() {
            EnvelopeError::Api {
                code,
                retry_after_ms,
                ..
            } => {
                assert_eq!(code, ErrorCode::TooManyRequests);
                assert_eq!(retry_after_ms, Some(7000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_json_and_missing_success_are_invalid() {
        let e = parse::<WithMessage>(&resp(502, "<html>bad gateway</html>")).unwrap_err();
        assert!(matches!(e, EnvelopeError::Invalid { status: 502, .. }));
        let e = parse::<WithMessage>(&resp(200, r#"{"message":{}}"#)).unwrap_err();
        assert!(e.to_string().contains("success"), "{e}");
        let e = parse::<WithMessage>(&resp(200, r#"[1,2]"#)).unwrap_err();
        assert!(matches!(e, EnvelopeError::Invalid { .. }));
    }

    #[test]
    fn success_without_the_entity_is_invalid_not_a_panic() {
        let e = parse::<WithMessage>(&resp(200, r#"{"success":true}"#)).unwrap_err();
        assert!(e.to_string().contains("message"), "{e}");
    }

    #[test]
    fn failure_without_error_object_still_typed() {
        let e = parse::<WithMessage>(&resp(500, r#"{"success":false}"#)).unwrap_err();
        assert_eq!(e.code(), Some(&ErrorCode::InternalServerError));
        let e = parse::<WithMessage>(&resp(200, r#"{"success":false,"error":null}"#)).unwrap_err();
        assert!(matches!(e.code(), Some(ErrorCode::Unknown(_))));
    }
}
