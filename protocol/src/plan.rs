//! The wire shape of planned work: a plan's subtasks as the gateway stores and shows them,
//! and what a worker's node reports when it pushed a branch. The rules that move subtasks
//! between states live in the domain (`cynode_domain::plan`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clock::Timestamp;
use crate::ids::JobId;

/// Subtasks one plan may have.
pub const MAX_SUBTASKS: usize = 8;
pub const MAX_SUBTASK_TITLE_CHARS: usize = 120;
pub const MAX_SUBTASK_SPEC_BYTES: usize = 4096;
pub const MAX_SUBTASK_ACCEPTANCE_BYTES: usize = 2048;

/// The JSON schema the planner's output must follow. The model's reply is constrained to
/// it, and it is built so that a reply that follows it is a valid graph: subtask `n` may
/// only depend on subtasks `1..n` (the plan is in dependency order), so no dependency
/// dangles and none closes a cycle. It is one alternative per plan length, each a tuple
/// (`prefixItems`) whose items know their position. The gateway still checks everything
/// (`cynode_domain::plan::parse_draft`): a server without schema support may send anything.
pub fn plan_schema() -> Value {
    let item = |n: usize| {
        let earlier: Vec<usize> = (1..n).collect();
        let depends_on = if earlier.is_empty() {
            json!({"type": "array", "maxItems": 0})
        } else {
            json!({"type": "array", "items": {"enum": earlier}, "uniqueItems": true})
        };
        json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": MAX_SUBTASK_TITLE_CHARS},
                "spec": {"type": "string", "minLength": 1},
                "acceptance": {"type": "string"},
                "depends_on": depends_on
            },
            "required": ["title", "spec", "acceptance", "depends_on"],
            "additionalProperties": false
        })
    };
    let lengths: Vec<Value> = (1..=MAX_SUBTASKS)
        .map(|len| {
            json!({
                "type": "array",
                "prefixItems": (1..=len).map(item).collect::<Vec<_>>(),
                "minItems": len,
                "maxItems": len
            })
        })
        .collect();
    json!({
        "type": "object",
        "properties": {"subtasks": {"anyOf": lengths}},
        "required": ["subtasks"],
        "additionalProperties": false
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubtaskState {
    /// Every dependency is merged: it may start.
    Ready,
    /// Waiting for dependencies to be merged.
    BlockedDependency,
    /// A worker is building it (or waits to retry after a failed attempt).
    InProgress,
    /// Its branch is pushed and its pull request open.
    Completed,
    Merged,
    /// Its attempts ran out; `retry` starts again.
    BlockedFailure,
}

impl SubtaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubtaskState::Ready => "ready",
            SubtaskState::BlockedDependency => "blocked_dependency",
            SubtaskState::InProgress => "in_progress",
            SubtaskState::Completed => "completed",
            SubtaskState::Merged => "merged",
            SubtaskState::BlockedFailure => "blocked_failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
}

/// What a worker's node reports when it pushed the subtask's branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkReport {
    pub branch: String,
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subtask {
    pub number: u32,
    pub title: String,
    pub spec: String,
    pub acceptance: String,
    pub depends_on: Vec<u32>,
    pub state: SubtaskState,
    /// Why it is blocked by failure, or why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Worker attempts since it was last started or retried.
    pub attempts: u32,
    pub branch: String,
    /// The worker job of the current (or last) attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequest>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}
