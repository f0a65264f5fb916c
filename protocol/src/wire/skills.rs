//! Skills: named markdown instructions an agent follows, a user's own (applied when one
//! of their trigger words is in the job's prompt, or always when they have none) or
//! attached to a project (applied to every job of its tasks). `/v1/skills*`,
//! `cynork skills`.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// `POST /v1/skills`: loads (creates or replaces) a skill by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LoadSkillRequest {
    pub name: String,
    /// Markdown, at most 32 KiB.
    pub body: String,
    /// Words that make a user skill apply when the prompt has one (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    /// The project (id or name) whose tasks it always applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkillView {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Bytes of the body.
    pub size: u64,
    /// Only in `GET /v1/skills/{name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkillList {
    pub skills: Vec<SkillView>,
}

/// A skill as a job carries it to the agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkillText {
    pub name: String,
    pub body: String,
}
