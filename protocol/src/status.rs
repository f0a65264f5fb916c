//! Task and job statuses, and which of them are terminal.
//!
//! The task statuses are a public contract (ARCHITECTURE.md): `queued`, `running`,
//! `completed`, `failed`, `canceled`, `superseded`, and for planned work
//! `planning_failed` (the planner's attempts ran out; `retry-planning` starts again). Job
//! statuses add `timeout`, which the task reports as `failed`.

use crate::wire::ErrorCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A status name that is not one of [`TaskStatus::ALL`]; `code` is `invalid_status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct UnknownStatus {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Canceled,
    Superseded,
    PlanningFailed,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Canceled,
        TaskStatus::Superseded,
        TaskStatus::PlanningFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
            TaskStatus::Superseded => "superseded",
            TaskStatus::PlanningFailed => "planning_failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskStatus::Queued | TaskStatus::Running)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus {
                code: ErrorCode::InvalidStatus,
                message: format!(
                    "unknown status '{s}'; expected one of {}",
                    TaskStatus::ALL.map(|s| s.as_str()).join(", ")
                ),
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Timeout,
    Canceled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Timeout => "timeout",
            JobStatus::Canceled => "canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }

    /// The task status a task with this (single) job reports.
    pub fn task_status(self) -> TaskStatus {
        match self {
            JobStatus::Queued => TaskStatus::Queued,
            JobStatus::Running => TaskStatus::Running,
            JobStatus::Completed => TaskStatus::Completed,
            JobStatus::Failed | JobStatus::Timeout => TaskStatus::Failed,
            JobStatus::Canceled => TaskStatus::Canceled,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a finished job ended, as the edge node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobOutcome {
    Completed,
    Failed,
    Timeout,
    Canceled,
}

impl JobOutcome {
    pub fn job_status(self) -> JobStatus {
        match self {
            JobOutcome::Completed => JobStatus::Completed,
            JobOutcome::Failed => JobStatus::Failed,
            JobOutcome::Timeout => JobStatus::Timeout,
            JobOutcome::Canceled => JobStatus::Canceled,
        }
    }
    pub fn as_str(self) -> &'static str {
        self.job_status().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_status_round_trips_through_text_and_json() {
        for status in TaskStatus::ALL {
            assert_eq!(status.as_str().parse::<TaskStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }

    #[test]
    fn unknown_status_is_a_validation_error_listing_the_valid_ones() {
        let err = "cancelled".parse::<TaskStatus>().unwrap_err();
        assert_eq!(err.code, "invalid_status");
        assert!(err.message.contains("canceled"));
    }

    #[test]
    fn every_status_but_queued_and_running_is_terminal() {
        let terminal: Vec<_> = TaskStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                TaskStatus::Completed,
                TaskStatus::Failed,
                TaskStatus::Canceled,
                TaskStatus::Superseded,
                TaskStatus::PlanningFailed
            ]
        );
    }

    #[test]
    fn a_timed_out_job_fails_its_task() {
        assert_eq!(JobStatus::Timeout.task_status(), TaskStatus::Failed);
        assert_eq!(
            JobOutcome::Canceled.job_status().task_status(),
            TaskStatus::Canceled
        );
    }
}
