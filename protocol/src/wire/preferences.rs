//! Preferences: typed keys with a value at up to four scopes (system, user, project,
//! task), the narrowest winning (`/v1/preferences*`, `cynork prefs`).

use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a preference's value is set, from the widest to the narrowest.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PreferenceScope {
    /// For everyone (admins set it).
    System,
    /// For the caller's own work.
    User,
    /// For one of the caller's projects.
    Project,
    /// For one of the caller's tasks.
    Task,
}

impl PreferenceScope {
    pub const ALL: [PreferenceScope; 4] = [
        PreferenceScope::System,
        PreferenceScope::User,
        PreferenceScope::Project,
        PreferenceScope::Task,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PreferenceScope::System => "system",
            PreferenceScope::User => "user",
            PreferenceScope::Project => "project",
            PreferenceScope::Task => "task",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    /// Whether the scope names one project or task (`scope_id`).
    pub fn needs_id(self) -> bool {
        matches!(self, PreferenceScope::Project | PreferenceScope::Task)
    }
}

impl std::fmt::Display for PreferenceScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `PUT /v1/preferences/{key}`: sets the key's value at one scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetPreferenceRequest {
    pub scope: PreferenceScope,
    /// The project's or task's id, for those scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    /// Of the key's type (a string, an integer or a boolean).
    pub value: serde_json::Value,
}

/// A value set at one scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreferenceEntry {
    pub key: String,
    pub value: serde_json::Value,
    pub scope: PreferenceScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// `GET /v1/preferences?scope=…`: the values set at one scope, by key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreferenceList {
    pub preferences: Vec<PreferenceEntry>,
}

/// One key as it applies: its value and the scope it came from (`default` when no scope
/// sets it: then `value` is the documented default, `null` where the node decides).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EffectivePreference {
    pub key: String,
    pub value: serde_json::Value,
    /// `system`, `user`, `project`, `task` or `default`.
    pub source: String,
    /// What the key does and its default, in words.
    pub description: String,
}

/// `GET /v1/preferences/effective?task=…` (or `?project=…`, or neither: the caller's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EffectivePreferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Every known key, by name.
    pub preferences: Vec<EffectivePreference>,
}
