//! System settings: values admins change while the deployment runs (`/v1/settings*`,
//! `cynork settings`).

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// One setting as it applies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SettingView {
    pub key: String,
    pub value: u64,
    /// `setting` (an admin set it) or `deployment` (the function's environment).
    pub source: String,
    /// The deployment's value, which `null` restores.
    pub deployment_value: u64,
    pub description: String,
}

/// `GET /v1/settings`: every setting, and the version of the stored settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SettingsView {
    pub settings: Vec<SettingView>,
    /// Absent until an admin first sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub updated_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// `PUT /v1/settings/{key}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetSettingRequest {
    /// A whole number within the setting's bounds, or `null` for the deployment's value.
    pub value: serde_json::Value,
    /// The version this change was made from; a stale one is 409 `concurrent_update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
