//! Recovery from faults that no request notices: a node that died with nobody to take
//! its job over, a queue message that was lost, one that was dead-lettered. A scheduled
//! function (and, locally, a timer in the gateway) runs [`RecoveryService::sweep`]; the
//! rules for each job are in [`crate::job::Job::sweep`] and
//! [`crate::job::Job::dead_lettered`], and every task ends up finished or queued with a
//! live message.
//!
//! Operators can also list the dead-letter queue and send its messages back at once.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Result;
use crate::job::{message_for, Job, Recovery, RecoveryPolicy};
use crate::plan::PlanPolicy;
use crate::ports::{DeadLetters, JobQueue, TaskStore};
use crate::principal::{require_admin, Principal};
use crate::service::settings::SettingsService;
use crate::service::write::{apply_job_change, Writer};
use crate::service::write::{Tried, WRITE_ATTEMPTS};
use crate::wire::{DeadLetterList, DeadLetterView, JobMessage, RedriveReport, SweepReport};

/// Unfinished jobs read per page while sweeping.
const SWEEP_PAGE: u32 = 100;
/// Dead letters handled per sweep (SQS hands out at most 10 per call).
const DEAD_LETTERS_PER_SWEEP: u32 = 100;
/// How long a dead letter being handled stays hidden from other sweepers.
const DEAD_LETTER_HIDE_SECS: u32 = 60;

pub struct RecoveryService {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn JobQueue>,
    dead: Arc<dyn DeadLetters>,
    clock: Arc<dyn Clock>,
    policy: RecoveryPolicy,
    lease_secs: u64,
    /// How a planned task's planner and workers are retried when the sweep ends a job.
    plan_policy: PlanPolicy,
    live: Option<Arc<SettingsService>>,
}

impl RecoveryService {
    pub fn new(
        tasks: Arc<dyn TaskStore>,
        queue: Arc<dyn JobQueue>,
        dead: Arc<dyn DeadLetters>,
        clock: Arc<dyn Clock>,
        policy: RecoveryPolicy,
        lease_secs: u64,
    ) -> Self {
        Self {
            tasks,
            queue,
            dead,
            clock,
            policy,
            lease_secs,
            plan_policy: PlanPolicy::default(),
            live: None,
        }
    }

    /// Reads the planner and worker attempt limits from the system settings in force.
    pub fn with_settings(mut self, live: Arc<SettingsService>) -> Self {
        self.live = Some(live);
        self
    }

    async fn policy(&self) -> Result<PlanPolicy> {
        Ok(match &self.live {
            Some(live) => live.current().await?.plan_policy(&self.plan_policy),
            None => self.plan_policy.clone(),
        })
    }

    pub fn with_plan_policy(mut self, plan_policy: PlanPolicy) -> Self {
        self.plan_policy = plan_policy;
        self
    }

    /// Looks at every unfinished job and every dead letter once.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let mut after: Option<String> = None;
        loop {
            let (jobs, next) = self.tasks.active_jobs(SWEEP_PAGE, after.as_deref()).await?;
            for job in jobs {
                report.active += 1;
                let decision = job.sweep(self.clock.now(), &self.policy);
                self.apply(&job, decision, &mut report, |job, now, policy| {
                    job.sweep(now, policy)
                })
                .await?;
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        self.sweep_dead_letters(&mut report).await?;
        Ok(report)
    }

    async fn sweep_dead_letters(&self, report: &mut SweepReport) -> Result<()> {
        let mut seen = 0;
        while seen < DEAD_LETTERS_PER_SWEEP {
            let letters = self.dead.receive_dead(10, DEAD_LETTER_HIDE_SECS).await?;
            if letters.is_empty() {
                break;
            }
            seen += letters.len() as u32;
            for letter in letters {
                let job = match self.letter(&letter.body).await?.1 {
                    Some(job) => job,
                    None => {
                        // Not a job, or its job is gone: nothing to recover.
                        self.dead.delete_dead(&letter.receipt).await?;
                        report.dead_letters += 1;
                        continue;
                    }
                };
                let decision = job.dead_lettered(self.clock.now(), &self.policy);
                if decision == Recovery::Busy {
                    report.dead_letters_busy += 1;
                    continue;
                }
                self.apply(&job, decision, report, |job, now, policy| {
                    job.dead_lettered(now, policy)
                })
                .await?;
                self.dead.delete_dead(&letter.receipt).await?;
                report.dead_letters += 1;
            }
        }
        Ok(())
    }

    /// A dead letter's job message (when it is one) and its job (when it still exists).
    async fn letter(&self, body: &str) -> Result<(Option<JobMessage>, Option<Job>)> {
        let Ok(message) = serde_json::from_str::<JobMessage>(body) else {
            return Ok((None, None));
        };
        let job = self.tasks.job(&message.task_id, &message.job_id).await?;
        Ok((Some(message), job))
    }

    /// Writes a decision back (re-deciding on the fresh job after a lost race), then
    /// sends the message of a requeued job.
    async fn apply(
        &self,
        job: &Job,
        mut decision: Recovery,
        report: &mut SweepReport,
        decide: impl Fn(&Job, crate::clock::Timestamp, &RecoveryPolicy) -> Recovery,
    ) -> Result<()> {
        let mut current = job.clone();
        // Not `retry_on_conflict`: a lost race here means deciding again on the fresh job,
        // and a sweep that keeps losing leaves the job to the next sweep.
        for _ in 0..WRITE_ATTEMPTS {
            let (next, delay) = match &decision {
                Recovery::Leave | Recovery::Busy => return Ok(()),
                Recovery::Requeue { job, delay_secs } => (job.as_ref(), Some(*delay_secs)),
                Recovery::End(job) => (job.as_ref(), None),
            };
            let Some(task) = self.tasks.task(&current.task_id).await? else {
                return Ok(());
            };
            let now = self.clock.now();
            let policy = self.policy().await?;
            let written = apply_job_change(
                Writer {
                    tasks: self.tasks.as_ref(),
                    queue: self.queue.as_ref(),
                    lease_secs: self.lease_secs,
                },
                &task,
                next,
                None,
                &policy,
                None,
                now,
            )
            .await;
            if let Tried::Lost = Tried::written(written, ())? {
                // Someone else changed the job (a claim, a result): decide again.
                let Some(fresh) = self.tasks.job(&current.task_id, &current.id).await? else {
                    return Ok(());
                };
                decision = decide(&fresh, now, &self.policy);
                current = fresh;
                continue;
            }
            match delay {
                Some(delay) => {
                    let message = message_for(&task, next, self.lease_secs, now);
                    self.queue.enqueue_delayed(&message, delay).await?;
                    report.requeued += 1;
                }
                None => report.ended += 1,
            }
            return Ok(());
        }
        Ok(())
    }

    /// The dead-letter queue as it is now (looking does not hide or consume anything).
    pub async fn dead_letters(&self, principal: &Principal) -> Result<DeadLetterList> {
        require_admin(principal)?;
        let mut views = Vec::new();
        for letter in self.dead.receive_dead(10, 0).await? {
            let (message, job) = self.letter(&letter.body).await?;
            views.push(DeadLetterView {
                message_id: letter.message_id,
                task_id: message.as_ref().map(|m| m.task_id.clone()),
                job_id: message.as_ref().map(|m| m.job_id.clone()),
                job_status: job.map(|job| job.status),
            });
        }
        Ok(DeadLetterList {
            dead_letters: views,
        })
    }

    /// Sends every dead letter of an unfinished job back to its queue now (an operator's
    /// decision, so the requeue bound does not apply); drops the rest.
    pub async fn redrive(&self, principal: &Principal) -> Result<RedriveReport> {
        require_admin(principal)?;
        let mut report = RedriveReport::default();
        loop {
            let letters = self.dead.receive_dead(10, DEAD_LETTER_HIDE_SECS).await?;
            if letters.is_empty() {
                return Ok(report);
            }
            for letter in letters {
                match self.letter(&letter.body).await? {
                    (Some(message), Some(job)) if !job.status.is_terminal() => {
                        self.queue.enqueue(&message).await?;
                        report.redriven += 1;
                    }
                    _ => report.dropped += 1,
                }
                self.dead.delete_dead(&letter.receipt).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::ids::{JobId, NodeId, TaskId};
    use crate::memory::MemoryStore;
    use crate::service::jobs::{JobService, JobSettings};
    use crate::service::tasks::{TaskService, TaskSettings};
    use crate::signing::NodeKeys;
    use crate::status::{JobStatus, TaskStatus};
    use crate::wire::{ClaimDecision, CreateTaskRequest, JobStartedRequest};
    use time::macros::datetime;
    use time::Duration;

    struct Fixture {
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
        tasks: TaskService,
        jobs: JobService,
        recovery: RecoveryService,
        alice: Principal,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00 UTC)));
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
                NodeKeys::new(b"k".to_vec()),
                JobSettings::default(),
            ),
            recovery: RecoveryService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                clock.clone(),
                RecoveryPolicy {
                    stale_after_secs: 60,
                    max_redrives: 2,
                },
                60,
            ),
            store,
            clock,
            alice: Principal::test_user("alice"),
        }
    }

    async fn task(f: &Fixture) -> (TaskId, JobId) {
        let req = CreateTaskRequest {
            commands: Some(vec!["true".into()]),
            ..Default::default()
        };
        let task = f.tasks.create(&f.alice, req).await.unwrap().task_id;
        (task, f.store.enqueued().last().unwrap().job_id.clone())
    }

    async fn claim(f: &Fixture, task: &TaskId, job: &JobId) {
        let req = JobStartedRequest {
            task_id: task.clone(),
            boot_id: "boot".into(),
            receive_count: 1,
        };
        let decision = f.jobs.started(&NodeId::generate(), job, req).await.unwrap();
        assert!(matches!(decision, ClaimDecision::Run(_)), "{decision:?}");
    }

    async fn status(f: &Fixture, task: &TaskId) -> (TaskStatus, JobStatus, Option<String>) {
        let result = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        let job = &result.jobs[0];
        (result.status, job.status, job.reason.clone())
    }

    #[tokio::test]
    async fn a_lost_node_is_requeued_with_backoff_then_fails_the_task() {
        let f = fixture();
        let (task, job) = task(&f).await;
        claim(&f, &task, &job).await;
        // Lease (60 s) live, then expired but recently: left alone.
        assert_eq!(f.recovery.sweep().await.unwrap().requeued, 0);
        f.clock.advance(Duration::seconds(100));
        assert_eq!(f.recovery.sweep().await.unwrap().requeued, 0);

        for round in 0..2u32 {
            f.clock.advance(Duration::seconds(60));
            let report = f.recovery.sweep().await.unwrap();
            assert_eq!((report.requeued, report.ended), (1, 0), "round {round}");
            assert_eq!(
                status(&f, &task).await,
                (
                    TaskStatus::Queued,
                    JobStatus::Queued,
                    Some("node_lost".into())
                )
            );
            assert_eq!(*f.store.delays().last().unwrap(), 30 << round);
            claim(&f, &task, &job).await;
            f.clock.advance(Duration::seconds(120));
        }
        f.clock.advance(Duration::seconds(60));
        let report = f.recovery.sweep().await.unwrap();
        assert_eq!((report.requeued, report.ended), (0, 1));
        let (task_status, job_status, reason) = status(&f, &task).await;
        assert_eq!(
            (task_status, job_status),
            (TaskStatus::Failed, JobStatus::Failed)
        );
        assert_eq!(reason.as_deref(), Some("node_lost"));
        let result = f.tasks.result(&f.alice, task.as_str()).await.unwrap();
        assert!(result.jobs[0]
            .error
            .as_deref()
            .unwrap()
            .contains("giving up"));
        assert_eq!(
            f.recovery.sweep().await.unwrap().active,
            0,
            "nothing left to look at"
        );
    }

    #[tokio::test]
    async fn dead_letters_are_requeued_dropped_or_left_for_a_live_node() {
        let f = fixture();
        let (queued_task, _) = task(&f).await;
        let first = serde_json::to_string(f.store.enqueued().last().unwrap()).unwrap();
        let (held_task, held_job) = task(&f).await;
        let held = serde_json::to_string(f.store.enqueued().last().unwrap()).unwrap();
        claim(&f, &held_task, &held_job).await;
        f.store.dead_letter(first);
        f.store.dead_letter(held);
        f.store.dead_letter("not a job".into());

        let report = f.recovery.sweep().await.unwrap();
        assert_eq!((report.dead_letters, report.dead_letters_busy), (2, 1));
        assert_eq!(report.requeued, 1);
        assert_eq!(
            status(&f, &queued_task).await,
            (
                TaskStatus::Queued,
                JobStatus::Queued,
                Some("delivery_exhausted".into())
            )
        );
        assert_eq!(
            f.store.dead_letters().len(),
            1,
            "the live job's letter waits"
        );
        assert_eq!(status(&f, &held_task).await.1, JobStatus::Running);
    }

    #[tokio::test]
    async fn a_job_dead_lettered_too_often_fails_with_a_stable_reason() {
        let f = fixture();
        let (task, _) = task(&f).await;
        let body = serde_json::to_string(f.store.enqueued().last().unwrap()).unwrap();
        for _ in 0..3 {
            f.store.dead_letter(body.clone());
            f.recovery.sweep().await.unwrap();
        }
        let (task_status, _, reason) = status(&f, &task).await;
        assert_eq!(task_status, TaskStatus::Failed);
        assert_eq!(reason.as_deref(), Some("delivery_exhausted"));
        // Once the job ended, its letters are simply dropped.
        f.store.dead_letter(body);
        let report = f.recovery.sweep().await.unwrap();
        assert_eq!(
            (report.dead_letters, report.requeued, report.ended),
            (1, 0, 0)
        );
    }

    #[tokio::test]
    async fn a_queued_job_nobody_took_gets_a_new_message_but_is_never_failed_for_waiting() {
        let f = fixture();
        let (task, _) = task(&f).await;
        let sent = f.store.enqueued().len();
        f.clock.advance(Duration::seconds(30));
        f.recovery.sweep().await.unwrap();
        assert_eq!(f.store.enqueued().len(), sent, "not stale yet");
        for _ in 0..5 {
            f.clock.advance(Duration::seconds(3600));
            f.recovery.sweep().await.unwrap();
        }
        assert_eq!(
            f.store.enqueued().len(),
            sent + 2,
            "bounded by max_redrives"
        );
        assert_eq!(status(&f, &task).await.0, TaskStatus::Queued);
    }

    #[tokio::test]
    async fn only_admins_see_and_redrive_dead_letters() {
        let f = fixture();
        let (_, _) = task(&f).await;
        let body = serde_json::to_string(f.store.enqueued().last().unwrap()).unwrap();
        f.store.dead_letter(body);
        assert_eq!(
            f.recovery.dead_letters(&f.alice).await.unwrap_err().code,
            "admin_required"
        );
        let admin = Principal {
            is_admin: true,
            ..f.alice.clone()
        };
        let list = f.recovery.dead_letters(&admin).await.unwrap();
        assert_eq!(list.dead_letters[0].job_status, Some(JobStatus::Queued));
        let sent = f.store.enqueued().len();
        let report = f.recovery.redrive(&admin).await.unwrap();
        assert_eq!((report.redriven, report.dropped), (1, 0));
        assert_eq!(f.store.enqueued().len(), sent + 1);
        assert!(f.store.dead_letters().is_empty());
    }
}
