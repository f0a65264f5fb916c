//! Personal API keys: long-lived credentials that editors, web UIs and scripts keep, where
//! a 15-minute access token will not do. The secret is shown once, at creation.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{ApiKeyId, UserId};

/// What a key may be used for.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScope {
    /// Only the model routes (`/v1/models`, `/v1/chat/completions`, `/v1/completions`,
    /// `/v1/embeddings`, `/v1/responses`, Ollama's `/api/*`): what an OpenAI- or
    /// Ollama-compatible client needs, and no more.
    #[default]
    Models,
    /// Everything the user may do.
    All,
}

impl ApiKeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Models => "models",
            ApiKeyScope::All => "all",
        }
    }

    pub fn parse(text: &str) -> Option<ApiKeyScope> {
        match text {
            "models" => Some(ApiKeyScope::Models),
            "all" => Some(ApiKeyScope::All),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, to recognise it in a list (1 to 64 characters).
    pub name: String,
    /// `models` (the default) or `all`.
    #[serde(default)]
    pub scope: ApiKeyScope,
    /// Days until the key stops working (1 to 3650); without it, it works until revoked.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    pub name: String,
    pub scope: ApiKeyScope,
    /// The secret's first characters, to tell keys apart (`cyk_…` and a few more).
    pub prefix: String,
    pub user_id: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<Timestamp>,
}

/// The answer to a create: the key's secret, shown this once, and the key as listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreatedApiKey {
    /// Use it as `Authorization: Bearer <key>` or `x-api-key: <key>`.
    pub key: String,
    pub api_key: ApiKeyView,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}
