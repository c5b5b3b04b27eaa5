//! The channel's errors, one variant per thing a host or user can act on.

use thiserror::Error;

use crate::contract::ports::{HttpError, KvError, PairingStoreError};
use crate::model::envelope::{EnvelopeError, ErrorCode};

/// A KakaoWork API failure as the host sees it (the WIT's `api-failure`), and a
/// connection-level failure with when to try again if that is worth it (`transport-error`).
pub use crate::contract::records::{ApiFailure, TransportError as TransportFailure};

/// What one KakaoWork API call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The rate limiter said not now; nothing was sent.
    #[error("deferred by the rate limiter for {0} ms")]
    Deferred(u64),
    /// The limiter's state could not be read; nothing was sent (fail closed).
    #[error(transparent)]
    Storage(#[from] KvError),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    #[error("the channel is not configured: call configure first")]
    NotConfigured,
    #[error("{0}")]
    UnknownAccount(String),
    #[error("account `{0}` is disabled (enabled: false)")]
    AccountDisabled(String),
    #[error(
        "account `{0}` has no app key: set appKey or keyFile (or KAKAOWORK_APP_KEY for the default account)"
    )]
    MissingCredential(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    #[error("KakaoWork rejected the app key ({}): {}; check the App Key in the KakaoWork admin console", .0.code, .0.message)]
    Authentication(ApiFailure),
    #[error("KakaoWork rate limit reached ({}); retry later", .0.code)]
    RateLimited(ApiFailure),
    #[error("KakaoWork error `{}` (HTTP {}): {}", .0.code, .0.http_status, .0.message)]
    Api(ApiFailure),
    #[error("deferred: call again in {0} ms")]
    Deferred(u64),
    #[error("the host refused the request: {0}")]
    Denied(String),
    #[error("the request to KakaoWork timed out")]
    Timeout,
    #[error("could not reach KakaoWork: {}", .0.message)]
    Transport(TransportFailure),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("KakaoWork's answer could not be understood: {0}")]
    InvalidResponse(String),
    #[error("{0}")]
    Other(String),
}

impl From<PairingStoreError> for ChannelError {
    fn from(e: PairingStoreError) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<KvError> for ChannelError {
    fn from(e: KvError) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<ApiError> for ChannelError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Http(HttpError::Denied(m)) => Self::Denied(m),
            ApiError::Http(HttpError::Timeout) => Self::Timeout,
            ApiError::Http(HttpError::TooLarge) => {
                Self::InvalidResponse("the answer exceeded the host's size limit".into())
            }
            ApiError::Http(e @ HttpError::Transport { .. }) => Self::Transport(TransportFailure {
                message: e.to_string(),
                retry_after_ms: None,
            }),
            ApiError::Deferred(ms) => Self::Deferred(ms),
            ApiError::Storage(e) => Self::Storage(e.to_string()),
            ApiError::Http(HttpError::Other(m)) => Self::Other(m),
            ApiError::Envelope(EnvelopeError::Invalid { status, detail }) => {
                Self::InvalidResponse(format!("HTTP {status}: {detail}"))
            }
            ApiError::Envelope(EnvelopeError::Api {
                code,
                message,
                status,
                retry_after_ms,
            }) => {
                let failure = ApiFailure {
                    code: code.as_str().to_owned(),
                    message,
                    http_status: status,
                    retryable: status == 429 || status >= 500,
                    retry_after_ms,
                };
                if code.is_authentication() {
                    Self::Authentication(failure)
                } else if code == ErrorCode::TooManyRequests {
                    Self::RateLimited(failure)
                } else {
                    Self::Api(failure)
                }
            }
        }
    }
}
