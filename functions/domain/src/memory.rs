//! In-memory implementations of every port, for unit tests of the services.
//!
//! They keep the same contracts as the DynamoDB/SQS/S3 adapters (conditional writes,
//! uniqueness, paging) so that service tests exercise the real rules. The adapters have
//! their own tests against LocalStack.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::chat::Thread;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::ids::{AttachmentId, JobId, NodeId, ProjectId, SessionId, TaskId, ThreadId, UserId};
use crate::job::Job;
use crate::node::{ConfigRecord, Node};
use crate::ports::*;
use crate::project::{CredentialChange, Project};
use crate::session::{RefreshState, RefreshToken, Session};
use crate::status::TaskStatus;
use crate::task::{Attachment, Task};
use crate::user::User;
use crate::wire::JobMessage;

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    failures: HashMap<String, LoginFailures>,
    sessions: HashMap<SessionId, Session>,
    refresh: HashMap<String, RefreshToken>,
    tasks: BTreeMap<TaskId, Task>,
    names: HashMap<(UserId, String), TaskId>,
    jobs: BTreeMap<(TaskId, JobId), Job>,
    attachments: HashMap<AttachmentId, Attachment>,
    nodes: HashMap<NodeId, Node>,
    config: Option<ConfigRecord>,
    acks: BTreeMap<NodeId, String>,
    signatures: HashMap<String, Timestamp>,
    queue: Vec<JobMessage>,
    delays: Vec<u32>,
    dead: Vec<DeadLetter>,
    dead_sent: usize,
    /// Receipts of dead letters received with a hiding time (hidden for good: no clock).
    dead_hidden: std::collections::HashSet<String>,
    blobs: HashMap<String, Vec<u8>>,
    chunks: BTreeMap<(TaskId, JobId, u32, u32), String>,
    threads: BTreeMap<ThreadId, Thread>,
    projects: BTreeMap<(UserId, String), Project>,
    credentials: HashMap<ProjectId, String>,
    streams: HashMap<(UserId, String), Timestamp>,
}

/// Every port in one in-memory store.
#[derive(Default)]
pub struct MemoryStore(Mutex<State>);

impl MemoryStore {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().expect("memory store lock")
    }

    /// Messages sent to the queue so far.
    pub fn enqueued(&self) -> Vec<JobMessage> {
        self.state().queue.clone()
    }

    /// The delay of each message sent so far.
    pub fn delays(&self) -> Vec<u32> {
        self.state().delays.clone()
    }

    /// Puts a message on the dead-letter queue (as SQS would after too many deliveries).
    pub fn dead_letter(&self, body: String) {
        let mut state = self.state();
        let n = state.dead_sent;
        state.dead_sent += 1;
        state.dead.push(DeadLetter {
            message_id: format!("dead-{n}"),
            receipt: format!("receipt-{n}"),
            body,
        });
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state().dead.clone()
    }
}

fn conflict(what: impl Into<String>) -> StoreError {
    StoreError::Conflict(what.into())
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut state = self.state();
        if state.users.values().any(|u| u.handle == user.handle) {
            return Err(conflict("handle taken"));
        }
        state.users.insert(user.id.clone(), user.clone());
        Ok(())
    }
    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        Ok(self
            .state()
            .users
            .values()
            .find(|u| u.handle == handle)
            .cloned())
    }
    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        Ok(self.state().users.get(id).cloned())
    }
    async fn login_failures(&self, handle: &str) -> StoreResult<Option<LoginFailures>> {
        Ok(self.state().failures.get(handle).cloned())
    }
    async fn record_login_failure(
        &self,
        handle: &str,
        now: Timestamp,
        new_window_ends: Timestamp,
    ) -> StoreResult<LoginFailures> {
        let mut state = self.state();
        let entry = state
            .failures
            .entry(handle.to_owned())
            .or_insert(LoginFailures {
                count: 0,
                window_ends: new_window_ends,
            });
        if entry.window_ends <= now {
            *entry = LoginFailures {
                count: 0,
                window_ends: new_window_ends,
            };
        }
        entry.count += 1;
        Ok(entry.clone())
    }
    async fn clear_login_failures(&self, handle: &str) -> StoreResult<()> {
        self.state().failures.remove(handle);
        Ok(())
    }
    async fn release_login_failure(&self, key: &str) -> StoreResult<()> {
        if let Some(entry) = self.state().failures.get_mut(key) {
            entry.count = entry.count.saturating_sub(1);
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &Session, first: &RefreshToken) -> StoreResult<()> {
        let mut state = self.state();
        state.sessions.insert(session.id.clone(), session.clone());
        state.refresh.insert(first.hash.clone(), first.clone());
        Ok(())
    }
    async fn session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        Ok(self.state().sessions.get(id).cloned())
    }
    async fn refresh_token(&self, hash: &str) -> StoreResult<Option<RefreshToken>> {
        Ok(self.state().refresh.get(hash).cloned())
    }
    async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken) -> StoreResult<()> {
        let mut state = self.state();
        match state.refresh.get_mut(old_hash) {
            Some(old) if old.state == RefreshState::Active => old.state = RefreshState::Rotated,
            _ => return Err(conflict("refresh token is not active")),
        }
        state.refresh.insert(new.hash.clone(), new.clone());
        Ok(())
    }
    async fn revoke_session(&self, id: &SessionId, at: Timestamp) -> StoreResult<()> {
        if let Some(session) = self.state().sessions.get_mut(id) {
            session.revoked_at.get_or_insert(at);
        }
        Ok(())
    }
}

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
        status: Option<TaskStatus>,
        limit: u32,
        after: Option<&TaskId>,
    ) -> StoreResult<TaskPage> {
        let state = self.state();
        let mut matching = state
            .tasks
            .values()
            .rev()
            .filter(|t| &t.owner == owner && status.is_none_or(|s| t.status == s))
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
            .or_insert_with(|| chunk.text.clone());
        Ok(())
    }

    async fn chunks(
        &self,
        task: &TaskId,
        job: &JobId,
        attempt: u32,
        after: Option<u32>,
    ) -> StoreResult<Vec<Chunk>> {
        Ok(self
            .state()
            .chunks
            .iter()
            .filter(|((t, j, a, seq), _)| {
                t == task && j == job && *a == attempt && after.is_none_or(|after| *seq > after)
            })
            .map(|((task, job, attempt, seq), text)| Chunk {
                task: task.clone(),
                job: job.clone(),
                attempt: *attempt,
                seq: *seq,
                text: text.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl crate::ports::StreamStore for MemoryStore {
    async fn open_streams(&self, owner: &UserId, now: Timestamp) -> StoreResult<u32> {
        Ok(self
            .state()
            .streams
            .iter()
            .filter(|((user, _), expires)| user == owner && **expires > now)
            .count() as u32)
    }
    async fn put_stream(&self, owner: &UserId, id: &str, expires_at: Timestamp) -> StoreResult<()> {
        self.state()
            .streams
            .insert((owner.clone(), id.to_owned()), expires_at);
        Ok(())
    }
    async fn remove_stream(&self, owner: &UserId, id: &str) -> StoreResult<()> {
        self.state().streams.remove(&(owner.clone(), id.to_owned()));
        Ok(())
    }
}

#[async_trait]
impl ThreadStore for MemoryStore {
    async fn put_thread(&self, thread: &Thread) -> StoreResult<()> {
        let mut state = self.state();
        let stored = state.threads.get(&thread.id).map(|t| t.version);
        if stored.unwrap_or(0) + 1 != thread.version {
            return Err(conflict(format!("thread {} changed", thread.id)));
        }
        state.threads.insert(thread.id.clone(), thread.clone());
        Ok(())
    }

    async fn thread(&self, id: &ThreadId) -> StoreResult<Option<Thread>> {
        Ok(self.state().threads.get(id).cloned())
    }

    async fn list_threads(&self, owner: &UserId, limit: u32) -> StoreResult<Vec<Thread>> {
        Ok(self
            .state()
            .threads
            .values()
            .rev()
            .filter(|t| &t.owner == owner)
            .take(limit as usize)
            .map(|t| Thread {
                messages: vec![],
                ..t.clone()
            })
            .collect())
    }

    async fn delete_thread(&self, thread: &Thread) -> StoreResult<()> {
        self.state().threads.remove(&thread.id);
        Ok(())
    }
}

#[async_trait]
impl NodeStore for MemoryStore {
    async fn node_by_name(&self, name: &str) -> StoreResult<Option<Node>> {
        Ok(self
            .state()
            .nodes
            .values()
            .find(|n| n.name == name)
            .cloned())
    }
    async fn insert_node(&self, node: &Node) -> StoreResult<()> {
        let mut state = self.state();
        if state.nodes.values().any(|n| n.name == node.name) {
            return Err(conflict("node name taken"));
        }
        state.nodes.insert(node.id.clone(), node.clone());
        Ok(())
    }
    async fn node(&self, id: &NodeId) -> StoreResult<Option<Node>> {
        Ok(self.state().nodes.get(id).cloned())
    }
    async fn update_node(&self, node: &Node) -> StoreResult<()> {
        let mut state = self.state();
        // Like the adapter: what the node reports, never its state or acknowledgement.
        let mut node = node.clone();
        if let Some(stored) = state.nodes.get(&node.id) {
            node.state = stored.state;
            node.acked_config_version = stored.acked_config_version.clone();
            node.identity = stored.identity.clone();
            node.labels = stored.labels.clone();
        }
        state.nodes.insert(node.id.clone(), node);
        Ok(())
    }
    async fn replace_identity(&self, node: &Node, previous_generation: u32) -> StoreResult<()> {
        match self.state().nodes.get_mut(&node.id) {
            Some(stored) if stored.identity.generation == previous_generation => {
                stored.identity = node.identity.clone();
                Ok(())
            }
            _ => Err(conflict("node identity changed")),
        }
    }
    async fn touch_node(&self, id: &NodeId, at: Timestamp) -> StoreResult<()> {
        if let Some(node) = self.state().nodes.get_mut(id) {
            node.last_seen_at = at;
        }
        Ok(())
    }
    async fn set_node_state(&self, id: &NodeId, to: crate::wire::NodeState) -> StoreResult<()> {
        match self.state().nodes.get_mut(id) {
            Some(node) => {
                node.state = to;
                Ok(())
            }
            None => Err(conflict("no such node")),
        }
    }
    async fn set_node_labels(&self, id: &NodeId, labels: &[String]) -> StoreResult<()> {
        match self.state().nodes.get_mut(id) {
            Some(node) => {
                node.labels = labels.to_vec();
                Ok(())
            }
            None => Err(conflict("no such node")),
        }
    }
    async fn current_config(&self) -> StoreResult<Option<ConfigRecord>> {
        Ok(self.state().config.clone())
    }
    async fn replace_config(
        &self,
        previous: Option<&ConfigRecord>,
        next: &ConfigRecord,
    ) -> StoreResult<()> {
        let mut state = self.state();
        if state.config.as_ref() != previous {
            return Err(conflict("configuration changed"));
        }
        state.config = Some(next.clone());
        Ok(())
    }
    async fn record_ack(&self, node: &NodeId, version: &str, _at: Timestamp) -> StoreResult<()> {
        let mut state = self.state();
        state.acks.insert(node.clone(), version.to_owned());
        if let Some(node) = state.nodes.get_mut(node) {
            node.acked_config_version = Some(version.to_owned());
        }
        Ok(())
    }
    async fn acked_nodes(&self) -> StoreResult<Vec<(NodeId, String)>> {
        Ok(self
            .state()
            .acks
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect())
    }
    async fn remember_signature(
        &self,
        signature: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self
            .state()
            .signatures
            .insert(signature.to_owned(), expires_at)
            .is_none())
    }
}

fn apply_credential(state: &mut State, project: &ProjectId, change: &CredentialChange) {
    match change {
        CredentialChange::Set(secret) => {
            state.credentials.insert(project.clone(), secret.clone());
        }
        CredentialChange::Remove => {
            state.credentials.remove(project);
        }
        CredentialChange::Keep => {}
    }
}

#[async_trait]
impl ProjectStore for MemoryStore {
    async fn insert_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let key = (project.owner.clone(), project.name.clone());
        if state.projects.contains_key(&key) {
            return Err(conflict("project name taken"));
        }
        state.projects.insert(key, project.clone());
        apply_credential(&mut state, &project.id, credential);
        Ok(())
    }
    async fn project(&self, owner: &UserId, id: &ProjectId) -> StoreResult<Option<Project>> {
        Ok(self
            .state()
            .projects
            .values()
            .find(|p| &p.owner == owner && &p.id == id)
            .cloned())
    }
    async fn project_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Project>> {
        Ok(self
            .state()
            .projects
            .get(&(owner.clone(), name.to_owned()))
            .cloned())
    }
    async fn list_projects(&self, owner: &UserId) -> StoreResult<Vec<Project>> {
        Ok(self
            .state()
            .projects
            .values()
            .filter(|p| &p.owner == owner)
            .cloned()
            .collect())
    }
    async fn update_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let key = (project.owner.clone(), project.name.clone());
        match state.projects.get(&key) {
            Some(stored) if stored.version + 1 == project.version => {}
            _ => return Err(conflict("project changed")),
        }
        state.projects.insert(key, project.clone());
        apply_credential(&mut state, &project.id, credential);
        Ok(())
    }
    async fn delete_project(&self, project: &Project) -> StoreResult<()> {
        let mut state = self.state();
        state
            .projects
            .remove(&(project.owner.clone(), project.name.clone()));
        state.credentials.remove(&project.id);
        Ok(())
    }
    async fn credential(&self, project: &Project) -> StoreResult<Option<String>> {
        Ok(self.state().credentials.get(&project.id).cloned())
    }
}

#[async_trait]
impl JobQueue for MemoryStore {
    async fn enqueue_delayed(&self, message: &JobMessage, delay_secs: u32) -> StoreResult<()> {
        let mut state = self.state();
        state.queue.push(message.clone());
        state.delays.push(delay_secs);
        Ok(())
    }
}

#[async_trait]
impl DeadLetters for MemoryStore {
    async fn receive_dead(&self, max: u32, hide_secs: u32) -> StoreResult<Vec<DeadLetter>> {
        let mut state = self.state();
        let visible: Vec<DeadLetter> = state
            .dead
            .iter()
            .filter(|letter| !state.dead_hidden.contains(&letter.receipt))
            .take(max as usize)
            .cloned()
            .collect();
        if hide_secs > 0 {
            state
                .dead_hidden
                .extend(visible.iter().map(|letter| letter.receipt.clone()));
        }
        Ok(visible)
    }
    async fn delete_dead(&self, receipt: &str) -> StoreResult<()> {
        self.state().dead.retain(|letter| letter.receipt != receipt);
        Ok(())
    }
}

#[async_trait]
impl BlobStore for MemoryStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        self.state().blobs.insert(key.to_owned(), bytes);
        Ok(())
    }
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.state().blobs.get(key).cloned())
    }
    async fn size(&self, key: &str) -> StoreResult<Option<u64>> {
        Ok(self.state().blobs.get(key).map(|b| b.len() as u64))
    }
    async fn upload_url(&self, key: &str, size: u64, _expires_in_secs: u64) -> StoreResult<String> {
        Ok(format!("memory://upload/{key}?size={size}"))
    }
    async fn download_url(&self, key: &str, _expires_in_secs: u64) -> StoreResult<String> {
        Ok(format!("memory://download/{key}"))
    }
}
