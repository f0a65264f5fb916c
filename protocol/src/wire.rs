//! The JSON contract between the gateway, the edge node and the CLI.
//!
//! Everything that crosses a process boundary is declared here once and used by both
//! ends, so a field renamed on one side cannot silently drift from the other.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::ids::{
    AttachmentId, JobId, LeaseId, NodeId, ProjectId, SessionId, TaskId, ThreadId, UserId,
};
use crate::status::{JobOutcome, JobStatus, TaskStatus};

// ------------------------------------------------------------------ errors

/// Every error response body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

// ------------------------------------------------------------------ health

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthStatus {
    /// `ok`, `ready` or `not_ready`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ------------------------------------------------------------------ auth and users

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub handle: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Optional: logout always ends the session of the access token used.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub handle: String,
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserView {
    pub user_id: UserId,
    pub handle: String,
    pub is_admin: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

/// Claims of a user access token (HS256 JWT).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: UserId,
    pub handle: String,
    pub adm: bool,
    /// The session the token belongs to; logout revokes it.
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
}

// ------------------------------------------------------------------ tasks

/// How a task's input is to be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    /// Natural language, interpreted by a model; never run as a shell command.
    Prompt,
    /// A script file run in the sandbox.
    Script,
    /// An ordered list of shell commands run in the sandbox.
    Commands,
}

impl InputMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InputMode::Prompt => "prompt",
            InputMode::Script => "script",
            InputMode::Commands => "commands",
        }
    }
}

/// `POST /v1/tasks`. Exactly one of `prompt`, `script`, `commands`; `mode`, when given,
/// must name the one present.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// The model the task needs. A prompt task without one is answered by the node's
    /// default model; a script or commands task with one runs with an inference proxy
    /// in its pod (`OLLAMA_BASE_URL`) on a node that reports the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The project (id or name) the task belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The sandbox image to run in; only nodes that allow it take the job (default: the
    /// project's image, then the node's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Planned work: the prompt is a feature request for the project's repository; a
    /// planner agent splits it into subtasks (needs `project` and a prompt).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plan: bool,
}

/// A planned task's progress, as task views show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanSummary {
    pub planner_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner_error: Option<String>,
    pub subtasks: u32,
    pub merged: u32,
}

/// One agent run: a job attempt of a task (the planner's, a worker's, or a plain task's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunView {
    pub run_id: JobId,
    /// `planner`, `worker` or `task`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask: Option<u32>,
    /// Deliveries of this run's job to a node (more than 1 after a node was lost).
    pub attempt: u32,
    pub status: JobStatus,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<crate::plan::WorkReport>,
    /// What its node last said it is doing (an agent's current step; after the run, the
    /// last one reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
}

/// `GET /v1/tasks/{task}/runs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunList {
    pub task_id: TaskId,
    pub status: TaskStatus,
    pub runs: Vec<RunView>,
}

/// `GET /v1/tasks/{task}/runs/{run}/logs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunLogs {
    pub task_id: TaskId,
    pub run: RunView,
    pub stdout: String,
    pub stderr: String,
}

/// What a planner or worker job's node needs beyond the prompt: the repository (with its
/// credential, for the node's own git and forge calls only: never written into a
/// sandbox), and for a worker the subtask, its branch and the project's test command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentAssignment {
    /// `plan` or `work`.
    pub role: String,
    pub repo_url: String,
    pub default_branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask: Option<SubtaskBrief>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// Where the pull request is opened: the forge's API base and `owner/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<ForgeTarget>,
    /// Why the previous planner attempt was refused (the planner is told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubtaskBrief {
    pub number: u32,
    pub title: String,
    pub spec: String,
    pub acceptance: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ForgeTarget {
    pub api_url: String,
    pub owner: String,
    pub repo: String,
}

/// A repository credential in transit to a node: serialized as itself, never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Credential(pub String);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// `GET /v1/tasks/{task}/subtasks`: the plan's subtasks in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubtaskList {
    pub task_id: TaskId,
    pub status: TaskStatus,
    pub plan: PlanSummary,
    pub subtasks: Vec<crate::plan::Subtask>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskView {
    pub task_id: TaskId,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name: Option<String>,
    pub mode: InputMode,
    /// The prompt, or a preview of the script or commands (at most 4 KiB).
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskList {
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Model calls a job made through its pod's inference proxy, and the tokens the model
/// server reported for them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct InferenceUsage {
    pub calls: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Calls the proxy refused (not an inference route, a model the node does not serve,
    /// over a limit); they never reached the model server.
    #[serde(default)]
    pub refused_calls: u32,
}

/// Both together: calls and tokens add up.
impl std::ops::Add for InferenceUsage {
    type Output = InferenceUsage;

    fn add(self, other: InferenceUsage) -> InferenceUsage {
        InferenceUsage {
            calls: self.calls + other.calls,
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            refused_calls: self.refused_calls + other.refused_calls,
        }
    }
}

/// Which stream's preview is not the whole output (cut at the limit, or converted from
/// bytes that were not UTF-8). The whole bytes are then downloadable (see [`RawOutput`]).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Truncated {
    pub stdout: bool,
    pub stderr: bool,
}

/// One of a job's output streams.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub const ALL: [OutputStream; 2] = [OutputStream::Stdout, OutputStream::Stderr];

    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The bytes of one stream kept beside its preview.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamBytes {
    /// Bytes kept (at most [`crate::limits::MAX_RAW_OUTPUT_BYTES`]).
    pub size: u64,
    /// Bytes the job wrote; more than `size` when even the raw copy was cut.
    pub total: u64,
}

/// The raw bytes of streams whose preview is not the whole output.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RawOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<StreamBytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<StreamBytes>,
}

impl RawOutput {
    pub fn is_empty(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none()
    }

    pub fn get(&self, stream: OutputStream) -> Option<StreamBytes> {
        match stream {
            OutputStream::Stdout => self.stdout,
            OutputStream::Stderr => self.stderr,
        }
    }

    pub fn set(&mut self, stream: OutputStream, bytes: Option<StreamBytes>) {
        match stream {
            OutputStream::Stdout => self.stdout = bytes,
            OutputStream::Stderr => self.stderr = bytes,
        }
    }
}

/// `GET /v1/tasks/{id}/output/{stream}`: where to download a stream's whole bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputDownload {
    pub task_id: TaskId,
    pub stream: OutputStream,
    /// Bytes behind `url` (0 and no url when the stream was empty).
    pub size: u64,
    /// Whether `url` serves everything the job wrote (false when even the raw copy was cut).
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `POST /v1/jobs/{job_id}/output`: the node asks where to upload a stream's raw bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutputUploadRequest {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    pub stream: OutputStream,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputUploadUrl {
    pub url: String,
}

/// One job's outcome as shown to the task owner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobResultView {
    pub job_id: JobId,
    pub status: JobStatus,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_command: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when the control plane requeued or ended the job after a fault: `node_lost`,
    /// `delivery_exhausted`, `delivery_lost` or `drained` (see docs/api.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub truncated: Truncated,
    /// Streams whose whole bytes are downloadable beyond the preview.
    #[serde(default, skip_serializing_if = "RawOutput::is_empty")]
    pub raw: RawOutput,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<Timestamp>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
}

/// `GET /v1/tasks/{id}/result`. The top-level output fields repeat the last job's, the
/// common case being a task of one job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskResult {
    pub task_id: TaskId,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Model calls and tokens of all the task's jobs, when any used a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
    pub jobs: Vec<JobResultView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CancelOutcome {
    pub task_id: TaskId,
    pub canceled: bool,
    pub status: TaskStatus,
}

/// Which output streams `GET /v1/tasks/{id}/logs` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    All,
}

impl LogStream {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "stdout" => Some(LogStream::Stdout),
            "stderr" => Some(LogStream::Stderr),
            "all" => Some(LogStream::All),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskLogs {
    pub task_id: TaskId,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

// ------------------------------------------------------------------ attachments

/// `POST /v1/attachments`: ask for an upload URL for one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAttachmentRequest {
    pub name: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentUpload {
    pub attachment_id: AttachmentId,
    /// PUT the file's bytes here (with exactly `size` bytes) before creating the task.
    pub upload_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentView {
    pub attachment_id: AttachmentId,
    pub name: String,
    pub size: u64,
}

// ------------------------------------------------------------------ nodes

/// What an edge node can do, reported at registration and whenever it changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CapabilityReport {
    pub agent_version: String,
    pub cpus: u32,
    pub memory_mb: u64,
    #[serde(default)]
    pub gpus: Vec<GpuInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podman_version: Option<String>,
    #[serde(default)]
    pub sandbox_images: Vec<String>,
    #[serde(default)]
    pub job_slots: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<InferenceStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GpuInfo {
    pub name: String,
    pub memory_mb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InferenceStatus {
    pub endpoint: String,
    pub reachable: bool,
    /// The models the endpoint serves, as its model list names them.
    #[serde(default)]
    pub models: Vec<String>,
}

impl CapabilityReport {
    /// The models this node can serve right now (none when its endpoint is unreachable).
    pub fn models(&self) -> &[String] {
        match &self.inference {
            Some(status) if status.reachable => &status.models,
            _ => &[],
        }
    }
}

/// `POST /v1/nodes/register`, authenticated by the pre-shared key alone.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterNodeRequest {
    pub pre_shared_key: String,
    pub node_name: String,
    pub capabilities: CapabilityReport,
    /// The secret the node's last registration issued (absent on its first start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_secret: Option<String>,
}

impl std::fmt::Debug for RegisterNodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterNodeRequest")
            .field("node_name", &self.node_name)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeRegistration {
    pub node_id: NodeId,
    /// The node's signing key for every later request (hex). A secret: keep it out of
    /// logs and out of sandboxes.
    pub node_key: String,
    /// The node's secret from now on, proving it at its next registration. Keep it
    /// (0600); the one before stays valid once more.
    pub node_secret: String,
    pub config: NodeConfig,
    /// Short-lived AWS credentials for the queues this node serves, when the deployment
    /// issues them (it does on AWS and on LocalStack). Renew them through
    /// `POST /v1/nodes/credentials` before `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<QueueCredentials>,
}

/// AWS session credentials allowed only to receive, extend and delete messages on the
/// queues one node serves. Secret: never logged, never inside a sandbox.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for QueueCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NodeRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRegistration")
            .field("node_id", &self.node_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Configuration the gateway hands a node. `config_version` is a ULID: a node applies a
/// configuration only if its version sorts after the one it has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeConfig {
    pub config_version: String,
    /// The SQS queue the node long-polls for jobs.
    pub queue_url: String,
    /// The queue of jobs that need a model; polled only by nodes that report one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_queue_url: Option<String>,
    /// How often a running job's heartbeat is sent.
    pub heartbeat_interval_secs: u64,
    /// How long a claim lasts without a heartbeat.
    pub lease_secs: u64,
    pub default_timeout_secs: u64,
    pub max_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigAck {
    pub config_version: String,
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeView {
    pub node_id: NodeId,
    pub node_name: String,
    pub capabilities: CapabilityReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_config_version: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: Timestamp,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_seen_at: Option<Timestamp>,
    #[serde(default)]
    pub state: NodeState,
    /// Labels an admin gave the node (projects may require one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Jobs the node holds a claim on (admin views only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots_in_use: Option<u32>,
}

/// `PUT /v1/admin/nodes/{node}/labels`: the node's labels, replacing its old ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeLabels {
    pub labels: Vec<String>,
}

/// What an operator allows a node to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Takes jobs.
    #[default]
    Enabled,
    /// Takes no new jobs; running ones finish.
    Disabled,
    /// Takes no new jobs and hands running ones back to the queue for other nodes.
    Draining,
    /// An admin ended its keys: every signed request is refused, credentials are not
    /// renewed, and it may register again only after an admin enables it.
    Revoked,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Enabled => "enabled",
            NodeState::Disabled => "disabled",
            NodeState::Draining => "draining",
            NodeState::Revoked => "revoked",
        }
    }
}

/// `GET /v1/admin/nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
}

// ------------------------------------------------------------------ jobs on the queue

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
    /// For chat jobs: the conversation. With a model, the node sends it to the model
    /// itself and streams the answer back as chunks; with [`AGENT_MODEL`] (no `model`),
    /// the agent answers it in a sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Temperature>,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttachmentDownload {
    pub name: String,
    pub size: u64,
    pub url: String,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultAck {
    pub stored: bool,
    /// The same result had been stored before; nothing changed.
    pub duplicate: bool,
}

// ------------------------------------------------------------------ models and chat

/// The model id of CyNode's own agent: a chat with it is answered by the prompt agent in
/// a sandbox pod (which may run commands there); any other id goes straight to a model
/// that some node serves.
pub const AGENT_MODEL: &str = "cynodeai.pm";

/// One chat message (OpenAI's shape; only text content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A sampling temperature in hundredths (0-200), so that requests stay comparable.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Temperature(pub u16);

impl Temperature {
    pub fn from_f64(value: f64) -> Option<Self> {
        (0.0..=2.0)
            .contains(&value)
            .then(|| Temperature((value * 100.0).round() as u16))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

/// `POST /v1/chat/completions`: the fields CyNode uses. Other OpenAI fields are accepted
/// and ignored, as OpenAI-compatible servers do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    /// Messages as OpenAI clients send them: `content` a string or a list of text parts.
    pub messages: Vec<serde_json::Value>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /v1/chat`: one message, continuing a thread when `thread_id` is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<ThreadId>,
    /// Default: the agent ([`AGENT_MODEL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatReply {
    pub response: String,
    pub thread_id: ThreadId,
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
}

/// A chat thread: its messages, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadView {
    pub thread_id: ThreadId,
    pub title: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ChatMessage>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadList {
    pub threads: Vec<ThreadView>,
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
}

/// What one sweep did (`POST /v1/admin/sweep`, and the scheduled function's log).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Unfinished jobs looked at.
    pub active: u32,
    /// Jobs put back on the queue after a fault.
    pub requeued: u32,
    /// Jobs ended (failed, or canceled when their user had asked) after a fault.
    pub ended: u32,
    /// Dead letters handled (requeued, ended, or dropped because the job had ended).
    pub dead_letters: u32,
    /// Dead letters left for a later sweep (their job still held by a live node).
    pub dead_letters_busy: u32,
}

/// One message on the dead-letter queue (`GET /v1/admin/dead-letters`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadLetterView {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// The job's status now; absent when the message is not a job or its job is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadLetterList {
    pub dead_letters: Vec<DeadLetterView>,
}

/// `POST /v1/admin/dead-letters/redrive`: what went back on the job queues.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RedriveReport {
    /// Messages sent back for jobs that are not finished.
    pub redriven: u32,
    /// Messages dropped: their job ended or no longer exists, or they are not jobs.
    pub dropped: u32,
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

// ------------------------------------------------------------------ projects

/// `POST /v1/projects`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    pub name: String,
    pub repo_url: String,
    /// Default `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    /// A token for the repository (and its forge). Kept server-side: never shown back,
    /// never sent into a sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Start subtasks by themselves once their dependencies are merged (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
    /// How workers build it (see `BuildSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_label: Option<String>,
}

/// `PATCH /v1/projects/{project}`: the fields to change. `credential: ""` removes it.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
    /// Build settings; one set to "" is cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_label: Option<String>,
}

/// Requests that carry a credential never print it.
impl std::fmt::Debug for CreateProjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateProjectRequest")
            .field("name", &self.name)
            .field("repo_url", &self.repo_url)
            .finish_non_exhaustive()
    }
}

/// The build settings a project request carries (listed in the request itself rather
/// than flattened, so that unknown fields are still refused).
macro_rules! build_settings_of {
    ($($request:ty),+) => {$(
        impl $request {
            pub fn build(&self) -> crate::project::BuildSettings {
                crate::project::BuildSettings {
                    image: self.image.clone(),
                    test_command: self.test_command.clone(),
                    forge_url: self.forge_url.clone(),
                    forge_repo: self.forge_repo.clone(),
                    node_label: self.node_label.clone(),
                }
            }
        }
    )+};
}

build_settings_of!(CreateProjectRequest, UpdateProjectRequest);

impl std::fmt::Debug for UpdateProjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateProjectRequest")
            .field("repo_url", &self.repo_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProjectView {
    pub project_id: ProjectId,
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    /// Whether a credential is stored (it is never shown).
    pub has_credential: bool,
    pub auto_start: bool,
    #[serde(flatten)]
    pub build: crate::project::BuildSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}
