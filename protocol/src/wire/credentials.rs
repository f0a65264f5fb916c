//! Stored credentials: a user's secrets for outbound services (a forge token, a model
//! provider's API key), kept by name and provider, written and never read back.
//! `/v1/credentials*`, `cynork creds`.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// `POST /v1/credentials`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCredentialRequest {
    pub name: String,
    /// Who it is for: lowercase letters, digits and dashes (`github`, `openai`, …).
    pub provider: String,
    /// The secret: one line, or an ssh private key block; at most 4096 bytes.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `POST /v1/credentials/{name}/rotate`: a new value in place of the old one.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateCredentialRequest {
    pub value: String,
}

/// `PATCH /v1/credentials/{name}`: the fields to change. A disabled credential is never
/// handed out; `description: ""` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpdateCredentialRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Requests that carry a value never print it.
impl std::fmt::Debug for CreateCredentialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCredentialRequest")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RotateCredentialRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotateCredentialRequest")
            .finish_non_exhaustive()
    }
}

/// A stored credential as its owner sees it: everything but the value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CredentialView {
    pub name: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    /// When the value was last replaced (`None`: never rotated).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rotated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CredentialList {
    pub credentials: Vec<CredentialView>,
}
