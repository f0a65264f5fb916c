//! Creating a task: checking the request, naming it, the per-user quota, idempotent
//! replays, storing large inputs in the blob store, and queueing its first job.

use crate::chat::Completion;
use crate::clock::Timestamp;
use crate::error::{Error, Result, StoreError};
use crate::ids::{JobId, TaskId};
use crate::job::{message_for, Job};
use crate::limits::MAX_INLINE_INPUT_BYTES;
use crate::plan::{JobRole, Plan};
use crate::ports::BlobStore;
use crate::principal::Principal;
use crate::project::Project;
use crate::status::TaskStatus;
use crate::task::{
    check_idempotency_key, nth_name_candidate, NewTask, StoredInput, Task, TaskInput,
};
use crate::ErrorCode;

use super::{TaskService, COMPLETION_TIMEOUT_SECS};
use crate::wire::{CreateTaskRequest, TaskView};

/// How many suffixes (`name-2`, `name-3`, …) to try before giving up on a name.
const NAME_ATTEMPTS: u32 = 50;

/// When a user over the unfinished-task quota may try again.
pub(super) const QUOTA_RETRY_AFTER_SECS: u64 = 10;

pub(super) fn input_key(task: &TaskId) -> String {
    format!("inputs/{task}.json")
}

impl TaskService {
    pub async fn create(&self, principal: &Principal, req: CreateTaskRequest) -> Result<TaskView> {
        self.create_once(principal, req, None)
            .await
            .map(|(view, _)| view)
    }

    /// Creates a task, once per `idempotency_key`: the same key again returns the task
    /// it created (`true`: it already existed) and creates nothing.
    pub async fn create_once(
        &self,
        principal: &Principal,
        req: CreateTaskRequest,
        idempotency_key: Option<&str>,
    ) -> Result<(TaskView, bool)> {
        let mut new = NewTask::validate(req)?;
        if let Some(key) = idempotency_key {
            check_idempotency_key(key)?;
            if let Some(task) = self
                .tasks
                .task_by_idempotency_key(&principal.user_id, key)
                .await?
            {
                return Ok((task.view(), true));
            }
            new.idempotency_key = Some(key.to_owned());
        }
        self.submit(principal, new).await
    }

    /// A chat completion becomes a task of the user's, answered by a node's model (or
    /// the agent) through the inference queue.
    pub async fn create_completion(
        &self,
        principal: &Principal,
        completion: &Completion,
    ) -> Result<TaskView> {
        self.submit(
            principal,
            NewTask {
                input: completion.input.clone(),
                name: None,
                attachments: vec![],
                timeout_secs: Some(COMPLETION_TIMEOUT_SECS),
                model: completion.model.clone(),
                idempotency_key: None,
                project: None,
                image: None,
                plan: false,
            },
        )
        .await
        .map(|(view, _)| view)
    }

    /// The task an earlier create with `task`'s idempotency key made, if any.
    pub(super) async fn replayed(&self, task: &Task) -> Result<Option<TaskView>> {
        let Some(key) = &task.idempotency_key else {
            return Ok(None);
        };
        Ok(self
            .tasks
            .task_by_idempotency_key(&task.owner, key)
            .await?
            .map(|existing| existing.view()))
    }

    /// Stores a new task and sends its job; `true` when an earlier create with the same
    /// idempotency key had made it already.
    /// Refuses a new task when its owner has as many unfinished as they may.
    pub(super) async fn check_unfinished_quota(&self, principal: &Principal) -> Result<()> {
        let (max, _) = self.in_force().await?;
        if max == 0 {
            return Ok(());
        }
        let unfinished = self
            .tasks
            .count_tasks(
                &principal.user_id,
                &[TaskStatus::Queued, TaskStatus::Running],
                max,
            )
            .await?;
        if unfinished >= max {
            return Err(Error::over_quota(
                ErrorCode::TooManyUnfinishedTasks,
                format!(
                    "you have {max} tasks queued or running, the most one user may; \
                     wait for some to finish or cancel some"
                ),
                QUOTA_RETRY_AFTER_SECS,
            ));
        }
        Ok(())
    }

    pub(super) async fn submit(
        &self,
        principal: &Principal,
        new: NewTask,
    ) -> Result<(TaskView, bool)> {
        self.check_unfinished_quota(principal).await?;
        let now = self.clock.now();
        let mut attachments = Vec::with_capacity(new.attachments.len());
        for id in &new.attachments {
            attachments.push(self.uploaded_attachment(principal, id).await?);
        }

        let project = match (&new.project, &self.projects) {
            (None, _) => None,
            (Some(reference), Some(projects)) => Some(projects.owned(principal, reference).await?),
            (Some(_), None) => return Err(Error::internal("this gateway has no projects")),
        };
        let project_id = project.as_ref().map(|p| p.id.clone());
        let image = new
            .image
            .clone()
            .or_else(|| project.as_ref().and_then(|p| p.build.image.clone()));
        let id = TaskId::generate();
        let input_json = serde_json::to_vec(&new.input)
            .map_err(|err| Error::internal(format!("encoding task input: {err}")))?;
        let input = if input_json.len() > MAX_INLINE_INPUT_BYTES {
            let key = input_key(&id);
            self.blobs.put(&key, input_json).await?;
            StoredInput::Blob { key }
        } else {
            StoredInput::Inline(new.input.clone())
        };
        let mut task = Task {
            id,
            owner: principal.user_id.clone(),
            name: new.name.clone(),
            mode: new.input.mode(),
            prompt_preview: new.input.preview(),
            input,
            attachments,
            timeout_secs: new.timeout_secs,
            model: new.model.clone(),
            idempotency_key: new.idempotency_key.clone(),
            project_id,
            image,
            plan: None,
            routing: None,
            status: TaskStatus::Queued,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        if let (true, Some(router)) = (task.needs_inference(), &self.router) {
            task.routing = Some(router.route(&task, &new.input).await?);
        }
        // Every task is one job. The message goes first: a message without a job is
        // harmless (the claim finds no job and the message ends in the dead-letter queue),
        // a job without a message would wait forever.
        let job = first_job(&mut task, project.as_ref().filter(|_| new.plan), now);
        self.queue
            .enqueue(&message_for(&task, &job, self.settings.lease_secs, now))
            .await?;
        let jobs = [job];
        let Some(base) = new.name else {
            return match self.tasks.insert_task(&task, &jobs).await {
                Ok(()) => Ok((task.view(), false)),
                Err(StoreError::Conflict(what)) => match self.replayed(&task).await? {
                    Some(existing) => Ok((existing, true)),
                    None => Err(StoreError::Conflict(what).into()),
                },
                Err(err) => Err(err.into()),
            };
        };
        for n in 1..=NAME_ATTEMPTS {
            task.name = Some(nth_name_candidate(&base, n));
            match self.tasks.insert_task(&task, &jobs).await {
                Ok(()) => return Ok((task.view(), false)),
                Err(StoreError::Conflict(_)) => {
                    // The conflict may be the idempotency key: a concurrent retry won.
                    if let Some(existing) = self.replayed(&task).await? {
                        return Ok((existing, true));
                    }
                    continue;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::conflict(
            ErrorCode::TaskNameTaken,
            format!(
                "'{base}' and {NAME_ATTEMPTS} numbered variants are taken; choose another name"
            ),
        ))
    }
}

/// A new task's one job: for planned work (`planned`, its project) the planner's, with
/// the plan it starts.
fn first_job(task: &mut Task, planned: Option<&Project>, now: Timestamp) -> Job {
    let Some(project) = planned else {
        return Job::queued(JobId::generate(), task, now);
    };
    let planner = Job::queued_as(JobId::generate(), task, JobRole::Plan, now);
    let mut plan = Plan::new(project.auto_start);
    plan.planner_attempts = 1;
    plan.planner_job = Some(planner.id.clone());
    task.plan = Some(plan);
    planner
}

impl TaskService {
    /// The full input of a task, wherever it is stored.
    pub async fn input_of(&self, task: &Task) -> Result<TaskInput> {
        load_input(self.blobs.as_ref(), task).await
    }
}

pub(crate) async fn load_input(blobs: &dyn BlobStore, task: &Task) -> Result<TaskInput> {
    match &task.input {
        StoredInput::Inline(input) => Ok(input.clone()),
        StoredInput::Blob { key } => {
            let bytes = blobs
                .get(key)
                .await?
                .ok_or_else(|| Error::internal(format!("task input {key} is missing")))?;
            serde_json::from_slice(&bytes)
                .map_err(|err| Error::internal(format!("task input {key} is corrupt: {err}")))
        }
    }
}
