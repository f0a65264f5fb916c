//! The in-memory task store: tasks, jobs, attachments and answer chunks.

use async_trait::async_trait;

use crate::ids::{AttachmentId, JobId, TaskId, UserId};
use crate::job::Job;
use crate::ports::*;
use crate::status::TaskStatus;
use crate::task::{Attachment, Task};

use super::{conflict, MemoryStore};

#[async_trait]
impl TaskStore for MemoryStore {
    async fn insert_task(&self, task: &Task, jobs: &[Job]) -> StoreResult<()> {
        let mut state = self.state();
        let name_key = task
            .name
            .as_ref()
            .map(|name| (task.owner.clone(), name.clone()));
        if name_key
            .as_ref()
            .is_some_and(|key| state.names.contains_key(key))
        {
            return Err(conflict("task name taken"));
        }
        let idempotency_taken = task.idempotency_key.as_ref().is_some_and(|key| {
            state
                .tasks
                .values()
                .any(|t| t.owner == task.owner && t.idempotency_key.as_ref() == Some(key))
        });
        if idempotency_taken {
            return Err(conflict("idempotency key taken"));
        }
        if let Some(key) = name_key {
            state.names.insert(key, task.id.clone());
        }
        state.tasks.insert(task.id.clone(), task.clone());
        for job in jobs {
            state
                .jobs
                .insert((job.task_id.clone(), job.id.clone()), job.clone());
        }
        Ok(())
    }
    async fn task(&self, id: &TaskId) -> StoreResult<Option<Task>> {
        Ok(self.state().tasks.get(id).cloned())
    }
    async fn task_by_idempotency_key(
        &self,
        owner: &UserId,
        key: &str,
    ) -> StoreResult<Option<Task>> {
        Ok(self
            .state()
            .tasks
            .values()
            .find(|t| &t.owner == owner && t.idempotency_key.as_deref() == Some(key))
            .cloned())
    }
    async fn task_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Task>> {
        let state = self.state();
        Ok(state
            .names
            .get(&(owner.clone(), name.to_owned()))
            .and_then(|id| state.tasks.get(id))
            .cloned())
    }
    async fn list_tasks(
        &self,
        owner: &UserId,
        filter: TaskFilter<'_>,
        limit: u32,
        after: Option<&TaskId>,
    ) -> StoreResult<TaskPage> {
        let state = self.state();
        let mut matching = state
            .tasks
            .values()
            .rev()
            .filter(|t| &t.owner == owner && filter.passes(t))
            .filter(|t| after.is_none_or(|after| &t.id < after));
        let tasks: Vec<Task> = matching.by_ref().take(limit as usize).cloned().collect();
        let more = matching.next().is_some();
        Ok(TaskPage {
            last: if more {
                tasks.last().map(|t| t.id.clone())
            } else {
                None
            },
            tasks,
        })
    }
    async fn count_tasks(
        &self,
        owner: &UserId,
        statuses: &[TaskStatus],
        up_to: u32,
    ) -> StoreResult<u32> {
        let count = self
            .state()
            .tasks
            .values()
            .filter(|t| &t.owner == owner && statuses.contains(&t.status))
            .count();
        Ok((count as u32).min(up_to))
    }
    async fn jobs(&self, task: &TaskId) -> StoreResult<Vec<Job>> {
        Ok(self
            .state()
            .jobs
            .iter()
            .filter(|((t, _), _)| t == task)
            .map(|(_, job)| job.clone())
            .collect())
    }
    async fn job(&self, task: &TaskId, job: &JobId) -> StoreResult<Option<Job>> {
        Ok(self.state().jobs.get(&(task.clone(), job.clone())).cloned())
    }
    async fn commit(&self, writes: &[Write<'_>]) -> StoreResult<()> {
        let mut state = self.state();
        for write in writes {
            let (stored, version) = match write {
                Write::Task(task) => (state.tasks.get(&task.id).map(|t| t.version), task.version),
                Write::Job(job) => (
                    state
                        .jobs
                        .get(&(job.task_id.clone(), job.id.clone()))
                        .map(|j| j.version),
                    job.version,
                ),
                Write::Usage(_) => continue,
            };
            if stored.unwrap_or(0) + 1 != version {
                return Err(conflict("version changed"));
            }
        }
        for write in writes {
            match write {
                Write::Task(task) => {
                    state.tasks.insert(task.id.clone(), (*task).clone());
                }
                Write::Job(job) => {
                    state
                        .jobs
                        .insert((job.task_id.clone(), job.id.clone()), (*job).clone());
                }
                Write::Usage(entry) => super::usage::add_usage(&mut state, entry),
            }
        }
        Ok(())
    }
    async fn insert_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        self.state()
            .attachments
            .insert(attachment.id.clone(), attachment.clone());
        Ok(())
    }
    async fn attachment(&self, id: &AttachmentId) -> StoreResult<Option<Attachment>> {
        Ok(self.state().attachments.get(id).cloned())
    }

    async fn active_jobs(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<(Vec<Job>, Option<String>)> {
        let state = self.state();
        let mut active: Vec<Job> = state
            .jobs
            .values()
            .filter(|job| !job.status.is_terminal())
            .filter(|job| after.is_none_or(|after| job.id.as_str() > after))
            .cloned()
            .collect();
        active.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let more = active.len() > limit as usize;
        let page: Vec<Job> = active.into_iter().take(limit as usize).collect();
        let cursor = more
            .then(|| page.last().map(|job| job.id.to_string()))
            .flatten();
        Ok((page, cursor))
    }

    async fn finished_before(
        &self,
        before: crate::clock::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Task>> {
        let mut finished: Vec<Task> = self
            .state()
            .tasks
            .values()
            .filter(|t| t.status.is_terminal() && t.updated_at < before)
            .cloned()
            .collect();
        finished.sort_by_key(|t| t.updated_at);
        finished.truncate(limit as usize);
        Ok(finished)
    }

    async fn delete_task(&self, task: &Task) -> StoreResult<()> {
        let mut state = self.state();
        state
            .jobs
            .retain(|(owner_task, _), _| owner_task != &task.id);
        state
            .chunks
            .retain(|(owner_task, ..), _| owner_task != &task.id);
        state
            .logs
            .retain(|(owner_task, _), _| owner_task != &task.id);
        state.names.retain(|_, named| named != &task.id);
        state
            .preferences
            .remove(&crate::preference::PreferenceTarget::Task(task.id.clone()));
        state.tasks.remove(&task.id);
        Ok(())
    }

    async fn put_chunk(&self, chunk: &Chunk) -> StoreResult<()> {
        let key = (
            chunk.task.clone(),
            chunk.job.clone(),
            chunk.attempt,
            chunk.seq,
        );
        self.state()
            .chunks
            .entry(key)
            .or_insert_with(|| chunk.clone());
        Ok(())
    }

    async fn answer_progress(
        &self,
        task: &TaskId,
        job: &JobId,
        attempt: u32,
        after: Option<u32>,
    ) -> StoreResult<AnswerProgress> {
        let state = self.state();
        let chunks = state
            .chunks
            .iter()
            .filter(|((t, j, a, seq), _)| {
                t == task
                    && j == job
                    && (*a > attempt || (*a == attempt && after.is_none_or(|after| *seq > after)))
            })
            .map(|(_, chunk)| chunk.clone())
            .collect();
        Ok(AnswerProgress {
            job: state.jobs.get(&(task.clone(), job.clone())).cloned(),
            chunks,
        })
    }
}
