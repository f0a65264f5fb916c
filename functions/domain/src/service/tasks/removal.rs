//! Deleting a task: its owner (or an admin) removes it and everything stored for it.
//!
//! The order makes a deletion that dies half-way safe to repeat: an unfinished task is
//! canceled first (a node running one of its jobs stops at its next heartbeat, as for a
//! cancel, or when the gateway no longer knows the job), then its input and results go
//! from the blob store, then its jobs, chunks, name and idempotency key, and the task
//! item last: while the task can still be found, `DELETE` again finishes the work.
//! Attachments are the user's uploads, usable by other tasks, and stay.
//!
//! Retention (`TaskSettings::retention_secs`, off by default) removes finished tasks
//! the same way, oldest first, from the recovery sweep.

use super::create::input_key;
use super::TaskService;
use crate::error::{Error, Result};
use crate::ids::TaskId;
use crate::principal::Principal;
use crate::task::{StoredInput, Task, TaskRef};
use crate::ErrorCode;
use time::Duration;

/// Finished tasks retention removes in one sweep (the next sweep goes on).
pub const RETENTION_PER_SWEEP: u32 = 200;

/// Every result object of a task lives under this prefix (`job::output_keys`).
pub(crate) fn results_prefix(task: &TaskId) -> String {
    format!("results/{task}/")
}

impl TaskService {
    /// Deletes the task (the owner's by id or name; an admin's by id, anyone's).
    pub async fn delete(&self, principal: &Principal, reference: &str) -> Result<()> {
        let task = self.deletable_task(principal, reference).await?;
        self.remove(&task).await
    }

    /// Retention: removes finished tasks that have not changed for `retention_secs`
    /// (nothing when it is 0), at most [`RETENTION_PER_SWEEP`] a call, oldest first.
    /// Returns how many it removed.
    pub async fn remove_expired(&self) -> Result<u32> {
        let (_, retention_secs) = self.in_force().await?;
        if retention_secs == 0 {
            return Ok(0);
        }
        let before = self.clock.now() - Duration::seconds(retention_secs as i64);
        let expired = self
            .tasks
            .finished_before(before, RETENTION_PER_SWEEP)
            .await?;
        for task in &expired {
            self.remove(task).await?;
        }
        Ok(expired.len() as u32)
    }

    async fn remove(&self, task: &Task) -> Result<()> {
        // Canceled first, so that a node running one of its jobs stops it.
        match self.cancel_stored(&task.id).await {
            Ok(_) => {}
            Err(err) if err.code == ErrorCode::TaskFinished => {}
            Err(err) => return Err(err),
        }
        let input = match &task.input {
            StoredInput::Blob { key } => key.clone(),
            StoredInput::Inline(_) => input_key(&task.id),
        };
        self.blobs.delete_prefix(&input).await?;
        self.blobs.delete_prefix(&results_prefix(&task.id)).await?;
        self.tasks.delete_task(task).await?;
        Ok(())
    }

    async fn deletable_task(&self, principal: &Principal, reference: &str) -> Result<Task> {
        match TaskRef::parse(reference)? {
            TaskRef::Id(id) if principal.is_admin => self
                .tasks
                .task(&id)
                .await?
                .ok_or_else(|| Error::task_not_found(reference)),
            _ => self.owned_task(principal, reference).await,
        }
    }
}
