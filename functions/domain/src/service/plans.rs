//! Planned work, the user's side: the subtasks of a planned task, starting, retrying and
//! merging them, starting planning again, and the record of every agent run. The rules
//! are in [`crate::plan`]; here they are read, applied and written back conditionally,
//! with the jobs they create sent to the queue.

use crate::service::write::{commit_effects, retry_on_conflict, Tried, Writer};
use crate::ErrorCode;
use std::sync::Arc;

use crate::clock::{Clock, Timestamp};
use crate::error::{Error, Result};
use crate::ids::JobId;
use crate::job::Job;
use crate::plan::{JobRole, Plan, Subtask};
use crate::ports::{JobQueue, TaskStore};
use crate::principal::Principal;
use crate::service::tasks::TaskService;
use crate::status::{JobStatus, TaskStatus};
use crate::task::Task;
use crate::transitions::{changed, start_ready, JobEffects};
use crate::wire::{RunList, RunLogs, RunView, SubtaskList, TaskView};

pub struct PlanService {
    tasks: Arc<dyn TaskStore>,
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    task_service: Arc<TaskService>,
    lease_secs: u64,
}

/// A subtask number from a path segment.
pub fn parse_subtask_number(text: &str) -> Result<u32> {
    text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
        Error::validation(
            ErrorCode::InvalidSubtask,
            format!("a subtask is named by its number (1, 2, …), got '{text}'"),
        )
    })
}

fn not_planned(task: &Task) -> Error {
    Error::validation(
        ErrorCode::NotPlanned,
        format!(
            "task {} is not planned work (create it with plan: true)",
            task.id
        ),
    )
}

impl PlanService {
    pub fn new(
        tasks: Arc<dyn TaskStore>,
        queue: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
        task_service: Arc<TaskService>,
        lease_secs: u64,
    ) -> Self {
        Self {
            tasks,
            queue,
            clock,
            task_service,
            lease_secs,
        }
    }

    async fn planned(&self, principal: &Principal, reference: &str) -> Result<(Task, Plan)> {
        let task = self.task_service.owned_task(principal, reference).await?;
        let plan = task.plan.clone().ok_or_else(|| not_planned(&task))?;
        Ok((task, plan))
    }

    pub async fn subtasks(&self, principal: &Principal, reference: &str) -> Result<SubtaskList> {
        let (task, plan) = self.planned(principal, reference).await?;
        Ok(SubtaskList {
            task_id: task.id,
            status: task.status,
            plan: plan.summary(),
            subtasks: plan.subtasks,
        })
    }

    pub async fn subtask(
        &self,
        principal: &Principal,
        reference: &str,
        number: u32,
    ) -> Result<Subtask> {
        let (_, plan) = self.planned(principal, reference).await?;
        plan.subtask(number).cloned()
    }

    /// Reads the plan, changes it with `change` (which may create jobs), and writes it
    /// back conditionally, retrying when another writer got there first.
    async fn change(
        &self,
        principal: &Principal,
        reference: &str,
        change: impl Fn(&Task, &mut Plan, Timestamp) -> Result<(TaskStatus, Vec<(Job, u32)>)>,
    ) -> Result<Task> {
        let change = &change;
        retry_on_conflict("the task", move || async move {
            let (task, mut plan) = self.planned(principal, reference).await?;
            if matches!(task.status, TaskStatus::Canceled | TaskStatus::Completed) {
                return Err(Error::conflict(
                    ErrorCode::TaskFinished,
                    format!("task {} already ended with status {}", task.id, task.status),
                ));
            }
            let now = self.clock.now();
            let (status, new_jobs) = change(&task, &mut plan, now)?;
            let next = changed(&task, plan, status, now);
            let written = next.clone().unwrap_or_else(|| task.clone());
            let effects = JobEffects {
                task: next,
                new_jobs,
            };
            let write = commit_effects(
                Writer {
                    tasks: self.tasks.as_ref(),
                    queue: self.queue.as_ref(),
                    lease_secs: self.lease_secs,
                },
                &task,
                None,
                effects,
                None,
                now,
            )
            .await;
            Tried::written(write, written)
        })
        .await
    }

    /// `ready → in_progress`: a worker job is queued for it.
    pub async fn start(
        &self,
        principal: &Principal,
        reference: &str,
        number: u32,
    ) -> Result<Subtask> {
        self.put_to_work(principal, reference, number, Plan::start)
            .await
    }

    /// `blocked_failure → in_progress`, attempts counted afresh.
    pub async fn retry(
        &self,
        principal: &Principal,
        reference: &str,
        number: u32,
    ) -> Result<Subtask> {
        self.put_to_work(principal, reference, number, Plan::retry)
            .await
    }

    /// Moves subtask `number` to `in_progress` by `transition` under a new worker job.
    async fn put_to_work(
        &self,
        principal: &Principal,
        reference: &str,
        number: u32,
        transition: fn(&mut Plan, u32, JobId, Timestamp) -> Result<()>,
    ) -> Result<Subtask> {
        let task = self
            .change(principal, reference, |task, plan, now| {
                let job = worker_job(task, number, now);
                transition(plan, number, job.id.clone(), now)?;
                Ok((task.status, vec![(job, 0)]))
            })
            .await?;
        subtask_of(&task, number)
    }

    /// `completed → merged`: dependents whose dependencies are all merged become ready
    /// (and start, where the project says so); the last merge completes the task.
    pub async fn mark_merged(
        &self,
        principal: &Principal,
        reference: &str,
        number: u32,
    ) -> Result<Subtask> {
        let task = self
            .change(principal, reference, |task, plan, now| {
                plan.mark_merged(number, now)?;
                let jobs = if plan.auto_start {
                    start_ready(plan, task, now)
                } else {
                    Vec::new()
                };
                let status = if plan.is_done() {
                    TaskStatus::Completed
                } else {
                    task.status
                };
                Ok((status, jobs))
            })
            .await?;
        subtask_of(&task, number)
    }

    /// Starts planning again after `planning_failed`, without retyping the request.
    pub async fn retry_planning(&self, principal: &Principal, reference: &str) -> Result<TaskView> {
        let task = self
            .change(principal, reference, |task, plan, now| {
                if task.status != TaskStatus::PlanningFailed {
                    return Err(Error::conflict(
                        ErrorCode::NotPlanningFailed,
                        format!(
                            "task {} is {}; only a task whose planning failed is planned again",
                            task.id, task.status
                        ),
                    ));
                }
                let planner = Job::queued_as(JobId::generate(), task, JobRole::Plan, now);
                plan.planner_attempts = 1;
                plan.planner_job = Some(planner.id.clone());
                Ok((TaskStatus::Queued, vec![(planner, 0)]))
            })
            .await?;
        Ok(task.view())
    }

    /// Every agent run of the task: each job attempt with its role, times, outcome and
    /// tokens, oldest first.
    pub async fn runs(&self, principal: &Principal, reference: &str) -> Result<RunList> {
        let task = self.task_service.owned_task(principal, reference).await?;
        let mut jobs = self.tasks.jobs(&task.id).await?;
        jobs.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(RunList {
            task_id: task.id,
            status: task.status,
            runs: jobs.iter().map(run_view).collect(),
        })
    }

    /// One run's logs (its agent's steps on stderr, its answer or plan on stdout).
    pub async fn run_logs(
        &self,
        principal: &Principal,
        reference: &str,
        run: &str,
    ) -> Result<RunLogs> {
        let task = self.task_service.owned_task(principal, reference).await?;
        let job = match JobId::parse(run) {
            Some(id) => self.tasks.job(&task.id, &id).await?,
            None => None,
        }
        .ok_or_else(|| {
            Error::not_found(
                ErrorCode::RunNotFound,
                format!("no run '{run}' in task {}", task.id),
            )
        })?;
        let (stdout, stderr) = self.task_service.job_streams(&job).await?;
        Ok(RunLogs {
            task_id: task.id,
            run: run_view(&job),
            stdout,
            stderr,
        })
    }

    /// The task as it is now (for event streams).
    pub async fn snapshot(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<(Task, Vec<Job>)> {
        let task = self.task_service.owned_task(principal, reference).await?;
        let jobs = self.tasks.jobs(&task.id).await?;
        Ok((task, jobs))
    }
}

fn worker_job(task: &Task, number: u32, now: Timestamp) -> Job {
    Job::queued_as(
        JobId::generate(),
        task,
        JobRole::Work { subtask: number },
        now,
    )
}

fn subtask_of(task: &Task, number: u32) -> Result<Subtask> {
    task.plan
        .as_ref()
        .ok_or_else(|| not_planned(task))?
        .subtask(number)
        .cloned()
}

pub fn run_view(job: &Job) -> RunView {
    let output = job.output.as_ref();
    let (role, subtask) = match job.role {
        JobRole::Task => ("task", None),
        JobRole::Plan => ("planner", None),
        JobRole::Work { subtask } => ("worker", Some(subtask)),
    };
    RunView {
        run_id: job.id.clone(),
        role: role.into(),
        subtask,
        attempt: job.attempt,
        status: job.status,
        started_at: job.started_at,
        ended_at: output.map(|o| o.ended_at),
        exit_code: output.and_then(|o| o.exit_code),
        error: match job.status {
            JobStatus::Failed | JobStatus::Timeout => Some(crate::transitions::failure_reason(job)),
            _ => None,
        },
        usage: output.and_then(|o| o.usage),
        work: output.and_then(|o| o.work.clone()),
        progress: job.progress.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::ids::{NodeId, TaskId};
    use crate::memory::MemoryStore;
    use crate::plan::{PlanPolicy, WorkReport};
    use crate::principal::Principal;
    use crate::service::jobs::{JobService, JobSettings};
    use crate::service::projects::ProjectService;
    use crate::service::tasks::TaskSettings;
    use crate::signing::NodeKeys;
    use crate::status::JobOutcome;
    use crate::wire::{
        ClaimDecision, CreateProjectRequest, CreateTaskRequest, JobResultReport, JobStartedRequest,
        Truncated,
    };
    use time::macros::datetime;

    /// For tests: each run's role and subtask.
    fn ids(list: &RunList) -> Vec<(String, Option<u32>)> {
        list.runs
            .iter()
            .map(|r| (r.role.clone(), r.subtask))
            .collect()
    }

    struct Fixture {
        store: Arc<MemoryStore>,
        tasks: Arc<TaskService>,
        plans: PlanService,
        jobs: JobService,
        alice: Principal,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00 UTC)));
        let projects = Arc::new(ProjectService::new(store.clone(), clock.clone()));
        let tasks = Arc::new(
            TaskService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                clock.clone(),
                TaskSettings::default(),
            )
            .with_projects(projects.clone()),
        );
        let jobs = JobService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            NodeKeys::new(b"k".to_vec()),
            JobSettings::default(),
        )
        .with_planning(store.clone(), store.clone(), PlanPolicy::default())
        .with_credentials(Arc::new(crate::service::CredentialService::new(
            store.clone(),
            Some(store.clone()),
            store.clone(),
            clock.clone(),
        )));
        Fixture {
            plans: PlanService::new(store.clone(), store.clone(), clock, tasks.clone(), 60),
            store,
            tasks,
            jobs,
            alice: Principal::test_user("alice"),
        }
    }

    impl Fixture {
        async fn planned_task(&self) -> TaskView {
            ProjectService::new(self.store.clone(), Arc::new(crate::clock::SystemClock))
                .create(
                    &self.alice,
                    CreateProjectRequest {
                        name: "widgets".into(),
                        repo_url: "file:///srv/widgets.git".into(),
                        credential: Some("s3cret-token".into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            self.tasks
                .create(
                    &self.alice,
                    CreateTaskRequest {
                        prompt: Some("add a README".into()),
                        project: Some("widgets".into()),
                        plan: true,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
        }

        /// Plays a node: claims the newest queued job of `role` and reports `stdout`.
        async fn run_job(
            &self,
            task: &TaskId,
            role: &str,
            status: JobOutcome,
            stdout: &str,
            work: Option<WorkReport>,
        ) {
            let node = NodeId::generate();
            let jobs = self.store.jobs(task).await.unwrap();
            let job = jobs
                .iter()
                .filter(|j| j.status == JobStatus::Queued && run_view(j).role == role)
                .max_by_key(|j| j.created_at)
                .unwrap_or_else(|| panic!("no queued {role} job in {jobs:?}"));
            let decision = self
                .jobs
                .started(
                    &node,
                    &job.id,
                    JobStartedRequest {
                        task_id: task.clone(),
                        boot_id: "b".into(),
                        receive_count: 1,
                    },
                )
                .await
                .unwrap();
            let ClaimDecision::Run(claim) = decision else {
                panic!("{decision:?}")
            };
            let now = datetime!(2026-11-22 10:00 UTC);
            self.jobs
                .result(
                    &node,
                    &job.id,
                    JobResultReport {
                        task_id: task.clone(),
                        attempt: claim.attempt,
                        lease_id: claim.lease_id.clone(),
                        status,
                        exit_code: Some(if status == JobOutcome::Completed {
                            0
                        } else {
                            1
                        }),
                        failed_command: None,
                        error: (status != JobOutcome::Completed).then(|| "tests failed".to_owned()),
                        stdout: stdout.into(),
                        stderr: String::new(),
                        truncated: Truncated::default(),
                        raw: Default::default(),
                        started_at: now,
                        ended_at: now,
                        usage: None,
                        work,
                        answer: None,
                        progress: None,
                    },
                )
                .await
                .unwrap();
        }
    }

    const CHAIN: &str = r#"{"subtasks":[
        {"title":"One","spec":"first","acceptance":"a","depends_on":[]},
        {"title":"Two","spec":"second","acceptance":"b","depends_on":[1]}]}"#;

    fn work(branch: &str) -> Option<WorkReport> {
        Some(WorkReport {
            branch: branch.into(),
            commit: "c0ffee".into(),
            pull_request: None,
        })
    }

    #[tokio::test]
    async fn a_labelled_projects_work_and_credential_go_only_to_nodes_with_the_label() {
        use crate::node::Node;
        use crate::wire::{NodeState, UpdateProjectRequest};
        let f = fixture();
        let task = f.planned_task().await;
        ProjectService::new(f.store.clone(), Arc::new(crate::clock::SystemClock))
            .update(
                &f.alice,
                "widgets",
                UpdateProjectRequest {
                    node_label: Some("trusted".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let job = f.store.jobs(&task.task_id).await.unwrap()[0].id.clone();
        let now = datetime!(2026-11-22 10:00 UTC);
        let mut node = Node::test("gpu-1", NodeState::Enabled, now);
        node.labels = vec!["gpu".into()];
        let claim = |node: Node| {
            let jobs = &f.jobs;
            let (job, task) = (job.clone(), task.task_id.clone());
            async move {
                jobs.started_on(
                    &node,
                    &job,
                    JobStartedRequest {
                        task_id: task,
                        boot_id: "b".into(),
                        receive_count: 1,
                    },
                )
                .await
                .unwrap()
            }
        };
        let elsewhere = claim(node.clone()).await;
        let ClaimDecision::Elsewhere { reason, .. } = &elsewhere else {
            panic!("{elsewhere:?}")
        };
        assert!(reason.contains("'trusted'"), "{reason}");
        assert!(!format!("{elsewhere:?}").contains("s3cret-token"));
        assert_eq!(
            f.store.jobs(&task.task_id).await.unwrap()[0].status,
            JobStatus::Queued,
            "nothing was claimed"
        );
        node.labels.push("trusted".into());
        let ClaimDecision::Run(claim) = claim(node).await else {
            panic!("a labelled node runs it")
        };
        let credential = claim.spec.agent.and_then(|a| a.credential);
        assert_eq!(credential.map(|c| c.0).as_deref(), Some("s3cret-token"));
    }

    #[tokio::test]
    async fn a_project_naming_a_stored_credential_hands_its_value_out_only_while_enabled() {
        use crate::node::Node;
        use crate::wire::UpdateProjectRequest;
        use crate::wire::{CreateCredentialRequest, NodeState, UpdateCredentialRequest};
        let f = fixture();
        let task = f.planned_task().await;
        let clock = Arc::new(crate::clock::SystemClock);
        let credentials = crate::service::CredentialService::new(
            f.store.clone(),
            Some(f.store.clone()),
            f.store.clone(),
            clock.clone(),
        );
        let stored = CreateCredentialRequest {
            name: "bot".into(),
            provider: "github".into(),
            value: "ghp_stored".into(),
            description: None,
        };
        credentials.create(&f.alice, stored).await.unwrap();
        let use_it = UpdateProjectRequest {
            credential_name: Some("bot".into()),
            ..Default::default()
        };
        ProjectService::new(f.store.clone(), clock)
            .with_credentials(f.store.clone())
            .update(&f.alice, "widgets", use_it)
            .await
            .unwrap();
        let disable = |enabled| UpdateCredentialRequest {
            enabled: Some(enabled),
            description: None,
        };
        credentials
            .update(&f.alice, "bot", disable(false))
            .await
            .unwrap();
        let job = f.store.jobs(&task.task_id).await.unwrap()[0].id.clone();
        let node = Node::test("gpu-1", NodeState::Enabled, datetime!(2026-11-22 10:00 UTC));
        let started = JobStartedRequest {
            task_id: task.task_id.clone(),
            boot_id: "b".into(),
            receive_count: 1,
        };
        let waits = f
            .jobs
            .started_on(&node, &job, started.clone())
            .await
            .unwrap();
        let ClaimDecision::Elsewhere { reason, .. } = &waits else {
            panic!("{waits:?}")
        };
        assert!(reason.contains("'bot' is disabled"), "{reason}");
        credentials
            .update(&f.alice, "bot", disable(true))
            .await
            .unwrap();
        let ClaimDecision::Run(claim) = f.jobs.started_on(&node, &job, started).await.unwrap()
        else {
            panic!("an enabled credential is handed out")
        };
        let credential = claim.spec.agent.and_then(|a| a.credential);
        assert_eq!(credential.map(|c| c.0).as_deref(), Some("ghp_stored"));
    }

    #[tokio::test]
    async fn a_plan_becomes_subtasks_that_run_in_dependency_order_until_the_task_completes() {
        let f = fixture();
        let task = f.planned_task().await;
        assert_eq!(task.plan.as_ref().unwrap().planner_attempts, 1);
        assert_eq!(
            f.store.jobs(&task.task_id).await.unwrap()[0].role,
            JobRole::Plan
        );
        f.run_job(&task.task_id, "planner", JobOutcome::Completed, CHAIN, None)
            .await;
        let list = f
            .plans
            .subtasks(&f.alice, task.task_id.as_str())
            .await
            .unwrap();
        assert_eq!(list.status, TaskStatus::Running);
        let states: Vec<&str> = list.subtasks.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(states, vec!["ready", "blocked_dependency"]);

        let err = f
            .plans
            .start(&f.alice, task.task_id.as_str(), 2)
            .await
            .unwrap_err();
        assert_eq!(err.code, "subtask_blocked");
        f.plans
            .start(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        f.run_job(
            &task.task_id,
            "worker",
            JobOutcome::Completed,
            "done",
            work("cyn-1-one"),
        )
        .await;
        let one = f
            .plans
            .subtask(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        assert_eq!(
            (one.state.as_str(), one.commit.as_deref()),
            ("completed", Some("c0ffee"))
        );
        f.plans
            .mark_merged(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        f.plans
            .start(&f.alice, task.task_id.as_str(), 2)
            .await
            .unwrap();
        f.run_job(
            &task.task_id,
            "worker",
            JobOutcome::Completed,
            "done",
            work("cyn-2-two"),
        )
        .await;
        f.plans
            .mark_merged(&f.alice, task.task_id.as_str(), 2)
            .await
            .unwrap();
        let done = f.tasks.get(&f.alice, task.task_id.as_str()).await.unwrap();
        assert_eq!(done.status, TaskStatus::Completed);
        let runs = f.plans.runs(&f.alice, task.task_id.as_str()).await.unwrap();
        assert_eq!(
            ids(&runs),
            vec![
                ("planner".into(), None),
                ("worker".into(), Some(1)),
                ("worker".into(), Some(2))
            ]
        );
    }

    #[tokio::test]
    async fn invalid_plans_are_retried_then_planning_fails_and_can_be_retried() {
        let f = fixture();
        let task = f.planned_task().await;
        let cycle = r#"{"subtasks":[{"title":"A","spec":"a","acceptance":"","depends_on":[2]},{"title":"B","spec":"b","acceptance":"","depends_on":[1]}]}"#;
        for _ in 0..3 {
            f.run_job(&task.task_id, "planner", JobOutcome::Completed, cycle, None)
                .await;
        }
        let view = f.tasks.get(&f.alice, task.task_id.as_str()).await.unwrap();
        assert_eq!(view.status, TaskStatus::PlanningFailed);
        let plan = view.plan.unwrap();
        assert_eq!(
            plan.planner_error.as_deref(),
            Some("the dependencies form a cycle: 1 → 2 → 1")
        );
        assert_eq!(plan.planner_attempts, 3);
        assert_eq!(
            f.store.enqueued().len(),
            3,
            "one message per planner attempt"
        );

        let again = f
            .plans
            .retry_planning(&f.alice, task.task_id.as_str())
            .await
            .unwrap();
        assert_eq!(again.status, TaskStatus::Queued);
        assert_eq!(
            f.plans
                .retry_planning(&f.alice, task.task_id.as_str())
                .await
                .unwrap_err()
                .code,
            "not_planning_failed"
        );
        f.run_job(&task.task_id, "planner", JobOutcome::Completed, CHAIN, None)
            .await;
        assert_eq!(
            f.tasks
                .get(&f.alice, task.task_id.as_str())
                .await
                .unwrap()
                .status,
            TaskStatus::Running
        );
    }

    #[tokio::test]
    async fn a_failing_worker_is_retried_with_backoff_then_blocks_until_retried() {
        let f = fixture();
        let task = f.planned_task().await;
        f.run_job(&task.task_id, "planner", JobOutcome::Completed, CHAIN, None)
            .await;
        f.plans
            .start(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        for _ in 0..3 {
            f.run_job(&task.task_id, "worker", JobOutcome::Failed, "", None)
                .await;
        }
        let one = f
            .plans
            .subtask(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        assert_eq!(one.state.as_str(), "blocked_failure");
        assert_eq!(
            one.reason.as_deref(),
            Some("3 attempts failed; the last: tests failed")
        );
        let delays: Vec<u32> = f.store.delays().into_iter().skip(2).collect();
        assert_eq!(delays.len(), 2, "{delays:?}");
        assert!(
            (2..=5).contains(&delays[0]) && (5..=10).contains(&delays[1]),
            "{delays:?}"
        );
        f.plans
            .retry(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        f.run_job(
            &task.task_id,
            "worker",
            JobOutcome::Completed,
            "",
            work("b"),
        )
        .await;
        let one = f
            .plans
            .subtask(&f.alice, task.task_id.as_str(), 1)
            .await
            .unwrap();
        assert_eq!(one.state.as_str(), "completed");
    }

    #[tokio::test]
    async fn only_the_owner_sees_a_plan_and_plain_tasks_have_none() {
        let f = fixture();
        let task = f.planned_task().await;
        let bob = Principal::test_user("bob");
        let err = f
            .plans
            .subtasks(&bob, task.task_id.as_str())
            .await
            .unwrap_err();
        assert_eq!(err.code, "task_not_found");
        let plain = f
            .tasks
            .create(
                &f.alice,
                CreateTaskRequest {
                    commands: Some(vec!["true".into()]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            f.plans
                .subtasks(&f.alice, plain.task_id.as_str())
                .await
                .unwrap_err()
                .code,
            "not_planned"
        );
    }
}
