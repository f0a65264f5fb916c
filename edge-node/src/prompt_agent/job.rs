//! The contract between the node and the agent in its sandbox: the job file the node
//! writes to `/job/prompt.json` before the pod starts. The node builds it
//! (`crate::job::program`); the agent only reads it. Nothing in it is a secret: it is
//! read inside the sandbox.

use serde::{Deserialize, Serialize};

/// The job, as the node writes it to `/job/prompt.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentJob {
    pub prompt: String,
    pub model: String,
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub role: AgentRole,
    /// Where commands run (the repository for planners and workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// For a worker: the command its change must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// For a worker: the commit's subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_subject: Option<String>,
    /// For a worker: the commit its checkout started from. Its commits since then are
    /// handed to the node as a bundle in `/out` (see `workspace::change`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    /// The owner's skills for this job: instructions the agent follows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<cynode_protocol::wire::SkillText>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    #[default]
    Answer,
    Plan,
    Work,
}

fn default_max_steps() -> u32 {
    8
}
fn default_command_timeout() -> u64 {
    60
}
fn default_max_tokens() -> u32 {
    256
}
