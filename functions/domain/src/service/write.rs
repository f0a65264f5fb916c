//! The one way a service changes stored state: read, apply a pure change, write the
//! result back conditionally, and when another writer got there first, read again and
//! retry, a bounded number of times. Every read-modify-write of the services goes
//! through [`retry_on_conflict`]; a try says how it ended with [`Tried`]. (The sweep's,
//! which decides again after a lost race and leaves a contended job to the next sweep,
//! keeps its own loop over [`Tried`].)
//!
//! [`apply_job_change`] is how a job's change reaches its task, from the node's
//! callbacks and the recovery sweep alike: the job, the task as
//! [`crate::transitions`] changes it, and the jobs that follow, in one commit.

use std::future::Future;

use crate::clock::{random_fraction, Timestamp};
use crate::job::{message_for, Job};
use crate::plan::PlanPolicy;
use crate::ports::{JobQueue, TaskStore, Write};
use crate::task::Task;
use crate::transitions::{after_job, JobEffects};
use crate::usage::UsageEntry;
use crate::{Error, Result, StoreError};

/// Tries of one read-modify-write before the caller gets a 503 to retry later.
pub(crate) const WRITE_ATTEMPTS: usize = 5;

/// How one try of a read-modify-write ended.
pub(crate) enum Tried<T> {
    /// Done, written or with nothing to write: the answer.
    Done(T),
    /// Another writer changed the state first: read again and try again.
    Lost,
}

impl<T> Tried<T> {
    /// The try's end from its conditional write: a lost condition is [`Tried::Lost`],
    /// any other store failure an error.
    pub(crate) fn written(write: Result<(), StoreError>, answer: T) -> Result<Tried<T>> {
        match write {
            Ok(()) => Ok(Tried::Done(answer)),
            Err(StoreError::Conflict(_)) => Ok(Tried::Lost),
            Err(err) => Err(err.into()),
        }
    }
}

/// Runs `attempt` (read, apply, write) until it is done, at most [`WRITE_ATTEMPTS`]
/// times; `what` names the thing that kept changing in the error after the last.
///
/// `attempt` is a `move` closure over references returning an `async move` block, so
/// the futures stay `Send` for the handlers that await them.
pub(crate) async fn retry_on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Tried<T>>>,
{
    for _ in 0..WRITE_ATTEMPTS {
        if let Tried::Done(answer) = attempt().await? {
            return Ok(answer);
        }
    }
    Err(Error::unavailable(format!(
        "{what} kept changing while it was updated; try again"
    )))
}

/// Writes a job's change with what it does to its task (see [`after_job`]), sending the
/// messages of the jobs it creates first: a message whose job was never written is
/// harmless (its claim finds no job), a job without a message would wait for the sweep.
pub(crate) async fn apply_job_change(
    to: Writer<'_>,
    task: &Task,
    job: &Job,
    planner_output: Option<&str>,
    policy: &PlanPolicy,
    usage: Option<&UsageEntry>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let effects = after_job(task, job, planner_output, policy, random_fraction(), now);
    commit_effects(to, task, Some(job), effects, usage, now).await
}

/// Where job changes are written and their follow-up jobs sent.
#[derive(Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub tasks: &'a dyn TaskStore,
    pub queue: &'a dyn JobQueue,
    /// The lease the messages announce.
    pub lease_secs: u64,
}

pub(crate) async fn commit_effects(
    to: Writer<'_>,
    task: &Task,
    job: Option<&Job>,
    effects: JobEffects,
    usage: Option<&UsageEntry>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Writer {
        tasks,
        queue,
        lease_secs,
    } = to;
    let message_task = effects.task.as_ref().unwrap_or(task);
    for (new, delay) in &effects.new_jobs {
        queue
            .enqueue_delayed(&message_for(message_task, new, lease_secs, now), *delay)
            .await?;
    }
    let mut writes: Vec<Write> = job.into_iter().map(Write::Job).collect();
    if let Some(task) = &effects.task {
        writes.push(Write::Task(task));
    }
    writes.extend(effects.new_jobs.iter().map(|(job, _)| Write::Job(job)));
    writes.extend(usage.map(Write::Usage));
    if writes.is_empty() {
        return Ok(());
    }
    tasks.commit(&writes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lost_write_is_retried_until_it_lands_or_the_tries_run_out() {
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let count = &tries;
        let answer = retry_on_conflict("the thing", move || async move {
            let tries = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let write = if tries < 3 {
                Err(StoreError::Conflict("raced".into()))
            } else {
                Ok(())
            };
            Tried::written(write, tries)
        })
        .await
        .unwrap();
        assert_eq!(answer, 3);

        let tries = std::sync::atomic::AtomicUsize::new(0);
        let count = &tries;
        let err = retry_on_conflict("the thing", move || async move {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Tried::<()>::written(Err(StoreError::Conflict("raced".into())), ())
        })
        .await
        .unwrap_err();
        assert_eq!(tries.into_inner(), WRITE_ATTEMPTS);
        assert_eq!(err.kind, crate::ErrorKind::Unavailable);

        let err = retry_on_conflict("the thing", || async {
            Tried::<()>::written(Err(StoreError::Unavailable("down".into())), ())
        })
        .await
        .unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::StoreUnavailable);
    }
}
