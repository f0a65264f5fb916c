//! Tasks: what a user submits, what they read back (views, runs, results, output, logs), and attachments.

use serde::{Deserialize, Serialize};

use super::ChatAnswer;
use crate::clock::Timestamp;
use crate::ids::{AttachmentId, JobId, LeaseId, ProjectId, TaskId};
use crate::status::{JobStatus, TaskStatus};

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
    /// Where its model calls go and why, decided when it was created (tasks that use a
    /// model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<TaskRouting>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

/// A routing decision: which model a task's calls use, where they are served, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskRouting {
    pub via: ModelRoute,
    /// The model its calls name; absent: the default model of the node that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// In words, for the user: which setting or request chose the model, and why it is
    /// served there.
    pub reason: String,
}

/// Where a task's model calls are served.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelRoute {
    /// An edge node's own model server.
    Node,
    /// A hosted provider, through the control plane's egress (the job still runs on a
    /// node, in its sandbox).
    Egress,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChatAnswer>,
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
    /// For a chat answered by a model: how it ended, its tool calls, its log
    /// probabilities (its text is `stdout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChatAnswer>,
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
