//! The audit trail: security-relevant events, newest first (`GET /v1/audit`,
//! `cynork audit list`). Never a secret, a prompt or a model's answer.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Success,
    /// Refused: a wrong password, a bad pre-shared key, a missing right.
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [AuditOutcome::Success, AuditOutcome::Failure]
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// One event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// A ULID: events sort by it, oldest first.
    pub event_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
    /// What happened, `<area>.<verb>` (`auth.login`, `api_key.create`, …; docs/api.md
    /// lists them).
    pub action: String,
    pub outcome: AuditOutcome,
    /// Who did it: `user:<handle>`, `node:<name>` or `anonymous`.
    pub actor: String,
    /// What it was done to: `user:<handle>`, `api_key:<id>`, `node:<name>`,
    /// `project:<id>`, `preference:<key>`, `setting:<name>`.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The caller's address, where the gateway knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A short reason or change (an error code, `disabled=true`), never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One page of `GET /v1/audit`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditList {
    pub events: Vec<AuditEntry>,
    /// Pass as `cursor` for older events; absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
