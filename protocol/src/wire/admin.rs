//! Operators' reports: sweeps, dead letters, redrives.

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, TaskId};
use crate::status::JobStatus;

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
    /// Finished tasks removed because they were older than the retention time.
    #[serde(default)]
    pub expired_tasks: u32,
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
