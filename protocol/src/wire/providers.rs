//! Hosted model providers: the outside APIs an admin registers (their kind, base URL and
//! the models they offer with per-token prices), and the stored credential each user, or
//! an admin for everyone, attaches to one. `/v1/providers*`, `cynork provider`,
//! `cynork creds attach`. The calls themselves go through the egress (issue 21).

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Which API a provider speaks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible API: OpenAI, OpenRouter, Together, Groq, vLLM, a remote
    /// Ollama's `/v1`.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }
}

/// A model a provider offers, with its price in US dollars per million tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderModel {
    /// The provider's own name for it (`gpt-4o-mini`, `meta-llama/llama-3.1-8b-instruct`).
    pub name: String,
    #[serde(default)]
    pub input_usd_per_mtok: f64,
    #[serde(default)]
    pub output_usd_per_mtok: f64,
}

/// `POST /v1/providers` (admins): registers a provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateProviderRequest {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub models: Vec<ProviderModel>,
}

/// `PUT /v1/providers/{name}/credential`: the caller's stored credential for the
/// provider; `scope: "system"` (admins) makes an admin's credential everyone's default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttachCredentialRequest {
    pub credential_name: String,
    #[serde(default)]
    pub scope: AttachScope,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AttachScope {
    #[default]
    User,
    System,
}

impl AttachScope {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachScope::User => "user",
            AttachScope::System => "system",
        }
    }
}

/// Which stored credential a provider's calls use for the caller, and whose it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachedCredential {
    pub scope: AttachScope,
    pub credential_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub attached_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderView {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub models: Vec<ProviderModel>,
    /// The credential the caller's calls would use: their own, else the system's; none
    /// means the provider cannot be used by them yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<AttachedCredential>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProviderList {
    pub providers: Vec<ProviderView>,
}
