//! The edge node's side of a job: claim it (started), keep it (heartbeat), finish it
//! (result). The rules are in [`crate::job`]; this service reads, applies them, and
//! writes back conditionally, retrying when another writer got there first.

use crate::ErrorCode;
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::{JobId, NodeId, TaskId};
use crate::job::{output_keys, progress_line, raw_output_key, Claim, Finish, Job, StoredStreams};
use crate::limits::{json_len, MAX_RAW_OUTPUT_BYTES, MAX_STREAM_BYTES};
use crate::node::Node;
use crate::plan::PlanPolicy;
use crate::ports::{
    BlobStore, Chunk, JobQueue, PreferenceStore, ProjectStore, SkillStore, TaskStore, Write,
};
use crate::service::audit::Auditor;
use crate::service::credentials::CredentialService;
use crate::service::settings::SettingsService;
use crate::service::write::{apply_job_change, Writer};
use crate::service::write::{retry_on_conflict, Tried};
use crate::signing::NodeKeys;
use crate::task::Task;
use crate::transitions::task_after_job;
use crate::usage::{entry_for, UsageEntry};
use crate::wire::{
    ClaimDecision, HeartbeatAnswer, HeartbeatRequest, JobChunkRequest, JobReleaseRequest,
    JobResultReport, JobStartedRequest, NodeState, OutputStream, OutputUploadRequest,
    OutputUploadUrl, RawOutput, ResultAck,
};

#[derive(Debug, Clone)]
pub struct JobSettings {
    pub lease_secs: u64,
    pub download_url_ttl_secs: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            lease_secs: 60,
            download_url_ttl_secs: 3600,
        }
    }
}

mod claim;
mod hosted;
mod logs;

pub struct JobService {
    tasks: Arc<dyn TaskStore>,
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    keys: NodeKeys,
    settings: JobSettings,
    planning: Option<Planning>,
    /// Where the owners' preferences are read at claim (none: the task's own values and
    /// the node's defaults only).
    preferences: Option<Arc<dyn PreferenceStore>>,
    /// Where the owners' skills are read at claim (none: jobs carry no skills).
    skills: Option<Arc<dyn SkillStore>>,
    /// The attempt limits in force (none: the deployment's planning policy).
    live: Option<Arc<SettingsService>>,
    /// Where jobs' live logs are kept (none: chunks are refused).
    logs: Option<Arc<dyn crate::ports::LogStore>>,
    audit: Auditor,
}

/// The node claiming a job, and what decides which jobs it may take.
pub(super) struct Claimant<'a> {
    pub node: &'a NodeId,
    pub labels: &'a [String],
    /// It runs jobs whose model is hosted.
    pub hosted_models: bool,
}

/// What jobs of planned work need: the queue for the jobs their results create, the
/// projects for the repository they work on, and the attempt limits.
struct Planning {
    queue: Arc<dyn JobQueue>,
    projects: Arc<dyn ProjectStore>,
    /// Opens the stored credentials projects name (none: such a project's jobs wait).
    credentials: Option<Arc<CredentialService>>,
    policy: PlanPolicy,
}

/// How long a node that may not take jobs waits before receiving again.
const NOT_NOW_SECS: u64 = 30;
/// Seconds a node leaves a job that is not for it (a label it lacks) to other nodes.
const ELSEWHERE_SECS: u64 = 10;

/// Largest chunk of streamed text a node may send at once.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

impl JobService {
    pub fn new(
        tasks: Arc<dyn TaskStore>,
        blobs: Arc<dyn BlobStore>,
        clock: Arc<dyn Clock>,
        keys: NodeKeys,
        settings: JobSettings,
    ) -> Self {
        Self {
            tasks,
            blobs,
            clock,
            keys,
            settings,
            planning: None,
            preferences: None,
            skills: None,
            live: None,
            logs: None,
            audit: Auditor::default(),
        }
    }

    /// Keeps the live logs nodes ship while jobs run.
    pub fn with_logs(mut self, logs: Arc<dyn crate::ports::LogStore>) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Applies the planner and worker attempt limits of the system settings in force.
    pub fn with_settings(mut self, live: Arc<SettingsService>) -> Self {
        self.live = Some(live);
        self
    }

    /// Gives each claimed agent job the owner's skills that apply to it.
    pub fn with_skills(mut self, skills: Arc<dyn SkillStore>) -> Self {
        self.skills = Some(skills);
        self
    }

    /// Records every project credential handed to a node.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// Builds each claimed job with its owner's effective preferences.
    pub fn with_preferences(mut self, preferences: Arc<dyn PreferenceStore>) -> Self {
        self.preferences = Some(preferences);
        self
    }

    /// Enables planned work (without it, a planned task's job cannot be claimed).
    pub fn with_planning(
        mut self,
        queue: Arc<dyn JobQueue>,
        projects: Arc<dyn ProjectStore>,
        policy: PlanPolicy,
    ) -> Self {
        self.planning = Some(Planning {
            queue,
            projects,
            credentials: None,
            policy,
        });
        self
    }

    /// Hands planned jobs the stored credentials their projects name (after
    /// [`JobService::with_planning`]).
    pub fn with_credentials(mut self, credentials: Arc<CredentialService>) -> Self {
        if let Some(planning) = self.planning.as_mut() {
            planning.credentials = Some(credentials);
        }
        self
    }

    async fn load(&self, task_id: &TaskId, job_id: &JobId) -> Result<(Task, Job)> {
        // Both at once: every callback of a node starts here.
        let (job, task) = tokio::join!(self.tasks.job(task_id, job_id), self.tasks.task(task_id));
        let job = job?.ok_or_else(|| {
            Error::not_found(
                ErrorCode::JobNotFound,
                format!("no job {job_id} in task {task_id}"),
            )
        })?;
        let task = task?.ok_or_else(|| {
            Error::internal(format!("job {job_id} belongs to missing task {task_id}"))
        })?;
        Ok((task, job))
    }

    /// Writes a changed job, and its task if the job's change moves the task (for
    /// planned work, with the jobs it creates; `planner_output` is a planner's stdout).
    async fn save(
        &self,
        task: &Task,
        job: &Job,
        planner_output: Option<&str>,
        usage: Option<&UsageEntry>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        match &self.planning {
            Some(planning) => {
                let policy = match &self.live {
                    Some(live) => live
                        .current()
                        .await
                        .map_err(|err| StoreError::Unavailable(err.message))?
                        .plan_policy(&planning.policy),
                    None => planning.policy.clone(),
                };
                apply_job_change(
                    Writer {
                        tasks: self.tasks.as_ref(),
                        queue: planning.queue.as_ref(),
                        lease_secs: self.settings.lease_secs,
                    },
                    task,
                    job,
                    planner_output,
                    &policy,
                    usage,
                    now,
                )
                .await
            }
            None => {
                let task_update = task_after_job(task, job, now);
                let mut writes = vec![Write::Job(job)];
                if let Some(task) = task_update.as_ref() {
                    writes.push(Write::Task(task));
                }
                writes.extend(usage.map(Write::Usage));
                self.tasks.commit(&writes).await
            }
        }
    }

    /// A node's claim, unless an operator disabled or is draining it: then the node is
    /// told to leave the message to others and wait.
    pub async fn started_on(
        &self,
        node: &Node,
        job_id: &JobId,
        req: JobStartedRequest,
    ) -> Result<ClaimDecision> {
        if !node.takes_jobs() {
            return Ok(ClaimDecision::NotNow {
                reason: format!("node {} is {}", node.name, node.state.as_str()),
                retry_after_secs: NOT_NOW_SECS,
            });
        }
        let claimant = Claimant {
            node: &node.id,
            labels: &node.labels,
            hosted_models: node.capabilities.hosted_models,
        };
        self.claim(claimant, job_id, req).await
    }

    /// A heartbeat from `node`; a draining node is told to hand the job back.
    pub async fn heartbeat_on(
        &self,
        node: &Node,
        job_id: &JobId,
        req: HeartbeatRequest,
    ) -> Result<HeartbeatAnswer> {
        let mut answer = self.heartbeat(&node.id, job_id, req).await?;
        answer.release = node.state == NodeState::Draining && !answer.canceled;
        Ok(answer)
    }

    /// A claim by a node without labels that runs jobs of every kind.
    pub async fn started(
        &self,
        node: &NodeId,
        job_id: &JobId,
        req: JobStartedRequest,
    ) -> Result<ClaimDecision> {
        let claimant = Claimant {
            node,
            labels: &[],
            hosted_models: true,
        };
        self.claim(claimant, job_id, req).await
    }

    /// A claim by `claimant`.
    async fn claim(
        &self,
        claimant: Claimant<'_>,
        job_id: &JobId,
        req: JobStartedRequest,
    ) -> Result<ClaimDecision> {
        let (req, claimant) = (&req, &claimant);
        let node = claimant.node;
        retry_on_conflict("the job", move || async move {
            let (task, job) = self.load(&req.task_id, job_id).await?;
            let now = self.clock.now();
            let (write, decision) =
                match job.claim(node, &req.boot_id, now, self.settings.lease_secs) {
                    Claim::Retry { after_secs } => {
                        return Ok(Tried::Done(ClaimDecision::Retry {
                            retry_after_secs: after_secs,
                        }))
                    }
                    Claim::Discard { status, update } => {
                        (update, ClaimDecision::Discard { status })
                    }
                    Claim::Run(claimed) => match self.claim_for(claimant, &task, &claimed).await? {
                        Ok(claim) => (Some(claimed), ClaimDecision::Run(Box::new(claim))),
                        Err(reason) => {
                            return Ok(Tried::Done(ClaimDecision::Elsewhere {
                                reason,
                                retry_after_secs: ELSEWHERE_SECS,
                            }))
                        }
                    },
                };
            let Some(write) = write else {
                return Ok(Tried::Done(decision));
            };
            Tried::written(self.save(&task, &write, None, None).await, decision)
        })
        .await
    }

    pub async fn heartbeat(
        &self,
        node: &NodeId,
        job_id: &JobId,
        req: HeartbeatRequest,
    ) -> Result<HeartbeatAnswer> {
        let req = &req;
        retry_on_conflict("the job", move || async move {
            let (task, job) = self.load(&req.task_id, job_id).await?;
            let now = self.clock.now();
            let (update, canceled) = job.heartbeat(
                node,
                req.attempt,
                &req.lease_id,
                now,
                self.settings.lease_secs,
            )?;
            let Some(mut update) = update else {
                return Ok(Tried::Done(HeartbeatAnswer {
                    canceled,
                    release: false,
                    lease_expires_at: now,
                }));
            };
            if let Some(progress) = &req.progress {
                update.progress = Some(progress_line(progress));
            }
            let lease_expires_at = update.lease.as_ref().map_or(now, |lease| lease.expires_at);
            let answer = HeartbeatAnswer {
                canceled,
                release: false,
                lease_expires_at,
            };
            Tried::written(self.save(&task, &update, None, None).await, answer)
        })
        .await
    }

    pub async fn result(
        &self,
        node: &NodeId,
        job_id: &JobId,
        report: JobResultReport,
    ) -> Result<ResultAck> {
        for (name, stream) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
            let size = json_len(stream);
            if size > MAX_STREAM_BYTES {
                return Err(Error::validation(
                    ErrorCode::OutputTooLarge,
                    format!(
                        "{name} takes {size} bytes as JSON; nodes must cut previews at {MAX_STREAM_BYTES}"
                    ),
                ));
            }
        }
        let report = &report;
        retry_on_conflict("the job", move || async move {
            let (task, job) = self.load(&report.task_id, job_id).await?;
            let now = self.clock.now();
            // Check before writing output, so a stale attempt never writes anything.
            if job.finish(node, report, StoredStreams::default(), now)? == Finish::Duplicate {
                return Ok(Tried::Done(ResultAck {
                    stored: true,
                    duplicate: true,
                }));
            }
            let (stdout_key, stderr_key) = output_keys(&task.id, &job.id, report.attempt);
            let stored = StoredStreams {
                stdout_key: self.put_stream(stdout_key, &report.stdout).await?,
                stderr_key: self.put_stream(stderr_key, &report.stderr).await?,
                raw: self.uploaded_raw(&task, &job, report).await?,
            };
            let Finish::Store(done) = job.finish(node, report, stored, now)? else {
                return Ok(Tried::Done(ResultAck {
                    stored: true,
                    duplicate: true,
                }));
            };
            let ack = ResultAck {
                stored: true,
                duplicate: false,
            };
            // The tokens count once: with the write that finishes the job.
            let usage = entry_for(&task, &done, now);
            let saved = self
                .save(&task, &done, Some(&report.stdout), usage.as_ref())
                .await;
            Tried::written(saved, ack)
        })
        .await
    }

    /// The claim's node hands the job back unfinished: it is queued again (the node
    /// makes its message visible at once, so another node takes it).
    pub async fn release(
        &self,
        node: &NodeId,
        job_id: &JobId,
        req: JobReleaseRequest,
    ) -> Result<()> {
        let reason: String = req.reason.chars().take(200).collect();
        let req = &req;
        let reason = &reason;
        retry_on_conflict("the job", move || async move {
            let (task, job) = self.load(&req.task_id, job_id).await?;
            let Some(released) =
                job.release(node, req.attempt, &req.lease_id, reason, self.clock.now())?
            else {
                return Ok(Tried::Done(()));
            };
            Tried::written(self.save(&task, &released, None, None).await, ())
        })
        .await
    }

    /// Stores a chunk of a chat job's answer, from the current claim only.
    /// The job a chunk names. Read apart from [`JobService::chunk`] so that the gateway
    /// can read it while it checks the callback's signature: chunks are on the hot path
    /// of every streamed answer.
    pub async fn chunk_job(&self, task: &TaskId, job_id: &JobId) -> Result<Job> {
        self.tasks
            .job(task, job_id)
            .await?
            .ok_or_else(|| Error::not_found(ErrorCode::JobNotFound, format!("no job {job_id}")))
    }

    /// Stores a chunk of `job`'s answer (read by [`JobService::chunk_job`]) from the
    /// node that holds its claim.
    pub async fn chunk(&self, node: &NodeId, job: &Job, req: JobChunkRequest) -> Result<()> {
        if req.text.len() > MAX_CHUNK_BYTES {
            return Err(Error::validation(
                ErrorCode::OutputTooLarge,
                format!("a chunk is at most {MAX_CHUNK_BYTES} bytes"),
            ));
        }
        // Clients read it as the answer's finish_reason: only what a text answer ends with.
        if let Some(end) = &req.end {
            if !matches!(end.finish_reason.as_str(), "stop" | "length") {
                return Err(Error::validation(
                    ErrorCode::InvalidBody,
                    "end.finish_reason must be \"stop\" or \"length\"",
                ));
            }
        }
        if job.task_id != req.task_id {
            return Err(Error::not_found(
                ErrorCode::JobNotFound,
                format!("no job {} in task {}", job.id, req.task_id),
            ));
        }
        job.check_claim(node, req.attempt, &req.lease_id)?;
        self.tasks
            .put_chunk(&Chunk {
                task: req.task_id,
                job: job.id.clone(),
                attempt: req.attempt,
                seq: req.seq,
                text: req.text,
                end: req.end,
            })
            .await?;
        Ok(())
    }

    /// The raw uploads the report announces that are really there, with their size.
    /// A missing upload is not an error: the preview stands, marked truncated.
    async fn uploaded_raw(
        &self,
        task: &Task,
        job: &Job,
        report: &JobResultReport,
    ) -> Result<RawOutput> {
        let mut found = RawOutput::default();
        for stream in OutputStream::ALL {
            let Some(announced) = report.raw.get(stream) else {
                continue;
            };
            let key = raw_output_key(&task.id, &job.id, report.attempt, stream);
            if self.blobs.size(&key).await? == Some(announced.size) {
                found.set(stream, Some(announced));
            }
        }
        Ok(found)
    }

    /// A URL for the current claim to upload one stream's raw bytes (exactly `size`).
    pub async fn output_upload_url(
        &self,
        node: &NodeId,
        job_id: &JobId,
        req: OutputUploadRequest,
    ) -> Result<OutputUploadUrl> {
        if req.size == 0 || req.size > MAX_RAW_OUTPUT_BYTES {
            return Err(Error::validation(
                ErrorCode::InvalidSize,
                format!(
                    "raw output is 1 to {MAX_RAW_OUTPUT_BYTES} bytes, not {}",
                    req.size
                ),
            ));
        }
        let job =
            self.tasks.job(&req.task_id, job_id).await?.ok_or_else(|| {
                Error::not_found(ErrorCode::JobNotFound, format!("no job {job_id}"))
            })?;
        job.check_claim(node, req.attempt, &req.lease_id)?;
        let key = raw_output_key(&req.task_id, job_id, req.attempt, req.stream);
        let url = self
            .blobs
            .upload_url(&key, req.size, self.settings.download_url_ttl_secs)
            .await?;
        Ok(OutputUploadUrl { url })
    }

    async fn put_stream(&self, key: String, text: &str) -> Result<Option<String>> {
        if text.is_empty() {
            return Ok(None);
        }
        self.blobs.put(&key, text.as_bytes().to_vec()).await?;
        Ok(Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::ids::UserId;
    use crate::memory::MemoryStore;
    use crate::principal::Principal;
    use crate::service::tasks::{TaskService, TaskSettings};
    use crate::status::{JobOutcome, JobStatus, TaskStatus};
    use crate::wire::JobClaim;
    use crate::wire::{AnswerEnd, CreateTaskRequest, InferenceUsage, InputMode, Truncated};
    use time::macros::datetime;

    struct Fixture {
        tasks: TaskService,
        jobs: JobService,
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
        alice: Principal,
    }

    /// The job a chunk callback names, as the gateway reads it beside the signature.
    async fn chunk_job(f: &Fixture, task: &TaskId, job: &JobId) -> Job {
        f.jobs.chunk_job(task, job).await.unwrap()
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        Fixture {
            tasks: TaskService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                clock.clone(),
                TaskSettings::default(),
            ),
            jobs: JobService::new(
                store.clone(),
                store.clone(),
                clock.clone(),
                NodeKeys::new(b"master".to_vec()),
                JobSettings::default(),
            )
            .with_preferences(store.clone())
            .with_skills(store.clone()),
            store,
            clock,
            alice: Principal::test_user("alice"),
        }
    }

    async fn queued_job(f: &Fixture) -> (TaskId, JobId) {
        let req = CreateTaskRequest {
            commands: Some(vec!["echo hi".into()]),
            ..Default::default()
        };
        let task = f.tasks.create(&f.alice, req).await.unwrap();
        let job = f.store.enqueued().last().unwrap().job_id.clone();
        (task.task_id, job)
    }

    fn started(task: &TaskId, boot: &str) -> JobStartedRequest {
        JobStartedRequest {
            task_id: task.clone(),
            boot_id: boot.into(),
            receive_count: 1,
        }
    }

    fn result_of(task: &TaskId, claim: &JobClaim, stdout: &str) -> JobResultReport {
        JobResultReport {
            task_id: task.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            status: JobOutcome::Completed,
            exit_code: Some(0),
            failed_command: None,
            error: None,
            stdout: stdout.into(),
            stderr: String::new(),
            truncated: Truncated::default(),
            raw: RawOutput::default(),
            started_at: datetime!(2026-11-21 10:00 UTC),
            ended_at: datetime!(2026-11-21 10:00:01 UTC),
            usage: None,
            work: None,
            answer: None,
            progress: None,
        }
    }

    fn run(decision: ClaimDecision) -> JobClaim {
        match decision {
            ClaimDecision::Run(claim) => *claim,
            other => panic!("expected to run, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn claim_run_and_report_once_even_when_reported_twice() {
        let f = fixture();
        let node = NodeId::generate();
        let (task, job) = queued_job(&f).await;
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b1"))
            .await
            .unwrap());
        assert_eq!(claim.spec.commands, vec!["echo hi".to_string()]);
        assert_eq!(
            f.tasks.get(&f.alice, task.as_str()).await.unwrap().status,
            TaskStatus::Running
        );

        let report = result_of(&task, &claim, "hi\n");
        let first = f.jobs.result(&node, &job, report.clone()).await.unwrap();
        let second = f.jobs.result(&node, &job, report).await.unwrap();
        assert_eq!((first.duplicate, second.duplicate), (false, true));

        let result = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        assert_eq!(result.status, TaskStatus::Completed);
        assert_eq!(result.stdout.as_deref(), Some("hi\n"));
        assert_eq!(result.jobs.len(), 1);
        // A redelivered message for the finished job is discarded.
        let again = f
            .jobs
            .started(&node, &job, started(&task, "b2"))
            .await
            .unwrap();
        assert_eq!(
            again,
            ClaimDecision::Discard {
                status: JobStatus::Completed
            }
        );
    }

    #[tokio::test]
    async fn a_results_tokens_count_once_in_its_owners_usage_by_day_and_model() {
        use crate::service::UsageService;
        use crate::wire::InferenceUsage;
        let f = fixture();
        let node = NodeId::generate();
        let usage_of = |report: &mut JobResultReport, prompt: u64| {
            report.usage = Some(InferenceUsage {
                calls: 2,
                prompt_tokens: prompt,
                completion_tokens: 7,
                refused_calls: 0,
            })
        };
        let mut reports = Vec::new();
        for (model, prompt) in [
            (Some("smollm2:135m"), 10),
            (None, 20),
            (Some("smollm2:135m"), 30),
        ] {
            let req = CreateTaskRequest {
                prompt: Some("hi".into()),
                model: model.map(str::to_owned),
                ..Default::default()
            };
            let task = f.tasks.create(&f.alice, req).await.unwrap().task_id;
            let job = f.store.enqueued().last().unwrap().job_id.clone();
            let claim = run(f
                .jobs
                .started(&node, &job, started(&task, "b1"))
                .await
                .unwrap());
            let mut report = result_of(&task, &claim, "hello");
            usage_of(&mut report, prompt);
            f.jobs.result(&node, &job, report.clone()).await.unwrap();
            reports.push((job, report));
        }
        // A retried callback is a duplicate and adds nothing.
        let (job, report) = &reports[0];
        assert!(
            f.jobs
                .result(&node, job, report.clone())
                .await
                .unwrap()
                .duplicate
        );

        let usage = UsageService::new(f.store.clone(), f.store.clone(), f.clock.clone());
        let report = usage.report(&f.alice, Some(1), None).await.unwrap();
        let rows: Vec<(&str, &str, u64, u64, u64)> = report
            .rows
            .iter()
            .map(|r| {
                (
                    r.day.as_str(),
                    r.model.as_str(),
                    r.calls,
                    r.prompt_tokens,
                    r.completion_tokens,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("2026-11-21", "cynodeai.pm", 2, 20, 7),
                ("2026-11-21", "smollm2:135m", 4, 40, 14),
            ]
        );
        let bob = Principal::test_user("bob");
        assert!(usage
            .report(&bob, None, None)
            .await
            .unwrap()
            .rows
            .is_empty());
        assert_eq!(
            usage
                .report(&bob, None, Some("alice"))
                .await
                .unwrap_err()
                .code,
            ErrorCode::AdminRequired
        );
    }

    #[tokio::test]
    async fn a_prompt_claim_carries_the_prompt_for_the_agent_and_no_shell() {
        let f = fixture();
        let node = NodeId::generate();
        let req = CreateTaskRequest {
            prompt: Some("What is 2+2?".into()),
            ..Default::default()
        };
        let task = f.tasks.create(&f.alice, req).await.unwrap().task_id;
        let job = f.store.enqueued().last().unwrap().job_id.clone();
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b1"))
            .await
            .unwrap());
        assert_eq!(claim.spec.mode, InputMode::Prompt);
        assert_eq!(claim.spec.prompt.as_deref(), Some("What is 2+2?"));
        assert!(claim.spec.inference);
        assert!(claim.spec.commands.is_empty() && claim.spec.script.is_none());
        assert_eq!(
            claim.spec.agent_max_steps, None,
            "no preference: the node's"
        );
    }

    #[tokio::test]
    async fn a_claim_carries_its_owners_effective_preferences_where_the_task_left_them_open() {
        use crate::ports::PreferenceStore;
        use crate::preference::{PreferenceTarget, StoredPreference};
        let f = fixture();
        let node = NodeId::generate();
        let put = |target: PreferenceTarget, key: &str, value: serde_json::Value| {
            let store = f.store.clone();
            let value = StoredPreference {
                key: key.into(),
                value,
                updated_at: f.clock.now(),
            };
            async move { store.put_preference(&target, &value).await.unwrap() }
        };
        let alice = PreferenceTarget::User(f.alice.user_id.clone());
        put(alice.clone(), "agent.max_steps", serde_json::json!(3)).await;
        put(
            alice.clone(),
            "task.default_model",
            serde_json::json!("tiny"),
        )
        .await;
        put(
            PreferenceTarget::System,
            "task.timeout_seconds",
            serde_json::json!(90),
        )
        .await;
        let prompt = CreateTaskRequest {
            prompt: Some("What is 2+2?".into()),
            ..Default::default()
        };
        let task = f.tasks.create(&f.alice, prompt).await.unwrap().task_id;
        let job = f.store.enqueued().last().unwrap().job_id.clone();
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b1"))
            .await
            .unwrap());
        assert_eq!(claim.spec.agent_max_steps, Some(3));
        assert_eq!(claim.spec.model.as_deref(), Some("tiny"));
        assert_eq!(claim.spec.timeout_secs, Some(90));
        // The task's own values win over every preference.
        let own = CreateTaskRequest {
            prompt: Some("hi".into()),
            model: Some("big".into()),
            timeout_seconds: Some(20),
            ..Default::default()
        };
        let task = f.tasks.create(&f.alice, own).await.unwrap().task_id;
        let job = f.store.enqueued().last().unwrap().job_id.clone();
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b1"))
            .await
            .unwrap());
        assert_eq!(claim.spec.model.as_deref(), Some("big"));
        assert_eq!(claim.spec.timeout_secs, Some(20));
        assert_eq!(claim.spec.agent_max_steps, Some(3));
    }

    #[tokio::test]
    async fn a_stream_reads_its_owners_chunks_follows_attempts_and_ends_with_the_job() {
        use crate::chat::check_completion;
        use crate::wire::{ChatCompletionRequest, JobChunkRequest};
        let f = fixture();
        let node = NodeId::generate();
        let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]
        }))
        .unwrap();
        let task = f
            .tasks
            .create_completion(&f.alice, &check_completion(req).unwrap())
            .await
            .unwrap()
            .task_id;
        let mallory = Principal {
            user_id: UserId::generate(),
            ..f.alice.clone()
        };
        assert_eq!(
            f.tasks.open_stream(&mallory, &task).await.unwrap_err().code,
            "task_not_found"
        );
        let stream = f.tasks.open_stream(&f.alice, &task).await.unwrap();
        let before = f.tasks.stream_state(&stream, 0, None).await.unwrap();
        assert_eq!((before.attempt, before.finished), (0, false));

        let job = f.store.enqueued().last().unwrap().job_id.clone();
        let first = run(f
            .jobs
            .started(&node, &job, started(&task, "b1"))
            .await
            .unwrap());
        let chunk = |claim: &JobClaim, seq: u32, text: &str| JobChunkRequest {
            task_id: task.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            seq,
            text: text.into(),
            end: None,
        };
        f.jobs
            .chunk(
                &node,
                &chunk_job(&f, &task, &job).await,
                chunk(&first, 0, "Hel"),
            )
            .await
            .unwrap();
        // The reader learns of the attempt and gets its chunks in the same poll.
        let state = f.tasks.stream_state(&stream, 0, None).await.unwrap();
        assert_eq!(state.attempt, 1);
        assert_eq!(state.chunks[0].text, "Hel");

        // The node restarts: attempt 2's chunks replace attempt 1's for the reader, and
        // attempt 1 can no longer stream.
        let second = run(f
            .jobs
            .started(&node, &job, started(&task, "b2"))
            .await
            .unwrap());
        let stale = f
            .jobs
            .chunk(
                &node,
                &chunk_job(&f, &task, &job).await,
                chunk(&first, 1, "lo"),
            )
            .await
            .unwrap_err();
        assert_eq!(stale.code, ErrorCode::StaleAttempt);
        // Nor may the current lease write chunks under attempt 1's number.
        let mut old_number = chunk(&second, 5, "overwritten");
        old_number.attempt = first.attempt;
        let stale = f
            .jobs
            .chunk(&node, &chunk_job(&f, &task, &job).await, old_number)
            .await
            .unwrap_err();
        assert_eq!(stale.code, ErrorCode::StaleAttempt);
        f.jobs
            .chunk(
                &node,
                &chunk_job(&f, &task, &job).await,
                chunk(&second, 0, "Hello"),
            )
            .await
            .unwrap();
        let state = f.tasks.stream_state(&stream, 1, Some(0)).await.unwrap();
        assert_eq!((state.attempt, state.chunks[0].text.as_str()), (2, "Hello"));

        let mut forged = chunk(&second, 1, "!");
        forged.end = Some(AnswerEnd {
            finish_reason: "tool_calls\"}<script>".into(),
            usage: InferenceUsage::default(),
        });
        let refused = f
            .jobs
            .chunk(&node, &chunk_job(&f, &task, &job).await, forged)
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidBody);
        let mut last = chunk(&second, 1, "!");
        last.end = Some(AnswerEnd {
            finish_reason: "length".into(),
            usage: InferenceUsage {
                calls: 1,
                prompt_tokens: 5,
                completion_tokens: 2,
                refused_calls: 0,
            },
        });
        f.jobs
            .chunk(&node, &chunk_job(&f, &task, &job).await, last.clone())
            .await
            .unwrap();
        let read = f.tasks.stream_state(&stream, 2, Some(0)).await.unwrap();
        assert_eq!(
            read.chunks[0].end, last.end,
            "the end is read back with the chunk"
        );
        f.jobs
            .result(&node, &job, result_of(&task, &second, "Hello!"))
            .await
            .unwrap();
        let end = f.tasks.stream_state(&stream, 2, Some(0)).await.unwrap();
        assert_eq!(end.chunks.len(), 1, "the last chunk");
        let end = f.tasks.stream_state(&stream, 2, Some(1)).await.unwrap();
        assert!(end.finished && end.chunks.is_empty());
    }

    #[tokio::test]
    async fn a_restarted_node_runs_a_new_attempt_and_the_old_one_is_stale() {
        let f = fixture();
        let node = NodeId::generate();
        let (task, job) = queued_job(&f).await;
        let first = run(f
            .jobs
            .started(&node, &job, started(&task, "boot1"))
            .await
            .unwrap());
        let second = run(f
            .jobs
            .started(&node, &job, started(&task, "boot2"))
            .await
            .unwrap());
        assert_eq!((first.attempt, second.attempt), (1, 2));
        assert_ne!(first.job_token, second.job_token);

        let stale = f
            .jobs
            .result(&node, &job, result_of(&task, &first, "old"))
            .await
            .unwrap_err();
        assert_eq!(stale.code, ErrorCode::StaleAttempt);
        f.jobs
            .result(&node, &job, result_of(&task, &second, "new"))
            .await
            .unwrap();
        let result = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        assert_eq!(result.stdout.as_deref(), Some("new"));
        assert_eq!(result.jobs[0].attempt, 2);
    }

    #[tokio::test]
    async fn another_node_waits_for_a_live_lease_then_takes_over() {
        let f = fixture();
        let (task, job) = queued_job(&f).await;
        let (one, two) = (NodeId::generate(), NodeId::generate());
        run(f
            .jobs
            .started(&one, &job, started(&task, "b"))
            .await
            .unwrap());
        let wait = f
            .jobs
            .started(&two, &job, started(&task, "b"))
            .await
            .unwrap();
        assert!(matches!(wait, ClaimDecision::Retry { retry_after_secs } if retry_after_secs > 0));
        f.clock.advance(time::Duration::seconds(61));
        assert_eq!(
            run(f
                .jobs
                .started(&two, &job, started(&task, "b"))
                .await
                .unwrap())
            .attempt,
            2
        );
    }

    #[tokio::test]
    async fn heartbeats_carry_cancellation() {
        let f = fixture();
        let node = NodeId::generate();
        let (task, job) = queued_job(&f).await;
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b"))
            .await
            .unwrap());
        let beat = |claim: &JobClaim| HeartbeatRequest {
            task_id: task.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            progress: None,
        };
        assert!(
            !f.jobs
                .heartbeat(&node, &job, beat(&claim))
                .await
                .unwrap()
                .canceled
        );
        f.tasks.cancel(&f.alice, task.as_str()).await.unwrap();
        assert!(
            f.jobs
                .heartbeat(&node, &job, beat(&claim))
                .await
                .unwrap()
                .canceled
        );

        let mut canceled = result_of(&task, &claim, "");
        canceled.status = JobOutcome::Canceled;
        f.jobs.result(&node, &job, canceled).await.unwrap();
        let result = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        assert_eq!(result.status, TaskStatus::Canceled);
        assert_eq!(result.jobs[0].status, JobStatus::Canceled);
    }

    #[tokio::test]
    async fn oversized_output_is_refused() {
        let f = fixture();
        let node = NodeId::generate();
        let (task, job) = queued_job(&f).await;
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b"))
            .await
            .unwrap());
        let report = result_of(&task, &claim, &"x".repeat(MAX_STREAM_BYTES + 1));
        assert_eq!(
            f.jobs.result(&node, &job, report).await.unwrap_err().code,
            "output_too_large"
        );
    }

    #[tokio::test]
    async fn raw_output_is_kept_only_when_uploaded_by_the_current_claim() {
        use crate::wire::StreamBytes;
        let f = fixture();
        let node = NodeId::generate();
        let (task, job) = queued_job(&f).await;
        let claim = run(f
            .jobs
            .started(&node, &job, started(&task, "b"))
            .await
            .unwrap());
        let ask = |stream, size| OutputUploadRequest {
            task_id: task.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            stream,
            size,
        };
        let other = NodeId::generate();
        assert_eq!(
            f.jobs
                .output_upload_url(&other, &job, ask(OutputStream::Stdout, 5))
                .await
                .unwrap_err()
                .code,
            ErrorCode::StaleAttempt
        );
        // The current lease naming another attempt would write under that attempt's key.
        let mut other_attempt = ask(OutputStream::Stdout, 5);
        other_attempt.attempt = claim.attempt + 1;
        assert_eq!(
            f.jobs
                .output_upload_url(&node, &job, other_attempt)
                .await
                .unwrap_err()
                .code,
            ErrorCode::StaleAttempt
        );
        assert_eq!(
            f.jobs
                .output_upload_url(
                    &node,
                    &job,
                    ask(OutputStream::Stdout, MAX_RAW_OUTPUT_BYTES + 1)
                )
                .await
                .unwrap_err()
                .code,
            "invalid_size"
        );
        let url = f
            .jobs
            .output_upload_url(&node, &job, ask(OutputStream::Stdout, 5))
            .await
            .unwrap()
            .url;
        assert!(url.contains("stdout.raw"), "{url}");
        // stdout is uploaded; stderr is announced but never arrived.
        let key = raw_output_key(&task, &job, claim.attempt, OutputStream::Stdout);
        f.store.put(&key, vec![0xFF; 5]).await.unwrap();
        let mut report = result_of(&task, &claim, "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}");
        report.truncated.stdout = true;
        report.raw.stdout = Some(StreamBytes { size: 5, total: 5 });
        report.raw.stderr = Some(StreamBytes { size: 9, total: 9 });
        f.jobs.result(&node, &job, report).await.unwrap();

        let out = f
            .tasks
            .output(&f.alice, task.as_str(), "stdout")
            .await
            .unwrap();
        assert_eq!((out.size, out.complete), (5, true));
        assert!(out.url.unwrap().ends_with("stdout.raw"));
        let err = f
            .tasks
            .output(&f.alice, task.as_str(), "stderr")
            .await
            .unwrap();
        assert_eq!(
            (err.size, err.url),
            (0, None),
            "no raw upload, no preview text"
        );
        let view = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        assert_eq!(view.jobs[0].raw.stderr, None);
        assert_eq!(
            f.tasks
                .output(&f.alice, task.as_str(), "both")
                .await
                .unwrap_err()
                .code,
            "invalid_stream"
        );
    }

    #[tokio::test]
    async fn a_released_job_is_queued_again_and_the_next_claim_is_a_new_attempt() {
        let f = fixture();
        let (task, job) = queued_job(&f).await;
        let (one, two) = (NodeId::generate(), NodeId::generate());
        let first = run(f
            .jobs
            .started(&one, &job, started(&task, "b"))
            .await
            .unwrap());
        let release = JobReleaseRequest {
            task_id: task.clone(),
            attempt: first.attempt,
            lease_id: first.lease_id.clone(),
            reason: "the node is shutting down".into(),
        };
        assert_eq!(
            f.jobs
                .release(&two, &job, release.clone())
                .await
                .unwrap_err()
                .code,
            ErrorCode::StaleAttempt,
            "only the claim's node may hand it back"
        );
        f.jobs.release(&one, &job, release.clone()).await.unwrap();
        f.jobs.release(&one, &job, release).await.unwrap(); // again: no change
        let result = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        assert_eq!(result.status, TaskStatus::Queued);
        assert_eq!(result.jobs[0].reason.as_deref(), Some("drained"));
        let second = run(f
            .jobs
            .started(&two, &job, started(&task, "c"))
            .await
            .unwrap());
        assert_eq!(second.attempt, 2);
        let stale = f
            .jobs
            .result(&one, &job, result_of(&task, &first, "late"))
            .await;
        assert_eq!(stale.unwrap_err().code, ErrorCode::StaleAttempt);
    }

    #[tokio::test]
    async fn a_disabled_node_claims_nothing_and_a_draining_one_hands_jobs_back() {
        use crate::node::Node;
        let f = fixture();
        let (task, job) = queued_job(&f).await;
        let now = f.clock.now();
        let mut node = Node::test("gpu-1", NodeState::Disabled, now);
        let refused = f
            .jobs
            .started_on(&node, &job, started(&task, "b"))
            .await
            .unwrap();
        assert!(
            matches!(refused, ClaimDecision::NotNow { .. }),
            "{refused:?}"
        );
        node.state = NodeState::Enabled;
        let claim = run(f
            .jobs
            .started_on(&node, &job, started(&task, "b"))
            .await
            .unwrap());
        let beat = HeartbeatRequest {
            task_id: task.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            progress: None,
        };
        assert!(
            !f.jobs
                .heartbeat_on(&node, &job, beat.clone())
                .await
                .unwrap()
                .release
        );
        node.state = NodeState::Draining;
        assert!(
            f.jobs
                .heartbeat_on(&node, &job, beat)
                .await
                .unwrap()
                .release
        );
    }

    #[tokio::test]
    async fn unknown_jobs_are_not_found() {
        let f = fixture();
        let err = f
            .jobs
            .started(
                &NodeId::generate(),
                &JobId::generate(),
                started(&TaskId::generate(), "b"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, "job_not_found");
    }
}
