//! The one error type of the domain.
//!
//! Every failure a client can see has a stable machine-readable code (an
//! [`ErrorCode`](crate::ErrorCode), spelled once in `cynode-protocol`) and a human
//! message. The HTTP layer maps each [`ErrorKind`] to one status code; the CLI maps
//! status codes to exit codes. `docs/api.md` lists the codes.

use crate::ErrorCode;
use std::fmt;

/// What went wrong, at the granularity a client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong (400).
    Validation,
    /// No or bad credentials (401).
    Unauthenticated,
    /// Authenticated, but not allowed (403).
    Forbidden,
    /// The thing does not exist, or is not the caller's to see (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The caller must slow down (429).
    TooManyRequests,
    /// A dependency (DynamoDB, SQS, S3) failed; retrying may help (503).
    Unavailable,
    /// A hosted model provider refused or failed the call (502).
    Upstream,
    /// A hosted model provider did not answer in time (504).
    UpstreamTimeout,
    /// A bug or broken invariant (500).
    Internal,
}

/// A domain error: kind, stable code, message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds the client should wait before retrying, for `TooManyRequests`.
    pub retry_after_secs: Option<u64>,
    /// The request field at fault, where one is (OpenAI clients read it as `param`).
    pub param: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            retry_after_secs: None,
            param: None,
        }
    }
    /// Names the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
    pub fn validation(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, code, message)
    }
    pub fn unauthenticated(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, message)
    }
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                ErrorKind::TooManyRequests,
                ErrorCode::TooManyRequests,
                message,
            )
        }
    }
    /// Over a quota: 429 with `code` and when to try again.
    pub fn over_quota(code: ErrorCode, message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(ErrorKind::TooManyRequests, code, message)
        }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            ErrorCode::DependencyUnavailable,
            message,
        )
    }
    /// A hosted model provider's failure, its message naming the provider.
    pub fn upstream(code: ErrorCode, message: impl Into<String>) -> Self {
        let kind = match code {
            ErrorCode::ProviderTimeout => ErrorKind::UpstreamTimeout,
            _ => ErrorKind::Upstream,
        };
        Self::new(kind, code, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, ErrorCode::InternalError, message)
    }
    /// A store, queue or blob service failed. The message holds the SDK's details, for
    /// the log only: callers get a generic message and the request id.
    pub fn store_unavailable(details: impl Into<String>) -> Self {
        let mut err = Self::new(ErrorKind::Unavailable, STORE_UNAVAILABLE, details);
        err.retry_after_secs = Some(2);
        err
    }

    /// The task was not found *or* belongs to someone else: one answer for both, so a
    /// caller cannot probe for other users' task ids.
    pub fn task_not_found(reference: &str) -> Self {
        Self::not_found(ErrorCode::TaskNotFound, format!("no task '{reference}'"))
    }
}

/// Failures of a storage or queue port, before the domain gives them meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item changed or already exists.
    #[error("conditional write failed: {0}")]
    Conflict(String),
    /// The backing service failed or is unreachable; trying again may help.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The backing service refused the request itself (DynamoDB's `ValidationException`):
    /// the adapter built something the service cannot take; trying again will not help.
    #[error("storage refused the request: {0}")]
    Rejected(String),
    /// Stored data could not be decoded: a bug or a manual edit.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// The code of [`Error::store_unavailable`].
pub const STORE_UNAVAILABLE: ErrorCode = ErrorCode::StoreUnavailable;

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Error::conflict(ErrorCode::ConcurrentUpdate, what),
            StoreError::Unavailable(what) => Error::store_unavailable(what),
            StoreError::Corrupt(what) | StoreError::Rejected(what) => Error::internal(what),
        }
    }
}

impl From<cynode_protocol::signing::SignatureError> for Error {
    fn from(err: cynode_protocol::signing::SignatureError) -> Self {
        Error::unauthenticated(err.code, err.message)
    }
}

impl From<cynode_protocol::status::UnknownStatus> for Error {
    fn from(err: cynode_protocol::status::UnknownStatus) -> Self {
        Error::validation(err.code, err.message)
    }
}
