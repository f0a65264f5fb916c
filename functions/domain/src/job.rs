//! Jobs: the unit of sandbox work, and the claim/lease rules that make at-least-once
//! delivery produce exactly one result.
//!
//! SQS may deliver a job message twice, a node may die mid-job, a callback may be retried.
//! Every transition here is a pure function from the stored job to the next one; the
//! service writes it back conditionally on the version it read, so two racing writers
//! cannot both win.
//!
//! - A node *claims* a job when it receives its message. A claim is an attempt number and
//!   a lease (id, node, boot id, expiry). Claiming a queued job starts attempt 1; claiming
//!   a running job whose lease is dead (expired, or held by an earlier run of the same
//!   node) starts the next attempt. A live lease held by someone else means "retry later".
//! - Heartbeats extend the lease and tell the node whether the job was canceled.
//! - A result is accepted only from the current lease; the same result again is a no-op;
//!   a result from an older attempt is refused as stale.

use crate::ErrorCode;
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{JobId, LeaseId, NodeId, TaskId, UserId};
use crate::plan::{JobRole, WorkReport};
use crate::status::JobStatus;
use crate::task::Task;
use crate::wire::{
    ChatAnswer, InferenceUsage, JobMessage, JobResultReport, JobResultView, OutputStream,
    RawOutput, Truncated,
};

/// Longest line of progress kept from a heartbeat or a result.
pub const MAX_PROGRESS_BYTES: usize = 200;

/// A job's line of progress as it is kept: trimmed, within [`MAX_PROGRESS_BYTES`].
pub fn progress_line(line: &str) -> String {
    crate::limits::truncate_utf8(line.trim(), MAX_PROGRESS_BYTES)
        .0
        .to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: LeaseId,
    pub node: NodeId,
    pub boot_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

/// A finished attempt's outcome. Output streams live in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutput {
    pub attempt: u32,
    pub lease_id: LeaseId,
    pub exit_code: Option<i32>,
    pub failed_command: Option<u32>,
    pub error: Option<String>,
    pub stdout_key: Option<String>,
    pub stderr_key: Option<String>,
    pub truncated: Truncated,
    /// Streams whose raw bytes are stored beside the preview (see [`raw_output_key`]).
    #[serde(default, skip_serializing_if = "RawOutput::is_empty")]
    pub raw: RawOutput,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: Timestamp,
    /// Model calls the attempt made through its pod's proxy, and their tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
    /// For a worker: the branch its node pushed and the pull request it opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkReport>,
    /// For a chat answered by a model: finish reason, tool calls, log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ChatAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub task_id: TaskId,
    pub owner: UserId,
    pub status: JobStatus,
    /// 0 until first claimed; then the number of the current (or last) attempt.
    pub attempt: u32,
    pub lease: Option<Lease>,
    pub cancel_requested: bool,
    pub output: Option<JobOutput>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the current attempt was claimed.
    pub started_at: Option<Timestamp>,
    /// Times the control plane put the job back on the queue after a fault (bounded by
    /// [`RecoveryPolicy::max_redrives`]).
    pub redrives: u32,
    /// The last thing the control plane (not the sandbox) did to the job, and why.
    pub note: Option<JobNote>,
    /// What the job does for a planned task (planner, worker); `Task` otherwise.
    pub role: JobRole,
    /// Its node's last word on what it is doing (see `HeartbeatRequest`); kept after the
    /// run as the last step it reported.
    pub progress: Option<String>,
    pub version: u64,
}

/// Why the control plane requeued or ended a job: a stable code and words for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNote {
    /// `node_lost`, `delivery_exhausted`, `delivery_lost`, `drained`.
    pub code: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: Timestamp,
}

/// How the sweeper treats jobs that a fault left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// A running job whose lease expired this long ago, or a queued job untouched this
    /// long (past its redrive delay), is looked at.
    pub stale_after_secs: u64,
    /// Requeues after a fault before the task fails.
    pub max_redrives: u32,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            stale_after_secs: 600,
            max_redrives: 3,
        }
    }
}

impl RecoveryPolicy {
    /// The queue delay of the `n`th requeue (0-based): 30 s doubling, at most SQS's 900 s.
    pub fn delay_secs(&self, n: u32) -> u32 {
        30u32.saturating_mul(1 << n.min(5)).min(900)
    }
}

/// What the sweeper (or a dead letter) decided for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing to do; for a dead letter: the job ended, drop the message.
    Leave,
    /// A node holds a live lease: look again later.
    Busy,
    /// Write the job back queued and send a new message after `delay_secs`.
    Requeue { job: Box<Job>, delay_secs: u32 },
    /// Write the job back ended (failed, or canceled if the user asked).
    End(Box<Job>),
}

/// What a claim attempt decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Run it: the job, claimed under a new lease, to be written back.
    Run(Job),
    /// Do not run it and drop the message. `update` is a write to make first (a canceled
    /// job whose runner died is finished as canceled).
    Discard {
        status: JobStatus,
        update: Option<Job>,
    },
    /// Someone holds a live lease; try again after this many seconds.
    Retry { after_secs: u64 },
}

/// What accepting a result decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Store(Box<Job>),
    Duplicate,
}

/// What the gateway stored of a result's streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredStreams {
    pub stdout_key: Option<String>,
    pub stderr_key: Option<String>,
    /// The raw uploads found in the blob store with the size the node announced.
    pub raw: RawOutput,
}

/// The keys under which a result's streams are stored: per attempt, so a stale attempt
/// can never overwrite the output of the current one.
pub fn output_keys(task: &TaskId, job: &JobId, attempt: u32) -> (String, String) {
    let base = format!("results/{task}/{job}/{attempt}");
    (format!("{base}/stdout"), format!("{base}/stderr"))
}

/// The queue message that delivers `job` (to the inference queue when its task needs a
/// model).
pub fn message_for(task: &Task, job: &Job, lease_secs: u64, now: Timestamp) -> JobMessage {
    JobMessage {
        v: 1,
        task_id: task.id.clone(),
        job_id: job.id.clone(),
        attempt: job.attempt + 1,
        lease_secs,
        enqueued_at: now,
        // A hosted model's calls go through the egress: any node runs its job, from the
        // queue every node reads.
        inference: task.needs_inference() && !task.hosted(),
        model: match task.hosted() {
            true => None,
            false => task.routed_model(),
        },
        image: task.image.clone(),
    }
}

/// Where a stream's raw bytes of one attempt are uploaded.
pub fn raw_output_key(task: &TaskId, job: &JobId, attempt: u32, stream: OutputStream) -> String {
    format!("results/{task}/{job}/{attempt}/{}.raw", stream.as_str())
}

impl Job {
    pub fn queued(id: JobId, task: &Task, now: Timestamp) -> Job {
        Job {
            id,
            task_id: task.id.clone(),
            owner: task.owner.clone(),
            status: JobStatus::Queued,
            attempt: 0,
            lease: None,
            cancel_requested: false,
            output: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            redrives: 0,
            note: None,
            role: JobRole::Task,
            progress: None,
            version: 1,
        }
    }

    /// A queued job of a planned task with its role.
    pub fn queued_as(id: JobId, task: &Task, role: JobRole, now: Timestamp) -> Job {
        Job {
            role,
            ..Job::queued(id, task, now)
        }
    }

    fn next(&self, now: Timestamp) -> Job {
        Job {
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    fn lease_is_live(&self, node: &NodeId, boot_id: &str, now: Timestamp) -> Option<&Lease> {
        let lease = self.lease.as_ref()?;
        let same_node_restarted = &lease.node == node && lease.boot_id != boot_id;
        (lease.expires_at > now && !same_node_restarted).then_some(lease)
    }

    pub fn claim(&self, node: &NodeId, boot_id: &str, now: Timestamp, lease_secs: u64) -> Claim {
        if self.status.is_terminal() {
            return Claim::Discard {
                status: self.status,
                update: None,
            };
        }
        if self.status == JobStatus::Running {
            if let Some(lease) = self.lease_is_live(node, boot_id, now) {
                let left = (lease.expires_at - now).whole_seconds().max(1);
                return Claim::Retry {
                    after_secs: left as u64,
                };
            }
        }
        if self.cancel_requested {
            let mut canceled = self.next(now);
            canceled.status = JobStatus::Canceled;
            canceled.lease = None;
            return Claim::Discard {
                status: JobStatus::Canceled,
                update: Some(canceled),
            };
        }
        let mut claimed = self.next(now);
        claimed.status = JobStatus::Running;
        claimed.attempt = self.attempt + 1;
        claimed.started_at = Some(now);
        claimed.lease = Some(Lease {
            id: LeaseId::generate(),
            node: node.clone(),
            boot_id: boot_id.to_owned(),
            expires_at: now + Duration::seconds(lease_secs as i64),
        });
        Claim::Run(claimed)
    }

    fn stale(&self, attempt: u32) -> Error {
        Error::conflict(
            ErrorCode::StaleAttempt,
            format!(
                "attempt {attempt} of job {} is no longer current (current attempt {}, status {})",
                self.id, self.attempt, self.status
            ),
        )
    }

    fn holds_lease(&self, node: &NodeId, lease_id: &LeaseId) -> bool {
        self.status == JobStatus::Running
            && self
                .lease
                .as_ref()
                .is_some_and(|lease| &lease.id == lease_id && &lease.node == node)
    }

    /// Extends the lease of the current attempt. Returns the job to write back (if any)
    /// and whether the node should cancel.
    pub fn heartbeat(
        &self,
        node: &NodeId,
        attempt: u32,
        lease_id: &LeaseId,
        now: Timestamp,
        lease_secs: u64,
    ) -> Result<(Option<Job>, bool)> {
        if self.holds_lease(node, lease_id) {
            let mut extended = self.next(now);
            if let Some(lease) = extended.lease.as_mut() {
                lease.expires_at = now + Duration::seconds(lease_secs as i64);
            }
            return Ok((Some(extended), self.cancel_requested));
        }
        if self
            .output
            .as_ref()
            .is_some_and(|out| &out.lease_id == lease_id)
        {
            // Finished already (the result beat this heartbeat): nothing to extend.
            return Ok((None, self.status == JobStatus::Canceled));
        }
        Err(self.stale(attempt))
    }

    /// That `node` holds the current claim under `lease_id`, and speaks for its attempt
    /// (for streamed chunks and raw-output uploads, which are stored under the attempt).
    pub fn check_claim(&self, node: &NodeId, attempt: u32, lease_id: &LeaseId) -> Result<()> {
        if self.holds_lease(node, lease_id) && attempt == self.attempt {
            Ok(())
        } else {
            Err(self.stale(attempt))
        }
    }

    /// Accepts the result of the current attempt (and its last line of progress).
    pub fn finish(
        &self,
        node: &NodeId,
        report: &JobResultReport,
        stored: StoredStreams,
        now: Timestamp,
    ) -> Result<Finish> {
        if self
            .output
            .as_ref()
            .is_some_and(|out| out.lease_id == report.lease_id)
        {
            return Ok(Finish::Duplicate);
        }
        if !self.holds_lease(node, &report.lease_id) || report.attempt != self.attempt {
            return Err(self.stale(report.attempt));
        }
        let mut done = self.next(now);
        done.status = report.status.job_status();
        done.lease = None;
        if let Some(progress) = &report.progress {
            done.progress = Some(progress_line(progress));
        }
        done.output = Some(JobOutput {
            attempt: report.attempt,
            lease_id: report.lease_id.clone(),
            exit_code: report.exit_code,
            failed_command: report.failed_command,
            error: report.error.clone(),
            stdout_key: stored.stdout_key,
            stderr_key: stored.stderr_key,
            truncated: report.truncated,
            raw: stored.raw,
            started_at: report.started_at,
            ended_at: report.ended_at,
            usage: report.usage,
            work: report.work.clone(),
            answer: report.answer.clone(),
        });
        Ok(Finish::Store(Box::new(done)))
    }

    fn noted(&self, now: Timestamp, code: &str, message: String) -> Job {
        let mut next = self.next(now);
        next.note = Some(JobNote {
            code: code.to_owned(),
            message,
            at: now,
        });
        next
    }

    /// Puts the job back on the queue after a fault, or ends it once it was requeued
    /// `max_redrives` times. A job whose user asked to cancel ends canceled instead.
    fn redrive(&self, now: Timestamp, policy: &RecoveryPolicy, code: &str, why: &str) -> Recovery {
        if self.cancel_requested {
            let mut canceled = self.noted(now, code, format!("{why}; it was being canceled"));
            canceled.status = JobStatus::Canceled;
            canceled.lease = None;
            return Recovery::End(Box::new(canceled));
        }
        if self.redrives >= policy.max_redrives {
            let mut failed = self.noted(
                now,
                code,
                format!("{why}, after {} requeues; giving up", self.redrives),
            );
            failed.status = JobStatus::Failed;
            failed.lease = None;
            return Recovery::End(Box::new(failed));
        }
        let mut queued = self.noted(now, code, format!("{why}; requeued"));
        queued.status = JobStatus::Queued;
        queued.lease = None;
        queued.redrives = self.redrives + 1;
        Recovery::Requeue {
            job: Box::new(queued),
            delay_secs: policy.delay_secs(self.redrives),
        }
    }

    /// The sweeper's look at a job that is not finished: a lease that expired long ago
    /// (its node is gone and no delivery took the job over) is requeued or ends the job;
    /// a queued job untouched for long gets a new message (its own may be lost; a second
    /// message is harmless, since claims decide who runs it).
    pub fn sweep(&self, now: Timestamp, policy: &RecoveryPolicy) -> Recovery {
        let stale = Duration::seconds(policy.stale_after_secs as i64);
        match self.status {
            JobStatus::Running => match &self.lease {
                Some(lease) if lease.expires_at + stale > now => Recovery::Leave,
                _ => self.redrive(
                    now,
                    policy,
                    "node_lost",
                    "the node running the job stopped answering",
                ),
            },
            JobStatus::Queued => {
                let delay = Duration::seconds(i64::from(policy.delay_secs(self.redrives)));
                if self.updated_at + stale + delay > now || self.redrives >= policy.max_redrives {
                    return Recovery::Leave;
                }
                let mut queued = self.noted(
                    now,
                    "delivery_lost",
                    "no node picked the job up; its queue message was sent again".into(),
                );
                queued.redrives = self.redrives + 1;
                Recovery::Requeue {
                    job: Box::new(queued),
                    delay_secs: 0,
                }
            }
            _ => Recovery::Leave,
        }
    }

    /// The job's queue message was dead-lettered (delivered the queue's maximum number
    /// of times without a result).
    pub fn dead_lettered(&self, now: Timestamp, policy: &RecoveryPolicy) -> Recovery {
        if self.status.is_terminal() {
            return Recovery::Leave;
        }
        if self.status == JobStatus::Running
            && self
                .lease
                .as_ref()
                .is_some_and(|lease| lease.expires_at > now)
        {
            return Recovery::Busy;
        }
        self.redrive(
            now,
            policy,
            "delivery_exhausted",
            "the job's queue message was delivered the maximum number of times without a result",
        )
    }

    /// The node holding the claim hands the job back unfinished (it is shutting down or
    /// draining): the job is queued again for another node, and the reason recorded.
    pub fn release(
        &self,
        node: &NodeId,
        attempt: u32,
        lease_id: &LeaseId,
        reason: &str,
        now: Timestamp,
    ) -> Result<Option<Job>> {
        if self.status == JobStatus::Queued && self.attempt == attempt {
            return Ok(None); // released before
        }
        if !self.holds_lease(node, lease_id) || self.attempt != attempt {
            return Err(self.stale(attempt));
        }
        if self.cancel_requested {
            let mut canceled = self.noted(now, "drained", "canceled while its node stopped".into());
            canceled.status = JobStatus::Canceled;
            canceled.lease = None;
            return Ok(Some(canceled));
        }
        let mut queued = self.noted(now, "drained", format!("handed back by its node: {reason}"));
        queued.status = JobStatus::Queued;
        queued.lease = None;
        Ok(Some(queued))
    }

    /// The user canceled the task: a queued job ends now; a running one is told to stop
    /// at its next heartbeat. `None` when nothing changes.
    pub fn cancel(&self, now: Timestamp) -> Option<Job> {
        match self.status {
            JobStatus::Queued => {
                let mut canceled = self.next(now);
                canceled.status = JobStatus::Canceled;
                Some(canceled)
            }
            JobStatus::Running if !self.cancel_requested => {
                let mut asked = self.next(now);
                asked.cancel_requested = true;
                Some(asked)
            }
            _ => None,
        }
    }

    /// The owner's view, with the stream texts fetched by the caller.
    pub fn result_view(&self, stdout: String, stderr: String) -> JobResultView {
        let output = self.output.as_ref();
        JobResultView {
            job_id: self.id.clone(),
            status: self.status,
            attempt: self.attempt,
            exit_code: output.and_then(|o| o.exit_code),
            failed_command: output.and_then(|o| o.failed_command),
            error: output.and_then(|o| o.error.clone()).or_else(|| {
                self.note
                    .as_ref()
                    .filter(|_| self.status.is_terminal())
                    .map(|n| n.message.clone())
            }),
            reason: self.note.as_ref().map(|note| note.code.clone()),
            stdout,
            stderr,
            truncated: output.map(|o| o.truncated).unwrap_or_default(),
            raw: output.map(|o| o.raw).unwrap_or_default(),
            started_at: output.map(|o| o.started_at).or(self.started_at),
            ended_at: output.map(|o| o.ended_at),
            usage: output.and_then(|o| o.usage),
            answer: output.and_then(|o| o.answer.clone()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::status::{JobOutcome, TaskStatus};
    use crate::task::{StoredInput, TaskInput};
    use crate::wire::InputMode;
    use time::macros::datetime;

    const LEASE: u64 = 30;

    pub(crate) fn now() -> Timestamp {
        datetime!(2026-11-21 10:00 UTC)
    }

    pub(crate) fn task() -> Task {
        Task {
            id: TaskId::generate(),
            owner: UserId::generate(),
            name: None,
            mode: InputMode::Commands,
            prompt_preview: "true".into(),
            input: StoredInput::Inline(TaskInput::Commands {
                commands: vec!["true".into()],
            }),
            attachments: vec![],
            timeout_secs: None,
            model: None,
            idempotency_key: None,
            project_id: None,
            image: None,
            plan: None,
            routing: None,
            status: TaskStatus::Queued,
            created_at: now(),
            updated_at: now(),
            version: 1,
        }
    }

    fn node(name: &str) -> NodeId {
        NodeId::from_stored(name)
    }

    pub(crate) fn claimed(job: &Job, who: &str, boot: &str, at: Timestamp) -> Job {
        match job.claim(&node(who), boot, at, LEASE) {
            Claim::Run(job) => job,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    fn report(job: &Job, outcome: JobOutcome) -> JobResultReport {
        JobResultReport {
            task_id: job.task_id.clone(),
            attempt: job.attempt,
            lease_id: job.lease.as_ref().unwrap().id.clone(),
            status: outcome,
            exit_code: Some(0),
            failed_command: None,
            error: None,
            stdout: "hello\n".into(),
            stderr: String::new(),
            truncated: Truncated::default(),
            raw: RawOutput::default(),
            started_at: now(),
            ended_at: now(),
            usage: None,
            work: None,
            answer: None,
            progress: None,
        }
    }

    #[test]
    fn first_claim_starts_attempt_one_with_a_lease() {
        let job = Job::queued(JobId::generate(), &task(), now());
        let run = claimed(&job, "n1", "boot1", now());
        assert_eq!(run.status, JobStatus::Running);
        assert_eq!(run.attempt, 1);
        assert_eq!(run.version, job.version + 1);
        assert_eq!(run.lease.unwrap().expires_at, now() + Duration::seconds(30));
    }

    #[test]
    fn a_live_lease_makes_other_claimants_wait() {
        let job = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        let later = now() + Duration::seconds(10);
        assert_eq!(
            job.claim(&node("n2"), "x", later, LEASE),
            Claim::Retry { after_secs: 20 }
        );
        // The same agent run receiving its own message again also waits.
        assert_eq!(
            job.claim(&node("n1"), "b1", later, LEASE),
            Claim::Retry { after_secs: 20 }
        );
    }

    #[test]
    fn an_expired_lease_or_a_restarted_node_starts_the_next_attempt() {
        let job = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        let expired = claimed(&job, "n2", "x", now() + Duration::seconds(31));
        assert_eq!(expired.attempt, 2);
        let restarted = claimed(&job, "n1", "b2", now() + Duration::seconds(1));
        assert_eq!(restarted.attempt, 2);
        assert_ne!(restarted.lease.unwrap().id, job.lease.unwrap().id);
    }

    #[test]
    fn finished_jobs_are_discarded_on_redelivery() {
        let run = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        let Finish::Store(done) = run
            .finish(
                &node("n1"),
                &report(&run, JobOutcome::Completed),
                StoredStreams::default(),
                now(),
            )
            .unwrap()
        else {
            panic!("expected the result to be stored")
        };
        assert_eq!(
            done.claim(&node("n1"), "b2", now(), LEASE),
            Claim::Discard {
                status: JobStatus::Completed,
                update: None
            }
        );
    }

    #[test]
    fn the_same_result_twice_is_stored_once() {
        let run = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        let result = report(&run, JobOutcome::Completed);
        let Finish::Store(done) = run
            .finish(&node("n1"), &result, StoredStreams::default(), now())
            .unwrap()
        else {
            panic!("expected store")
        };
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(
            done.finish(&node("n1"), &result, StoredStreams::default(), now())
                .unwrap(),
            Finish::Duplicate
        );
    }

    #[test]
    fn a_result_keeps_the_last_step_its_job_reached() {
        let run = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        // No heartbeat carried any progress: the job ended between two.
        assert_eq!(run.progress, None);
        let mut result = report(&run, JobOutcome::Completed);
        result.progress = Some(format!("  step 4: {}\n", "x".repeat(300)));
        let Finish::Store(done) = run
            .finish(&node("n1"), &result, StoredStreams::default(), now())
            .unwrap()
        else {
            panic!("expected store")
        };
        let kept = done.progress.expect("the result's progress is kept");
        assert!(
            kept.starts_with("step 4: x") && kept.len() == MAX_PROGRESS_BYTES,
            "{kept}"
        );
        // A result without one keeps what heartbeats said.
        let mut beaten = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        beaten.progress = Some("step 2: ls".into());
        let Finish::Store(done) = beaten
            .finish(
                &node("n1"),
                &report(&beaten, JobOutcome::Completed),
                StoredStreams::default(),
                now(),
            )
            .unwrap()
        else {
            panic!("expected store")
        };
        assert_eq!(done.progress.as_deref(), Some("step 2: ls"));
    }

    #[test]
    fn a_result_from_a_superseded_attempt_is_stale() {
        let first = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        let old_result = report(&first, JobOutcome::Completed);
        let second = claimed(&first, "n1", "b2", now());
        let err = second
            .finish(&node("n1"), &old_result, StoredStreams::default(), now())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::StaleAttempt);
        let err = second
            .heartbeat(&node("n1"), 1, &old_result.lease_id, now(), LEASE)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::StaleAttempt);
    }

    #[test]
    fn only_the_lease_holder_may_report() {
        let run = claimed(
            &Job::queued(JobId::generate(), &task(), now()),
            "n1",
            "b1",
            now(),
        );
        let err = run
            .finish(
                &node("n2"),
                &report(&run, JobOutcome::Completed),
                StoredStreams::default(),
                now(),
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::StaleAttempt);
    }

    #[test]
    fn cancel_ends_a_queued_job_and_signals_a_running_one() {
        let t = task();
        let queued = Job::queued(JobId::generate(), &t, now());
        assert_eq!(queued.cancel(now()).unwrap().status, JobStatus::Canceled);

        let run = claimed(&queued, "n1", "b1", now());
        let asked = run.cancel(now()).unwrap();
        assert_eq!(asked.status, JobStatus::Running);
        let lease = asked.lease.clone().unwrap();
        let (_, cancel) = asked
            .heartbeat(&node("n1"), 1, &lease.id, now(), LEASE)
            .unwrap();
        assert!(cancel);
        assert_eq!(asked.cancel(now()), None, "asking twice changes nothing");

        // If the runner died, the next claim finishes the job as canceled instead of running it.
        match asked.claim(&node("n2"), "x", now() + Duration::seconds(60), LEASE) {
            Claim::Discard {
                status: JobStatus::Canceled,
                update: Some(job),
            } => {
                assert_eq!(job.status, JobStatus::Canceled)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
