//! Jobs: the queue message, and the signed callbacks a node makes while it holds a claim (started, heartbeat, chunks, output, result, release).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{
    AgentAssignment, AnswerEnd, ChatAnswer, ChatMessage, ChatOptions, DirectCall, InferenceUsage,
    InputMode, RawOutput, Temperature, Truncated,
};
use crate::clock::Timestamp;
use crate::ids::{JobId, LeaseId, TaskId};
use crate::status::{JobOutcome, JobStatus};

/// The SQS message body of a job: references only, never payloads (SQS messages are
/// small). The node gets the job's spec when it claims it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobMessage {
    pub v: u32,
    pub task_id: TaskId,
    pub job_id: JobId,
    /// The attempt the message was enqueued for; claims after a redelivery get a higher
    /// attempt from the gateway.
    pub attempt: u32,
    /// How long a claim of this job lasts without a heartbeat.
    pub lease_secs: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub enqueued_at: Timestamp,
    /// The job needs a model: it goes on the inference queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inference: bool,
    /// The model it names, if any: a node that does not serve it leaves the message for
    /// another node without claiming the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The sandbox image it names, if any: likewise left to a node that allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

// ------------------------------------------------------------------ job callbacks

/// `POST /v1/jobs/{job_id}/started`: the node received the job and wants to run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobStartedRequest {
    pub task_id: TaskId,
    /// Identifies one run of the agent process: a claim by the same node with another
    /// boot id means the earlier run died, and its lease can be taken over at once.
    pub boot_id: String,
    #[serde(default)]
    pub receive_count: u32,
}

/// The answer to a started callback: the claim, or why not to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ClaimDecision {
    /// Run it.
    Run(Box<JobClaim>),
    /// Do not run it, and delete the message: the job is finished or canceled.
    Discard { status: JobStatus },
    /// Do not run it yet: another live claim holds it. Leave the message.
    Retry { retry_after_secs: u64 },
    /// This node may not take jobs now (an operator disabled or is draining it): make the
    /// message visible to other nodes at once, and receive nothing for a while.
    NotNow {
        reason: String,
        retry_after_secs: u64,
    },
    /// This job is not for this node (its project runs only on nodes with a label this
    /// node lacks): leave the message to other nodes for a while; keep receiving.
    Elsewhere {
        reason: String,
        retry_after_secs: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobClaim {
    pub attempt: u32,
    pub lease_id: LeaseId,
    #[serde(with = "time::serde::rfc3339")]
    pub lease_expires_at: Timestamp,
    /// Key for the heartbeat and result callbacks of this claim (hex). A secret.
    pub job_token: String,
    pub spec: JobSpec,
}

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobSpec {
    pub mode: InputMode,
    /// For prompt jobs: the prompt the in-sandbox agent answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The model the job needs; `None` with `inference` set means the node's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Run with the inference proxy sidecar in the pod.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inference: bool,
    /// `model` is a hosted model (`<provider>/<model>`): the node serves the pod's model
    /// calls by relaying them to the gateway's egress route (`POST
    /// /v1/jobs/{job_id}/inference`, signed with the job token), never to a model server
    /// of its own, and holds no credential for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosted: bool,
    /// For chat jobs: the conversation. With a model, the node sends it to the model
    /// itself and streams the answer back as chunks; with [`AGENT_MODEL`] (no `model`),
    /// the agent answers it in a sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Temperature>,
    /// For chat jobs: the agent (`cynodeai.pm`) answers the conversation in a sandbox,
    /// thinking with `model` (else the node's default); without it, a chat naming a
    /// `model` is that model's to answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent_chat: bool,
    /// For chat jobs with a model: sampling, tools and output format.
    #[serde(default, skip_serializing_if = "ChatOptions::is_empty")]
    pub chat: ChatOptions,
    /// A legacy completion or embeddings, sent by the node to its model server as is
    /// (`model` names the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentDownload>,
    /// The task's requested timeout; the node caps it with its own default and maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// The sandbox image the task named (one of the node's allowed images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// For planned work: the planner's or worker's assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentAssignment>,
    /// The most steps the in-sandbox agent may take (the owner's effective
    /// `agent.max_steps`); `None`: the node's own limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_max_steps: Option<u32>,
    /// The owner's skills that apply to this job, for the in-sandbox agent to follow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<crate::wire::SkillText>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentDownload {
    pub name: String,
    pub size: u64,
    pub url: String,
}

/// `POST /v1/jobs/{job_id}/inference`: one model call of a job whose model is hosted
/// ([`JobSpec::hosted`]), relayed by the node that holds the claim and signed with its job
/// token. The gateway answers it through its egress, as the provider answered (a stream
/// of server-sent events when `body.stream` is true), in OpenAI's shapes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostedCallRequest {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    pub call: HostedCall,
    /// The pod's request as it sent it; its `model` must be the task's.
    pub body: serde_json::Value,
}

/// The model calls a job with a hosted model may make.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HostedCall {
    /// `/v1/chat/completions`.
    ChatCompletions,
    /// `/v1/embeddings`.
    Embeddings,
}

/// `POST /v1/jobs/{job_id}/heartbeat`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    /// What the job is doing now (an agent's last step line), for watchers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// Stop the job now and report it `canceled`.
    pub canceled: bool,
    /// Stop the job now and hand it back (`/release`): the node is being drained.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub release: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub lease_expires_at: Timestamp,
}

/// `POST /v1/jobs/{job_id}/result`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobResultReport {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    pub status: JobOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// For commands tasks: the 1-based index of the command that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_command: Option<u32>,
    /// What the node knows beyond the exit code (timeout, memory limit, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub truncated: Truncated,
    /// Streams whose raw bytes the node uploaded before reporting (see `/output`).
    #[serde(default, skip_serializing_if = "RawOutput::is_empty")]
    pub raw: RawOutput,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: Timestamp,
    /// For jobs with a model: the calls made and tokens used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
    /// For a worker of planned work: the branch the node pushed and its pull request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<crate::plan::WorkReport>,
    /// For a chat answered by a model: how it ended, its tool calls, its log
    /// probabilities (its text is `stdout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChatAnswer>,
    /// The job's last line of progress, as heartbeats carry it: a job that ended between
    /// two heartbeats still shows the last step it reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultAck {
    pub stored: bool,
    /// The same result had been stored before; nothing changed.
    pub duplicate: bool,
}

/// `POST /v1/jobs/{job_id}/chunks`: text a chat job produced since its last chunk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobChunkRequest {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    /// 0, 1, 2 … per attempt; a chunk sent twice is stored once.
    pub seq: u32,
    pub text: String,
    /// On the answer's last chunk: how it ended (answers of text alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<AnswerEnd>,
}

/// `POST /v1/jobs/{job_id}/release`: the claim's node hands the job back unfinished (it
/// is stopping or draining), so another node can run it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobReleaseRequest {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    /// Why, in words (shown to the task's owner).
    pub reason: String,
}
