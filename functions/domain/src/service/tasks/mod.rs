//! Tasks, the user's side: one [`TaskService`], its concerns one file each: creating
//! ([`create`]), finding, listing and canceling ([`listing`]), streamed answers
//! ([`answers`]), results, output and logs ([`output`]), attachments ([`attachments`]),
//! deleting ([`removal`]), and where a new task's model calls go ([`routing`]).
//!
//! Every single-task operation goes through [`TaskService::owned_task`], the one place
//! that resolves a reference and checks ownership.

mod answers;

mod attachments;
mod create;

mod listing;
mod output;
mod removal;
mod routing;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ports::{BlobStore, JobQueue, TaskStore};
use crate::principal::Principal;
use crate::service::projects::ProjectService;
use crate::service::settings::SettingsService;
use crate::task::{Task, TaskRef};
use std::sync::Arc;

pub use answers::{AnswerStream, StreamState, COMPLETION_TIMEOUT_SECS};

pub(crate) use create::load_input;
pub(crate) use listing::{decode_cursor, encode_cursor};
pub use listing::{parse_limit, ListQuery};

pub use output::OUTPUT_URL_TTL_SECS;
pub use routing::ModelRouter;

#[derive(Debug, Clone)]
pub struct TaskSettings {
    /// Lease length put on job messages.
    pub lease_secs: u64,
    pub upload_url_ttl_secs: u64,
    /// Tasks one user may have queued or running at once (0: no limit); past it, a new
    /// task is 429 `too_many_unfinished_tasks`.
    pub max_unfinished_per_user: u32,
    /// Finished tasks unchanged this long are removed by the sweep (0: kept for ever).
    pub retention_secs: u64,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self {
            lease_secs: 60,
            upload_url_ttl_secs: 15 * 60,
            max_unfinished_per_user: 100,
            retention_secs: 0,
        }
    }
}

pub struct TaskService {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn JobQueue>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    settings: TaskSettings,
    /// Resolves the project a task names (tasks naming none need no projects).
    projects: Option<Arc<ProjectService>>,
    /// The quota and retention in force (none: `settings`' own).
    live: Option<Arc<SettingsService>>,
    /// Jobs' live logs (none: a running job's log is empty until its result).
    logs: Option<Arc<dyn crate::ports::LogStore>>,
    /// Decides where a new task's model calls go (none: as the task names them, on a
    /// node, unrecorded).
    router: Option<Arc<ModelRouter>>,
}

impl TaskService {
    pub fn new(
        tasks: Arc<dyn TaskStore>,
        queue: Arc<dyn JobQueue>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        settings: TaskSettings,
    ) -> Self {
        Self {
            tasks,
            queue,
            blobs,
            clock,
            settings,
            projects: None,
            live: None,
            logs: None,
            router: None,
        }
    }

    /// Routes new tasks' model calls by preference, to nodes or through the egress.
    pub fn with_router(mut self, router: Arc<ModelRouter>) -> Self {
        self.router = Some(router);
        self
    }

    /// Reads jobs' live logs while they run.
    pub fn with_logs(mut self, logs: Arc<dyn crate::ports::LogStore>) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Reads the quota and retention from the system settings in force.
    pub fn with_settings(mut self, live: Arc<SettingsService>) -> Self {
        self.live = Some(live);
        self
    }

    /// The settings in force, or those the service was built with.
    async fn in_force(&self) -> Result<(u32, u64)> {
        Ok(match &self.live {
            Some(live) => {
                let current = live.current().await?;
                (current.max_unfinished_tasks, current.task_retention_secs)
            }
            None => (
                self.settings.max_unfinished_per_user,
                self.settings.retention_secs,
            ),
        })
    }

    /// Lets tasks belong to the caller's projects.
    pub fn with_projects(mut self, projects: Arc<ProjectService>) -> Self {
        self.projects = Some(projects);
        self
    }

    /// Resolves an id or name to a task of the caller's; anyone else's is "not found".
    pub async fn owned_task(&self, principal: &Principal, reference: &str) -> Result<Task> {
        let found = match TaskRef::parse(reference)? {
            TaskRef::Id(id) => self.tasks.task(&id).await?,
            TaskRef::Name(name) => self.tasks.task_by_name(&principal.user_id, &name).await?,
        };
        found
            .ok_or_else(|| Error::task_not_found(reference))?
            .for_owner(&principal.user_id, reference)
    }
}

#[cfg(test)]
mod tests;
