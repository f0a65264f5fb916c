//! Live logs: what a job's streams print while it runs, shipped by the node in numbered
//! chunks (`POST /v1/jobs/{job}/logs`) and read back by the task's owner from a cursor
//! (`GET /v1/tasks/{task}/logs?cursor=`, `cynork task logs -f`). Each attempt's log is its
//! own: a chunk is named by its job, attempt and sequence number.

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, LeaseId, TaskId};
use crate::status::TaskStatus;
use crate::wire::OutputStream;

/// Text one stream printed, in the order the node read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    pub stream: OutputStream,
    pub text: String,
}

/// `POST /v1/jobs/{job_id}/logs`: what the job printed since the attempt's last chunk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobLogRequest {
    pub task_id: TaskId,
    pub attempt: u32,
    pub lease_id: LeaseId,
    /// 0, 1, 2 … per attempt; a chunk sent twice is stored once.
    pub seq: u32,
    pub entries: Vec<LogEntry>,
    /// The job printed more than the node ships (`sandbox.max_log_size`): this is the
    /// attempt's last chunk, and the rest is only in the result's output.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One stored chunk as a reader sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    pub job_id: JobId,
    pub attempt: u32,
    pub seq: u32,
    pub stream: OutputStream,
    pub text: String,
}

/// `GET /v1/tasks/{task}/logs?cursor=`: the chunks that arrived after the cursor, and the
/// cursor to ask from next (the same one when nothing new arrived). Once `status` is
/// final and `lines` is empty, nothing more will come.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LiveLogs {
    pub task_id: TaskId,
    pub status: TaskStatus,
    pub lines: Vec<LogLine>,
    pub next_cursor: String,
    /// An attempt's log stopped at the node's cap; the rest is in the result's output.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}
