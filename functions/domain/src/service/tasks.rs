//! Creating, finding, listing, canceling tasks, and reading their results and logs.
//!
//! Every single-task operation goes through [`TaskService::owned_task`], the one place
//! that resolves a reference and checks ownership.

use crate::service::write::{retry_on_conflict, Tried};
use crate::ErrorCode;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use time::Duration;

use crate::chat::Completion;
use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::{AttachmentId, JobId, TaskId};
use crate::job::{message_for, raw_output_key, Job};
use crate::limits::{
    LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, MAX_ATTACHMENT_BYTES, MAX_INLINE_INPUT_BYTES,
};
use crate::plan::{JobRole, Plan};
use crate::ports::{BlobStore, Chunk, JobQueue, TaskStore, Write};
use crate::principal::Principal;
use crate::service::projects::ProjectService;
use crate::status::TaskStatus;
use crate::task::{
    check_idempotency_key, nth_name_candidate, Attachment, NewTask, StoredInput, Task, TaskInput,
    TaskRef,
};
use crate::transitions::cancel_task;
use crate::wire::{
    AttachmentUpload, CancelOutcome, CreateAttachmentRequest, CreateTaskRequest, LogStream,
    OutputDownload, OutputStream, TaskList, TaskLogs, TaskResult, TaskView,
};

/// How long a download URL of a task's output works.
pub const OUTPUT_URL_TTL_SECS: u64 = 15 * 60;

/// A chat completion's job may run this long on a node.
pub const COMPLETION_TIMEOUT_SECS: u64 = 300;

/// A completion task of the reader's, opened by [`TaskService::open_stream`] (which
/// checked ownership); only that function makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerStream {
    task: TaskId,
    job: JobId,
}

/// A streamed completion as a reader sees it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    /// The attempt whose chunks these are (0 before any node claimed the job).
    pub attempt: u32,
    /// The job has ended: after these chunks, nothing more will come.
    pub finished: bool,
    pub chunks: Vec<Chunk>,
}

/// How many suffixes (`name-2`, `name-3`, …) to try before giving up on a name.
const NAME_ATTEMPTS: u32 = 50;

#[derive(Debug, Clone)]
pub struct TaskSettings {
    /// Lease length put on job messages.
    pub lease_secs: u64,
    pub upload_url_ttl_secs: u64,
    /// Tasks one user may have queued or running at once (0: no limit); past it, a new
    /// task is 429 `too_many_unfinished_tasks`.
    pub max_unfinished_per_user: u32,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self {
            lease_secs: 60,
            upload_url_ttl_secs: 15 * 60,
            max_unfinished_per_user: 100,
        }
    }
}

/// When a user over the unfinished-task quota may try again.
const QUOTA_RETRY_AFTER_SECS: u64 = 10;

pub struct TaskService {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn JobQueue>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    settings: TaskSettings,
    /// Resolves the project a task names (tasks naming none need no projects).
    projects: Option<Arc<ProjectService>>,
}

fn input_key(task: &TaskId) -> String {
    format!("inputs/{task}.json")
}

/// Cursors are opaque to clients: `v1:<last task id>`, base64url.
fn encode_cursor(last: &TaskId) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{last}"))
}

fn decode_cursor(cursor: &str) -> Result<TaskId> {
    let bad = || {
        Error::validation(
            ErrorCode::InvalidCursor,
            "cursor is not one this gateway issued",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix("v1:")
        .and_then(TaskId::parse)
        .ok_or_else(bad)
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

fn check_attachment_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            ErrorCode::InvalidAttachmentName,
            "attachment name must be a plain file name (no '/', not '.' or '..', at most 255 bytes)",
        ))
    }
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
        }
    }

    /// Lets tasks belong to the caller's projects.
    pub fn with_projects(mut self, projects: Arc<ProjectService>) -> Self {
        self.projects = Some(projects);
        self
    }

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

    /// Opens a completion task of `principal`'s for reading its streamed answer: the one
    /// ownership check; the reads that follow name the task's job directly.
    pub async fn open_stream(&self, principal: &Principal, task: &TaskId) -> Result<AnswerStream> {
        let task = self.owned_task(principal, task.as_str()).await?;
        let job = self
            .tasks
            .jobs(&task.id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal(format!("completion task {} has no job", task.id)))?;
        Ok(AnswerStream {
            task: task.id,
            job: job.id,
        })
    }

    /// The chunks after `after` of the attempt the reader follows, and, when there are
    /// none, whether the job moved to another attempt or ended. One read while text
    /// flows; two (three at the very end) while it does not.
    pub async fn stream_state(
        &self,
        stream: &AnswerStream,
        attempt: u32,
        after: Option<u32>,
    ) -> Result<StreamState> {
        if attempt > 0 {
            let chunks = self
                .tasks
                .chunks(&stream.task, &stream.job, attempt, after)
                .await?;
            if !chunks.is_empty() {
                return Ok(StreamState {
                    attempt,
                    finished: false,
                    chunks,
                });
            }
        }
        let job = self
            .tasks
            .job(&stream.task, &stream.job)
            .await?
            .ok_or_else(|| Error::internal(format!("job {} vanished", stream.job)))?;
        let finished = job.status.is_terminal();
        let after = if job.attempt == attempt { after } else { None };
        // A finished job's chunks were all stored before its result: read once more.
        let chunks = if job.attempt > 0 && (finished || job.attempt != attempt) {
            self.tasks
                .chunks(&stream.task, &stream.job, job.attempt, after)
                .await?
        } else {
            vec![]
        };
        Ok(StreamState {
            attempt: job.attempt,
            finished,
            chunks,
        })
    }

    /// The task an earlier create with `task`'s idempotency key made, if any.
    async fn replayed(&self, task: &Task) -> Result<Option<TaskView>> {
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
    async fn check_unfinished_quota(&self, principal: &Principal) -> Result<()> {
        let max = self.settings.max_unfinished_per_user;
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

    async fn submit(&self, principal: &Principal, new: NewTask) -> Result<(TaskView, bool)> {
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
            status: TaskStatus::Queued,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        // Every task is one job. The message goes first: a message without a job is
        // harmless (the claim finds no job and the message ends in the dead-letter queue),
        // a job without a message would wait forever.
        let job = match (&project, new.plan) {
            (Some(project), true) => {
                let planner = Job::queued_as(JobId::generate(), &task, JobRole::Plan, now);
                let mut plan = Plan::new(project.auto_start);
                plan.planner_attempts = 1;
                plan.planner_job = Some(planner.id.clone());
                task.plan = Some(plan);
                planner
            }
            _ => Job::queued(JobId::generate(), &task, now),
        };
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

    async fn uploaded_attachment(
        &self,
        principal: &Principal,
        id: &AttachmentId,
    ) -> Result<Attachment> {
        let attachment = self
            .tasks
            .attachment(id)
            .await?
            .filter(|a| a.owner == principal.user_id)
            .ok_or_else(|| {
                Error::validation(
                    ErrorCode::UnknownAttachment,
                    format!("no attachment '{id}'"),
                )
            })?;
        match self.blobs.size(&attachment.blob_key).await? {
            Some(size) if size == attachment.size => Ok(attachment),
            Some(size) => Err(Error::validation(
                ErrorCode::AttachmentSizeMismatch,
                format!(
                    "attachment '{id}' was announced as {} bytes but {size} were uploaded",
                    attachment.size
                ),
            )),
            None => Err(Error::validation(
                ErrorCode::AttachmentNotUploaded,
                format!("attachment '{id}' has not been uploaded yet"),
            )),
        }
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

    pub async fn get(&self, principal: &Principal, reference: &str) -> Result<TaskView> {
        Ok(self.owned_task(principal, reference).await?.view())
    }

    pub async fn list(
        &self,
        principal: &Principal,
        status: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<TaskList> {
        let limit = parse_limit(limit)?;
        let status = status.map(str::parse::<TaskStatus>).transpose()?;
        let after = cursor.map(decode_cursor).transpose()?;
        let page = self
            .tasks
            .list_tasks(&principal.user_id, status, limit, after.as_ref())
            .await?;
        Ok(TaskList {
            tasks: page.tasks.iter().map(Task::view).collect(),
            next_cursor: page.last.as_ref().map(encode_cursor),
        })
    }

    async fn stream_text(&self, key: Option<&String>) -> Result<String> {
        let Some(key) = key else {
            return Ok(String::new());
        };
        let bytes = self.blobs.get(key).await?.ok_or_else(|| {
            Error::internal(format!(
                "stored output {key} is missing from the blob store"
            ))
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub(crate) async fn job_streams(&self, job: &Job) -> Result<(String, String)> {
        let output = job.output.as_ref();
        Ok((
            self.stream_text(output.and_then(|o| o.stdout_key.as_ref()))
                .await?,
            self.stream_text(output.and_then(|o| o.stderr_key.as_ref()))
                .await?,
        ))
    }

    pub async fn result(&self, principal: &Principal, reference: &str) -> Result<TaskResult> {
        let task = self.owned_task(principal, reference).await?;
        let mut jobs = Vec::new();
        for job in self.tasks.jobs(&task.id).await? {
            let (stdout, stderr) = self.job_streams(&job).await?;
            jobs.push(job.result_view(stdout, stderr));
        }
        let last_finished = jobs.iter().rev().find(|job| job.ended_at.is_some());
        Ok(TaskResult {
            task_id: task.id.clone(),
            status: task.status,
            exit_code: last_finished.and_then(|job| job.exit_code),
            stdout: last_finished.map(|job| job.stdout.clone()),
            stderr: last_finished.map(|job| job.stderr.clone()),
            usage: jobs
                .iter()
                .filter_map(|job| job.usage)
                .reduce(|total, usage| total + usage),
            jobs,
        })
    }

    /// Where to download the whole bytes of one stream of the task's last finished job:
    /// the raw upload when the node made one, else the stored preview (which then is
    /// the whole output).
    pub async fn output(
        &self,
        principal: &Principal,
        reference: &str,
        stream: &str,
    ) -> Result<OutputDownload> {
        let stream = OutputStream::parse(stream).ok_or_else(|| {
            Error::validation(
                ErrorCode::InvalidStream,
                format!("stream must be stdout or stderr, got '{stream}'"),
            )
        })?;
        let task = self.owned_task(principal, reference).await?;
        let jobs = self.tasks.jobs(&task.id).await?;
        let Some((job, output)) = jobs
            .iter()
            .rev()
            .find_map(|job| job.output.as_ref().map(|output| (job, output)))
        else {
            return Err(Error::conflict(
                ErrorCode::NoOutputYet,
                format!(
                    "task {} has no finished job yet (status {})",
                    task.id, task.status
                ),
            ));
        };
        let (key, size, complete) = match output.raw.get(stream) {
            Some(raw) => (
                Some(raw_output_key(&task.id, &job.id, output.attempt, stream)),
                raw.size,
                raw.size == raw.total,
            ),
            None => {
                let key = match stream {
                    OutputStream::Stdout => output.stdout_key.clone(),
                    OutputStream::Stderr => output.stderr_key.clone(),
                };
                let size = match &key {
                    Some(key) => self.blobs.size(key).await?.unwrap_or(0),
                    None => 0,
                };
                let cut = match stream {
                    OutputStream::Stdout => output.truncated.stdout,
                    OutputStream::Stderr => output.truncated.stderr,
                };
                (key, size, !cut)
            }
        };
        let url = match key {
            Some(key) => Some(self.blobs.download_url(&key, OUTPUT_URL_TTL_SECS).await?),
            None => None,
        };
        Ok(OutputDownload {
            task_id: task.id,
            stream,
            size,
            complete,
            url,
        })
    }

    pub async fn logs(
        &self,
        principal: &Principal,
        reference: &str,
        stream: Option<&str>,
    ) -> Result<TaskLogs> {
        let stream = match stream {
            None => LogStream::All,
            Some(text) => LogStream::parse(text).ok_or_else(|| {
                Error::validation(
                    ErrorCode::InvalidStream,
                    format!("stream must be stdout, stderr or all, got '{text}'"),
                )
            })?,
        };
        let task = self.owned_task(principal, reference).await?;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        for job in self.tasks.jobs(&task.id).await? {
            let (out, err) = self.job_streams(&job).await?;
            stdout.push_str(&out);
            stderr.push_str(&err);
        }
        Ok(TaskLogs {
            task_id: task.id,
            status: task.status,
            stdout: (stream != LogStream::Stderr).then_some(stdout),
            stderr: (stream != LogStream::Stdout).then_some(stderr),
        })
    }

    /// Cancels the task and its jobs: queued jobs end now, running ones are told to stop
    /// at their next heartbeat.
    pub async fn cancel(&self, principal: &Principal, reference: &str) -> Result<CancelOutcome> {
        retry_on_conflict("the task", move || async move {
            let task = self.owned_task(principal, reference).await?;
            let jobs = self.tasks.jobs(&task.id).await?;
            let Some((canceled, changed)) = cancel_task(&task, &jobs, self.clock.now())? else {
                return Ok(Tried::Done(CancelOutcome {
                    task_id: task.id,
                    canceled: true,
                    status: task.status,
                }));
            };
            let writes: Vec<Write> = std::iter::once(Write::Task(&canceled))
                .chain(changed.iter().map(Write::Job))
                .collect();
            let outcome = CancelOutcome {
                task_id: canceled.id.clone(),
                canceled: true,
                status: canceled.status,
            };
            Tried::written(self.tasks.commit(&writes).await, outcome)
        })
        .await
    }

    /// Registers an attachment and returns where to upload it.
    pub async fn create_attachment(
        &self,
        principal: &Principal,
        req: CreateAttachmentRequest,
    ) -> Result<AttachmentUpload> {
        check_attachment_name(&req.name)?;
        if req.size > MAX_ATTACHMENT_BYTES {
            return Err(Error::validation(
                ErrorCode::AttachmentTooLarge,
                format!(
                    "attachments are at most {MAX_ATTACHMENT_BYTES} bytes, got {}",
                    req.size
                ),
            ));
        }
        let now = self.clock.now();
        let id = AttachmentId::generate();
        let attachment = Attachment {
            blob_key: format!("attachments/{}/{id}", principal.user_id),
            id,
            owner: principal.user_id.clone(),
            name: req.name,
            size: req.size,
            created_at: now,
        };
        self.tasks.insert_attachment(&attachment).await?;
        let ttl = self.settings.upload_url_ttl_secs;
        let upload_url = self
            .blobs
            .upload_url(&attachment.blob_key, attachment.size, ttl)
            .await?;
        Ok(AttachmentUpload {
            attachment_id: attachment.id,
            upload_url,
            expires_at: now + Duration::seconds(ttl as i64),
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::limits::MAX_PROMPT_BYTES;
    use crate::memory::MemoryStore;
    use time::macros::datetime;

    fn service() -> (TaskService, Arc<MemoryStore>) {
        service_with(TaskSettings::default())
    }

    fn service_with(settings: TaskSettings) -> (TaskService, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        let service =
            TaskService::new(store.clone(), store.clone(), store.clone(), clock, settings);
        (service, store)
    }

    fn user(handle: &str) -> Principal {
        Principal::test_user(handle)
    }

    fn commands(cmds: &[&str]) -> CreateTaskRequest {
        CreateTaskRequest {
            commands: Some(cmds.iter().map(|c| c.to_string()).collect()),
            ..CreateTaskRequest::default()
        }
    }

    #[tokio::test]
    async fn a_user_has_only_so_many_unfinished_tasks() {
        let (service, store) = service_with(TaskSettings {
            max_unfinished_per_user: 2,
            ..TaskSettings::default()
        });
        let (alice, bob) = (user("alice"), user("bob"));
        let first = service.create(&alice, commands(&["true"])).await.unwrap();
        service.create(&alice, commands(&["true"])).await.unwrap();
        let refused = service
            .create(&alice, commands(&["true"]))
            .await
            .unwrap_err();
        assert_eq!(refused.code, "too_many_unfinished_tasks");
        assert_eq!(refused.retry_after_secs, Some(QUOTA_RETRY_AFTER_SECS));
        assert_eq!(store.enqueued().len(), 2, "nothing was queued for it");
        service.create(&bob, commands(&["true"])).await.unwrap();
        // A finished task frees a place.
        service
            .cancel(&alice, first.task_id.as_str())
            .await
            .unwrap();
        service.create(&alice, commands(&["true"])).await.unwrap();
    }

    #[tokio::test]
    async fn a_commands_task_is_stored_queued_with_one_enqueued_job() {
        let (service, store) = service();
        let alice = user("alice");
        let view = service
            .create(&alice, commands(&["echo hello"]))
            .await
            .unwrap();
        assert_eq!(view.status, TaskStatus::Queued);
        assert_eq!(view.prompt, "echo hello");
        let messages = store.enqueued();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].task_id, view.task_id);
        let jobs = store.jobs(&view.task_id).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].id, messages[0].job_id);
    }

    #[tokio::test]
    async fn model_work_goes_on_the_inference_queue_and_shell_work_does_not() {
        let (service, store) = service();
        let prompt = CreateTaskRequest {
            prompt: Some("rm -rf /".into()),
            ..CreateTaskRequest::default()
        };
        let view = service.create(&user("alice"), prompt).await.unwrap();
        assert_eq!(view.status, TaskStatus::Queued);
        let with_model = CreateTaskRequest {
            model: Some("smollm2:135m".into()),
            ..commands(&["curl $OLLAMA_BASE_URL"])
        };
        let modelled = service.create(&user("alice"), with_model).await.unwrap();
        assert_eq!(modelled.model.as_deref(), Some("smollm2:135m"));
        service
            .create(&user("alice"), commands(&["true"]))
            .await
            .unwrap();
        let inference: Vec<bool> = store.enqueued().iter().map(|m| m.inference).collect();
        assert_eq!(inference, vec![true, true, false]);
        assert_eq!(store.jobs(&view.task_id).await.unwrap().len(), 1);

        let bad = CreateTaskRequest {
            model: Some("two words".into()),
            ..commands(&["true"])
        };
        let err = service.create(&user("alice"), bad).await.unwrap_err();
        assert_eq!(err.code, "invalid_model");
    }

    #[tokio::test]
    async fn names_are_made_unique_per_user() {
        let (service, _) = service();
        let (alice, bob) = (user("alice"), user("bob"));
        let named = |name: &str| CreateTaskRequest {
            task_name: Some(name.into()),
            ..commands(&["true"])
        };
        let first = service.create(&alice, named("Build")).await.unwrap();
        let second = service.create(&alice, named("build")).await.unwrap();
        let bobs = service.create(&bob, named("build")).await.unwrap();
        assert_eq!(first.task_name.as_deref(), Some("build"));
        assert_eq!(second.task_name.as_deref(), Some("build-2"));
        assert_eq!(bobs.task_name.as_deref(), Some("build"));
        // A name resolves to the owner's task only.
        assert_eq!(
            service.get(&alice, "build").await.unwrap().task_id,
            first.task_id
        );
        assert_eq!(
            service.get(&bob, "build").await.unwrap().task_id,
            bobs.task_id
        );
    }

    #[tokio::test]
    async fn other_users_tasks_are_not_found_by_id_or_name() {
        let (service, _) = service();
        let (alice, mallory) = (user("alice"), user("mallory"));
        let task = service
            .create(
                &alice,
                CreateTaskRequest {
                    task_name: Some("secret".into()),
                    ..commands(&["true"])
                },
            )
            .await
            .unwrap();
        let id = task.task_id.as_str();
        for reference in [id, "secret"] {
            assert_eq!(
                service.get(&mallory, reference).await.unwrap_err().code,
                "task_not_found"
            );
            assert_eq!(
                service.cancel(&mallory, reference).await.unwrap_err().code,
                "task_not_found"
            );
            assert_eq!(
                service.result(&mallory, reference).await.unwrap_err().code,
                "task_not_found"
            );
            assert_eq!(
                service
                    .logs(&mallory, reference, None)
                    .await
                    .unwrap_err()
                    .code,
                "task_not_found"
            );
        }
        assert_eq!(
            service.get(&alice, id).await.unwrap().status,
            TaskStatus::Queued
        );
    }

    #[tokio::test]
    async fn listing_pages_through_every_task_newest_first() {
        let (service, _) = service();
        let alice = user("alice");
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(
                service
                    .create(&alice, commands(&[&format!("echo {i}")]))
                    .await
                    .unwrap()
                    .task_id,
            );
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = service
                .list(&alice, None, Some("3"), cursor.as_deref())
                .await
                .unwrap();
            assert!(page.tasks.len() <= 3);
            seen.extend(page.tasks.into_iter().map(|t| t.task_id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        created.reverse();
        assert_eq!(seen, created);
    }

    #[tokio::test]
    async fn bad_list_parameters_are_validation_errors() {
        let (service, _) = service();
        let alice = user("alice");
        for (limit, cursor, status, code) in [
            (Some("0"), None, None, "invalid_limit"),
            (Some("201"), None, None, "invalid_limit"),
            (Some("ten"), None, None, "invalid_limit"),
            (None, Some("not-a-cursor"), None, "invalid_cursor"),
            (None, Some("djE6Z2FyYmFnZQ"), None, "invalid_cursor"),
            (None, None, Some("pending"), "invalid_status"),
        ] {
            let err = service
                .list(&alice, status, limit, cursor)
                .await
                .unwrap_err();
            assert_eq!(err.code, code);
        }
        assert!(service.list(&alice, None, Some("200"), None).await.is_ok());
    }

    #[tokio::test]
    async fn cancel_ends_the_task_and_its_queued_job() {
        let (service, store) = service();
        let alice = user("alice");
        let task = service
            .create(&alice, commands(&["sleep 300"]))
            .await
            .unwrap();
        let outcome = service.cancel(&alice, task.task_id.as_str()).await.unwrap();
        assert_eq!(outcome.status, TaskStatus::Canceled);
        let jobs = store.jobs(&task.task_id).await.unwrap();
        assert_eq!(jobs[0].status, crate::status::JobStatus::Canceled);
        // Again: still fine, nothing changes.
        assert!(
            service
                .cancel(&alice, task.task_id.as_str())
                .await
                .unwrap()
                .canceled
        );
    }

    #[tokio::test]
    async fn large_inputs_are_kept_in_the_blob_store() {
        let (service, _) = service();
        let alice = user("alice");
        let prompt = "é".repeat(MAX_PROMPT_BYTES / 2);
        let view = service
            .create(
                &alice,
                CreateTaskRequest {
                    prompt: Some(prompt.clone()),
                    ..CreateTaskRequest::default()
                },
            )
            .await
            .unwrap();
        let task = service
            .owned_task(&alice, view.task_id.as_str())
            .await
            .unwrap();
        assert!(matches!(task.input, StoredInput::Blob { .. }));
        assert!(view.prompt.len() <= crate::limits::PROMPT_PREVIEW_BYTES);
        assert_eq!(
            service.input_of(&task).await.unwrap(),
            TaskInput::Prompt { prompt }
        );
    }

    #[tokio::test]
    async fn attachments_must_be_the_callers_and_uploaded() {
        let (service, store) = service();
        let (alice, bob) = (user("alice"), user("bob"));
        let upload = service
            .create_attachment(
                &alice,
                CreateAttachmentRequest {
                    name: "data.csv".into(),
                    size: 3,
                },
            )
            .await
            .unwrap();
        let with = |_: &Principal| CreateTaskRequest {
            attachments: vec![upload.attachment_id.clone()],
            ..commands(&["true"])
        };
        assert_eq!(
            service.create(&alice, with(&alice)).await.unwrap_err().code,
            "attachment_not_uploaded"
        );
        store
            .put(
                &format!("attachments/{}/{}", alice.user_id, upload.attachment_id),
                b"a,b".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(
            service.create(&bob, with(&bob)).await.unwrap_err().code,
            "unknown_attachment"
        );
        let task = service.create(&alice, with(&alice)).await.unwrap();
        assert_eq!(task.attachments[0].name, "data.csv");

        let bad = CreateAttachmentRequest {
            name: "../etc/passwd".into(),
            size: 1,
        };
        assert_eq!(
            service
                .create_attachment(&alice, bad)
                .await
                .unwrap_err()
                .code,
            "invalid_attachment_name"
        );
        let big = CreateAttachmentRequest {
            name: "big".into(),
            size: MAX_ATTACHMENT_BYTES + 1,
        };
        assert_eq!(
            service
                .create_attachment(&alice, big)
                .await
                .unwrap_err()
                .code,
            "attachment_too_large"
        );
    }
    #[tokio::test]
    async fn a_task_may_belong_to_its_owners_project_only() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        let projects = Arc::new(ProjectService::new(store.clone(), clock.clone()));
        let service = TaskService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            clock,
            TaskSettings::default(),
        )
        .with_projects(projects.clone());
        let (alice, bob) = (user("alice"), user("bob"));
        let project = projects
            .create(
                &alice,
                crate::wire::CreateProjectRequest {
                    name: "widgets".into(),
                    repo_url: "https://github.com/acme/widgets.git".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let in_project = || CreateTaskRequest {
            project: Some("widgets".into()),
            ..commands(&["true"])
        };
        let task = service.create(&alice, in_project()).await.unwrap();
        assert_eq!(task.project_id, Some(project.project_id));
        assert_eq!(
            service.create(&bob, in_project()).await.unwrap_err().code,
            "project_not_found"
        );
    }

    #[tokio::test]
    async fn an_idempotency_key_creates_one_task_however_often_it_is_sent() {
        let (tasks, store) = service();
        let alice = user("alice");
        let req = || CreateTaskRequest {
            commands: Some(vec!["echo once".into()]),
            task_name: Some("nightly".into()),
            ..Default::default()
        };
        let (first, replayed) = tasks.create_once(&alice, req(), Some("k-1")).await.unwrap();
        assert!(!replayed);
        let sent = store.enqueued().len();
        let (again, replayed) = tasks.create_once(&alice, req(), Some("k-1")).await.unwrap();
        assert!(replayed);
        assert_eq!(again.task_id, first.task_id);
        assert_eq!(store.enqueued().len(), sent, "a replay sends no job");
        // Another key is another task (its name numbered), and keys are per user.
        let (other, _) = tasks.create_once(&alice, req(), Some("k-2")).await.unwrap();
        assert_ne!(other.task_id, first.task_id);
        let (bobs, replayed) = tasks
            .create_once(&user("bob"), req(), Some("k-1"))
            .await
            .unwrap();
        assert!(!replayed && bobs.task_id != first.task_id);
        let err = tasks
            .create_once(&alice, req(), Some(""))
            .await
            .unwrap_err();
        assert_eq!(err.code, "invalid_idempotency_key");
    }
}
