//! Health, sign-in, tokens and users.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};

// ------------------------------------------------------------------ health

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthStatus {
    /// `ok`, `ready` or `not_ready`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ------------------------------------------------------------------ auth and users

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub handle: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Optional: logout always ends the session of the access token used.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub handle: String,
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserView {
    pub user_id: UserId,
    pub handle: String,
    pub is_admin: bool,
    /// A disabled user cannot sign in, and their sessions and API keys stop working.
    #[serde(default)]
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// One page of `GET /v1/users`, in handle order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserList {
    pub users: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /v1/users/me/password`: the caller changes their own password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /v1/users/{handle}/password`: an admin sets another user's password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub new_password: String,
}

/// `PATCH /v1/users/{handle}`: an admin grants or drops admin, disables or enables. At
/// least one field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Claims of a user access token (HS256 JWT).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: UserId,
    pub handle: String,
    pub adm: bool,
    /// The session the token belongs to; logout revokes it.
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
}
