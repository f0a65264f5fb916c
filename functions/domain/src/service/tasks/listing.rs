//! Finding, listing and canceling a user's tasks; list pages are cursor-addressed.

use super::TaskService;
use crate::error::{Error, Result};
use crate::ids::TaskId;
use crate::limits::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX};
use crate::ports::{TaskFilter, Write};
use crate::principal::Principal;
use crate::service::write::{retry_on_conflict, Tried};
use crate::status::TaskStatus;
use crate::task::Task;
use crate::transitions::cancel_task;
use crate::wire::{CancelOutcome, TaskList, TaskView};
use crate::ErrorCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Cursors are opaque to clients: `v1:<where the page ended>`, base64url. Listings of
/// other things (users) use the same shape.
pub(crate) fn encode_cursor(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{last}"))
}

/// The text a cursor from [`encode_cursor`] holds, if `valid` takes it.
pub(crate) fn decode_cursor<T>(cursor: &str, valid: impl FnOnce(&str) -> Option<T>) -> Result<T> {
    let bad = || {
        Error::validation(
            ErrorCode::InvalidCursor,
            "cursor is not one this gateway issued",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("v1:").and_then(valid).ok_or_else(bad)
}

/// A listing's query string, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListQuery<'a> {
    pub status: Option<&'a str>,
    pub project: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
}

/// `limit` as given in a query string: absent means the default; else 1–200.
pub fn parse_limit(raw: Option<&str>) -> Result<u32> {
    let Some(raw) = raw else {
        return Ok(LIST_LIMIT_DEFAULT);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=LIST_LIMIT_MAX).contains(n))
        .ok_or_else(|| {
            Error::validation(
                ErrorCode::InvalidLimit,
                format!("limit must be an integer from 1 to {LIST_LIMIT_MAX}, got '{raw}'"),
            )
        })
}

impl TaskService {
    pub async fn get(&self, principal: &Principal, reference: &str) -> Result<TaskView> {
        Ok(self.owned_task(principal, reference).await?.view())
    }

    /// One page of the caller's tasks, newest first: those with `status` and in
    /// `project` (id or name, the caller's) when given.
    pub async fn list(&self, principal: &Principal, query: ListQuery<'_>) -> Result<TaskList> {
        let limit = parse_limit(query.limit)?;
        let status = query.status.map(str::parse::<TaskStatus>).transpose()?;
        let after = query
            .cursor
            .map(|cursor| decode_cursor(cursor, TaskId::parse))
            .transpose()?;
        let project = match (query.project, &self.projects) {
            (None, _) => None,
            (Some(reference), Some(projects)) => {
                Some(projects.owned(principal, reference).await?.id)
            }
            (Some(_), None) => return Err(Error::internal("this gateway has no projects")),
        };
        let filter = TaskFilter {
            status,
            project: project.as_ref(),
        };
        let page = self
            .tasks
            .list_tasks(&principal.user_id, filter, limit, after.as_ref())
            .await?;
        Ok(TaskList {
            tasks: page.tasks.iter().map(Task::view).collect(),
            next_cursor: page.last.as_ref().map(|last| encode_cursor(last.as_str())),
        })
    }

    /// Cancels the task and its jobs: queued jobs end now, running ones are told to stop
    /// at their next heartbeat.
    pub async fn cancel(&self, principal: &Principal, reference: &str) -> Result<CancelOutcome> {
        let task = self.owned_task(principal, reference).await?;
        let status = self.cancel_stored(&task.id).await?;
        Ok(CancelOutcome {
            task_id: task.id,
            canceled: true,
            status,
        })
    }

    /// Cancels the stored task and its unfinished jobs, read again on every try; its
    /// status after (409 `task_finished` when it had ended otherwise).
    pub(super) async fn cancel_stored(&self, id: &TaskId) -> Result<TaskStatus> {
        retry_on_conflict("the task", move || async move {
            let task = self
                .tasks
                .task(id)
                .await?
                .ok_or_else(|| Error::task_not_found(id.as_str()))?;
            let jobs = self.tasks.jobs(&task.id).await?;
            let Some((canceled, changed)) = cancel_task(&task, &jobs, self.clock.now())? else {
                return Ok(Tried::Done(task.status));
            };
            let writes: Vec<Write> = std::iter::once(Write::Task(&canceled))
                .chain(changed.iter().map(Write::Job))
                .collect();
            Tried::written(self.tasks.commit(&writes).await, canceled.status)
        })
        .await
    }
}
