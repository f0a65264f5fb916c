//! Errors and the exit codes they map to. The codes are a contract (README, `--help`):
//! 0 ok, 2 usage, 3 auth, 4 not found, 5 conflict, 6 validation, 7 gateway or network,
//! 8 internal.

use cynode_protocol::wire::ErrorCode;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Usage = 2,
    Auth = 3,
    NotFound = 4,
    Conflict = 5,
    Validation = 6,
    Gateway = 7,
    Internal = 8,
}

impl ExitKind {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The exit kind for an HTTP error status from the gateway.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 | 403 => ExitKind::Auth,
            404 => ExitKind::NotFound,
            409 => ExitKind::Conflict,
            400 | 413 | 422 => ExitKind::Validation,
            429 | 500..=599 => ExitKind::Gateway,
            _ => ExitKind::Internal,
        }
    }
}

/// A failed command: what to tell the user, and how to exit.
#[derive(Debug, Clone)]
pub struct CliError {
    pub kind: ExitKind,
    /// The gateway's error code, when the gateway refused.
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl CliError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Usage, message)
    }
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Auth, message)
    }
    pub fn gateway(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Gateway, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Internal, message)
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.code()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        for (status, code) in [
            (400, 6),
            (401, 3),
            (403, 3),
            (404, 4),
            (409, 5),
            (413, 6),
            (422, 6),
            (429, 7),
            (500, 7),
            (503, 7),
            (405, 8),
        ] {
            assert_eq!(
                ExitKind::from_status(status).code(),
                code,
                "status {status}"
            );
        }
    }
}
