//! What a change of one entity does to the others: a job's new state moves its task
//! (and, for planned work, the plan: subtasks accepted, workers retried or blocked, new
//! jobs created); a user's cancel ends the task and its jobs. `job`, `plan` and `task`
//! each hold their own rules and know nothing of each other's; this module is the one
//! place that combines them, and it is pure: the services read, call it, and write.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::JobId;
use crate::job::Job;
use crate::plan::{parse_draft, reason, JobRole, Plan, PlanPolicy, WorkerNext};
use crate::status::{JobStatus, TaskStatus};
use crate::task::Task;
use crate::ErrorCode;

/// The task status after one of its jobs changed: the job's, unless the task already
/// ended (a user's cancel stands even if the job then completes). `None`: no change.
pub fn task_after_job(task: &Task, job: &Job, now: Timestamp) -> Option<Task> {
    if task.status.is_terminal() || task.plan.is_some() {
        return None;
    }
    let status = job.status.task_status();
    (status != task.status).then(|| task.with_status(status, now))
}

/// A user's cancel of a task: the new task and the jobs that change.
pub fn cancel_task(task: &Task, jobs: &[Job], now: Timestamp) -> Result<Option<(Task, Vec<Job>)>> {
    match task.status {
        TaskStatus::Canceled => Ok(None),
        status if status.is_terminal() => Err(Error::conflict(
            ErrorCode::TaskFinished,
            format!("task {} already ended with status {status}", task.id),
        )),
        _ => Ok(Some((
            task.with_status(TaskStatus::Canceled, now),
            jobs.iter().filter_map(|job| job.cancel(now)).collect(),
        ))),
    }
}

/// What a change of one of its jobs does to a task: the task to write (when it changes)
/// and the jobs to create, each with the seconds its queue message waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobEffects {
    pub task: Option<Task>,
    pub new_jobs: Vec<(Job, u32)>,
}

/// Why a job that ended without success failed, in the user's words.
pub fn failure_reason(job: &Job) -> String {
    let output = job.output.as_ref();
    if let Some(error) = output.and_then(|o| o.error.as_deref()) {
        return reason(error);
    }
    if let Some(note) = &job.note {
        return reason(&note.message);
    }
    match output.and_then(|o| o.exit_code) {
        Some(code) => format!("the agent exited with status {code}"),
        None => format!("the job ended {}", job.status.as_str()),
    }
}

/// The effects of `job`'s new state on its task. For a plain task: the task takes the
/// job's status. For planned work: a finished planner either yields the subtasks (its
/// `planner_output`, checked by [`parse_draft`]) or is retried up to the limit, then the
/// task is `planning_failed`; a finished worker completes its subtask or is retried with
/// backoff, then blocks it. A task that ended (canceled) is left alone.
pub fn after_job(
    task: &Task,
    job: &Job,
    planner_output: Option<&str>,
    policy: &PlanPolicy,
    jitter: f64,
    now: Timestamp,
) -> JobEffects {
    let Some(plan) = &task.plan else {
        return JobEffects {
            task: task_after_job(task, job, now),
            new_jobs: Vec::new(),
        };
    };
    if task.status.is_terminal() {
        return JobEffects::default();
    }
    let mut plan = plan.clone();
    let mut status = task.status;
    let mut new_jobs = Vec::new();
    match job.role {
        JobRole::Task => {}
        JobRole::Plan if plan.planner_job.as_ref() != Some(&job.id) => {}
        JobRole::Plan => match job.status {
            JobStatus::Running => status = TaskStatus::Running,
            JobStatus::Queued | JobStatus::Canceled => {}
            finished => {
                let outcome = if finished == JobStatus::Completed {
                    parse_draft(planner_output.unwrap_or_default())
                } else {
                    Err(failure_reason(job))
                };
                match outcome {
                    Ok(draft) => {
                        plan.accept(&task.id, draft, now);
                        status = TaskStatus::Running;
                        if plan.auto_start {
                            new_jobs.extend(start_ready(&mut plan, task, now));
                        }
                    }
                    Err(why) if plan.planner_attempts < policy.max_planner_attempts => {
                        plan.planner_error = Some(reason(&why));
                        plan.planner_attempts += 1;
                        let next = Job::queued_as(JobId::generate(), task, JobRole::Plan, now);
                        plan.planner_job = Some(next.id.clone());
                        status = TaskStatus::Queued;
                        new_jobs.push((next, 0));
                    }
                    Err(why) => {
                        plan.planner_error = Some(reason(&why));
                        status = TaskStatus::PlanningFailed;
                    }
                }
            }
        },
        JobRole::Work { subtask } => {
            if job.status.is_terminal() && job.status != JobStatus::Canceled {
                let work = job.output.as_ref().and_then(|o| o.work.as_ref());
                let failure;
                let outcome = match (job.status, work) {
                    (JobStatus::Completed, Some(work)) => Ok(work),
                    (JobStatus::Completed, None) => {
                        Err("the worker's node reported no pushed branch")
                    }
                    _ => {
                        failure = failure_reason(job);
                        Err(failure.as_str())
                    }
                };
                let next_id = JobId::generate();
                if let WorkerNext::RetryAfter(delay) =
                    plan.worker_finished(&job.id, outcome, next_id.clone(), policy, jitter, now)
                {
                    let next = Job::queued_as(next_id, task, JobRole::Work { subtask }, now);
                    new_jobs.push((next, delay));
                }
            }
        }
    }
    if plan.is_done() {
        status = TaskStatus::Completed;
    }
    JobEffects {
        task: changed(task, plan, status, now),
        new_jobs,
    }
}

/// Starts every ready subtask (for projects that start them by themselves): the worker
/// jobs to create.
pub fn start_ready(plan: &mut Plan, task: &Task, now: Timestamp) -> Vec<(Job, u32)> {
    let mut jobs = Vec::new();
    for number in plan.ready() {
        let job = Job::queued_as(
            JobId::generate(),
            task,
            JobRole::Work { subtask: number },
            now,
        );
        if plan.start(number, job.id.clone(), now).is_ok() {
            jobs.push((job, 0));
        }
    }
    jobs
}

/// The task with this plan and status, versioned, if either changed.
pub fn changed(task: &Task, plan: Plan, status: TaskStatus, now: Timestamp) -> Option<Task> {
    if task.plan.as_ref() == Some(&plan) && task.status == status {
        return None;
    }
    let mut next = task.with_status(status, now);
    next.plan = Some(plan);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::{claimed, now, task};

    #[test]
    fn a_canceled_task_stays_canceled_when_its_job_completes() {
        let t = task();
        let (canceled, _) = cancel_task(&t, &[], now()).unwrap().unwrap();
        let run = claimed(
            &Job::queued(JobId::generate(), &t, now()),
            "n1",
            "b1",
            now(),
        );
        assert_eq!(task_after_job(&canceled, &run, now()), None);
        assert_eq!(
            task_after_job(&t, &run, now()).unwrap().status,
            TaskStatus::Running
        );
    }

    #[test]
    fn canceling_is_idempotent_but_not_for_finished_tasks() {
        let t = task();
        let (canceled, _) = cancel_task(&t, &[], now()).unwrap().unwrap();
        assert_eq!(cancel_task(&canceled, &[], now()).unwrap(), None);
        let done = t.with_status(TaskStatus::Completed, now());
        assert_eq!(
            cancel_task(&done, &[], now()).unwrap_err().code,
            "task_finished"
        );
    }
}
