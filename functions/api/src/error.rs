//! How errors become responses: one JSON shape (`{"error": {"code", "message",
//! "request_id"}}`) and one status per error kind, everywhere.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cynode_domain::wire::{ErrorBody, ErrorDetail};
use cynode_domain::ErrorCode;
use cynode_domain::{Error, ErrorKind};

use crate::request_id::current_request_id;
use cynode_domain::error::STORE_UNAVAILABLE;

/// An error on its way out as an HTTP response.
#[derive(Debug)]
pub enum ApiError {
    /// Anything the services decided.
    Domain(Error),
    /// A request the gateway refuses before any service sees it (body too large,
    /// malformed JSON, unknown route).
    Request {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self::Domain(err)
    }
}

impl ApiError {
    pub fn request(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Request {
            status,
            code,
            message: message.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Validation => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
    }
}

fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
    param: Option<String>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: message.into(),
            param,
            request_id: current_request_id(),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = match self {
            ApiError::Domain(err) => err,
            ApiError::Request {
                status,
                code,
                message,
            } => return error_response(status, code, message, None),
        };
        let status = status_of(err.kind);
        let message = if err.kind == ErrorKind::Internal {
            // Details of internal failures go to the log, not to the caller.
            tracing::error!(code = err.code.as_str(), error = %err.message, "internal error");
            "internal error; the request id identifies it in the gateway's logs".to_owned()
        } else if err.code == STORE_UNAVAILABLE {
            // SDK errors name tables, queues and endpoints: the log gets them, not callers.
            tracing::warn!(error = %err.message, "storage unavailable");
            "a storage service is unavailable; retry shortly (the request id identifies the failure in the gateway's logs)".to_owned()
        } else {
            if err.kind == ErrorKind::Unavailable {
                tracing::warn!(error = %err.message, "dependency unavailable");
            }
            err.message
        };
        let mut response = error_response(status, err.code, message, err.param);
        if let Some(seconds) = err.retry_after_secs {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
