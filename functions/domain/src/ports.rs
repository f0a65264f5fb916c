//! The ports: what the domain needs from storage, the job queue and the blob store.
//!
//! Adapters implement them over DynamoDB, SQS and S3 (`cynode-aws`); [`crate::memory`]
//! implements them in memory for unit tests of the services.
//!
//! Writes that change state are conditional: every task and job carries a `version`, and
//! [`TaskStore::commit`] succeeds only if each item still has the version the caller read
//! (version 0 means "must not exist yet"). A lost race is a [`StoreError::Conflict`].

use async_trait::async_trait;

use crate::api_key::ApiKey;
use crate::audit::AuditEvent;
use crate::chat::Thread;
use crate::clock::Timestamp;
use crate::credential::{SealContext, Sealed, StoredCredential};
use crate::error::StoreError;
use crate::ids::{
    ApiKeyId, AttachmentId, JobId, NodeId, ProjectId, SessionId, TaskId, ThreadId, UserId,
};
use crate::job::Job;
use crate::live_log::{LogChunk, LogPosition};
use crate::node::{ConfigRecord, Node};
use crate::preference::{PreferenceTarget, StoredPreference};
use crate::project::{CredentialChange, Project};
use crate::provider::{Provider, ProviderCredential};
use crate::session::{RefreshToken, Session};
use crate::settings::SettingsRecord;
use crate::skill::Skill;
use crate::status::TaskStatus;
use crate::task::{Attachment, Task};
use crate::usage::UsageEntry;
use crate::user::{User, UserUpdate};
use crate::wire::{AnswerEnd, UsageRow};
use crate::wire::{JobMessage, NodeState, QueueCredentials};

pub type StoreResult<T> = Result<T, StoreError>;

/// Failed logins counted under one key (a handle from a source, or a source) within the
/// current throttle window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: u32,
    pub window_ends: Timestamp,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Conflict when the handle is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Every user, in no particular order (a team's users: the service pages them).
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// Applies `update` to the user `id`. With `keep_admin`, only while that other user is
    /// still an active admin, checked in the same transaction, so that two admins dropping
    /// each other at once cannot leave none. Conflict when the user is gone or that check
    /// fails.
    async fn update_user(
        &self,
        id: &UserId,
        update: &UserUpdate,
        keep_admin: Option<&UserId>,
    ) -> StoreResult<()>;
    async fn login_failures(&self, handle: &str) -> StoreResult<Option<LoginFailures>>;
    /// Counts one failure; starts a new window ending at `new_window_ends` if the current
    /// one is over (or there is none). Returns the updated count.
    async fn record_login_failure(
        &self,
        handle: &str,
        now: Timestamp,
        new_window_ends: Timestamp,
    ) -> StoreResult<LoginFailures>;
    async fn clear_login_failures(&self, handle: &str) -> StoreResult<()>;
    /// Takes back one counted failure (a reservation that turned out to be a success).
    async fn release_login_failure(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session, first: &RefreshToken) -> StoreResult<()>;
    async fn session(&self, id: &SessionId) -> StoreResult<Option<Session>>;
    async fn refresh_token(&self, hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks `old_hash` rotated and stores `new` — only if `old_hash` is still active
    /// (Conflict otherwise, e.g. a concurrent refresh won).
    async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken) -> StoreResult<()>;
    async fn revoke_session(&self, id: &SessionId, at: Timestamp) -> StoreResult<()>;
}

/// Users' model usage by day and model (added to by [`Write::Usage`]).
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// `user`'s rows from day `from` to day `to` (`YYYY-MM-DD`, inclusive), in any order.
    async fn usage(&self, user: &UserId, from: &str, to: &str) -> StoreResult<Vec<UsageRow>>;
    /// Adds `entry` to its row on its own (a hosted model's call through the egress, which
    /// no task's commit records).
    async fn add_usage(&self, entry: &UsageEntry) -> StoreResult<()>;
    /// The tokens `user`'s hosted model calls used in `minute` (`YYYY-MM-DDTHH:MM`, UTC).
    async fn minute_tokens(&self, user: &UserId, minute: &str) -> StoreResult<u64>;
    /// Adds `tokens` to `user`'s count of `minute`, which may be forgotten after
    /// `expires_at`.
    async fn add_minute_tokens(
        &self,
        user: &UserId,
        minute: &str,
        tokens: u64,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
}

/// Personal API keys, found by id (the secret names it) and listed per user.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Conflict when the id exists.
    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>>;
    /// All of `user`'s keys, revoked ones included, oldest first.
    async fn api_keys_of(&self, user: &UserId) -> StoreResult<Vec<ApiKey>>;
    /// Marks the key revoked at `at`; a key already revoked keeps its first time.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> StoreResult<()>;
    /// Records a use at `at`.
    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> StoreResult<()>;
}

/// One conditional write of [`TaskStore::commit`].
#[derive(Debug, Clone)]
pub enum Write<'a> {
    /// Put the task if its stored version is `version - 1` (absent when `version` is 1).
    Task(&'a Task),
    /// Same for a job.
    Job(&'a Job),
    /// Add tokens to a user's usage row (unconditional; written with the result that
    /// finished the job, so it counts once).
    Usage(&'a UsageEntry),
}

/// Which of a user's tasks a listing wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFilter<'a> {
    pub status: Option<TaskStatus>,
    pub project: Option<&'a ProjectId>,
}

impl TaskFilter<'_> {
    pub fn passes(&self, task: &Task) -> bool {
        self.status.is_none_or(|status| task.status == status)
            && self
                .project
                .is_none_or(|project| task.project_id.as_ref() == Some(project))
    }
}

/// One page of a user's tasks, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// The last task of this page when more may follow.
    pub last: Option<TaskId>,
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Creates a task (version 1) with its name and idempotency key reserved for its
    /// owner, and its jobs, in one transaction. `Conflict` when either is taken.
    async fn insert_task(&self, task: &Task, jobs: &[Job]) -> StoreResult<()>;
    async fn task(&self, id: &TaskId) -> StoreResult<Option<Task>>;
    /// The task `owner` created with this `Idempotency-Key` (reserved by `insert_task`
    /// in the same transaction, so a key names at most one task).
    async fn task_by_idempotency_key(&self, owner: &UserId, key: &str)
        -> StoreResult<Option<Task>>;
    async fn task_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Task>>;
    /// Up to `limit` of `owner`'s tasks that pass `filter`, created before `after`.
    async fn list_tasks(
        &self,
        owner: &UserId,
        filter: TaskFilter<'_>,
        limit: u32,
        after: Option<&TaskId>,
    ) -> StoreResult<TaskPage>;
    /// How many of `owner`'s tasks have one of `statuses`, counting no further than
    /// `up_to`.
    async fn count_tasks(
        &self,
        owner: &UserId,
        statuses: &[TaskStatus],
        up_to: u32,
    ) -> StoreResult<u32>;
    async fn jobs(&self, task: &TaskId) -> StoreResult<Vec<Job>>;
    async fn job(&self, task: &TaskId, job: &JobId) -> StoreResult<Option<Job>>;
    /// All-or-nothing conditional writes (see [`Write`]).
    async fn commit(&self, writes: &[Write<'_>]) -> StoreResult<()>;
    async fn insert_attachment(&self, attachment: &Attachment) -> StoreResult<()>;
    async fn attachment(&self, id: &AttachmentId) -> StoreResult<Option<Attachment>>;
    /// Stores one chunk of a chat job's streamed answer; storing the same `seq` of the
    /// same attempt again changes nothing.
    async fn put_chunk(&self, chunk: &Chunk) -> StoreResult<()>;
    /// Up to `limit` jobs that are not finished (queued or running), after the cursor
    /// `after`; the cursor of the next page when more may follow. For the sweeper.
    async fn active_jobs(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<(Vec<Job>, Option<String>)>;
    /// Up to `limit` finished tasks (of every user) that last changed before `before`,
    /// oldest first: what retention removes.
    async fn finished_before(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<Task>>;
    /// Removes the task and everything the table holds for it: its jobs, their streamed
    /// chunks, its name and idempotency key; the task item last, so a removal cut short
    /// is finished by the next. Removing a task that is gone changes nothing.
    async fn delete_task(&self, task: &Task) -> StoreResult<()>;
    /// What a reader of a job's streamed answer looks at, in one read: the chunks of
    /// attempt `attempt` with `seq` after `after` (all when `None`) and every chunk of
    /// later attempts, in order, and the job as it is (`None` if there is none).
    async fn answer_progress(
        &self,
        task: &TaskId,
        job: &JobId,
        attempt: u32,
        after: Option<u32>,
    ) -> StoreResult<AnswerProgress>;
}

/// One read of a streamed answer ([`TaskStore::answer_progress`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnswerProgress {
    pub job: Option<Job>,
    /// In order of attempt, then `seq`.
    pub chunks: Vec<Chunk>,
}

/// A piece of a chat job's answer, as the node streamed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub task: TaskId,
    pub job: JobId,
    pub attempt: u32,
    pub seq: u32,
    pub text: String,
    /// On the answer's last chunk: how it ended.
    pub end: Option<AnswerEnd>,
}

/// Projects, kept per owner. A project's credential is stored beside it, apart from the
/// project item, and read only by [`ProjectStore::credential`].
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates a project (version 1) with its name reserved for its owner and its
    /// credential, in one transaction. Conflict when the name is taken.
    async fn insert_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()>;
    async fn project(&self, owner: &UserId, id: &ProjectId) -> StoreResult<Option<Project>>;
    async fn project_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Project>>;
    /// Every project of `owner`, by name.
    async fn list_projects(&self, owner: &UserId) -> StoreResult<Vec<Project>>;
    /// Writes a project if its stored version is `version - 1`, changing its credential as
    /// told, in one transaction; Conflict otherwise.
    async fn update_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()>;
    /// Deletes a project, its name and its credential.
    async fn delete_project(&self, project: &Project) -> StoreResult<()>;
    /// The project's credential: only for the node that pushes its branches.
    async fn credential(&self, project: &Project) -> StoreResult<Option<String>>;
}

/// Jobs' live logs, kept in their task's partition (and removed with it).
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Stores a chunk; the same job, attempt and `seq` again changes nothing.
    async fn put_log(&self, chunk: &LogChunk) -> StoreResult<()>;
    /// Up to `limit` chunks of `task` after `after` (from the first when `None`), in
    /// order of job, attempt and `seq`.
    async fn logs_after(
        &self,
        task: &TaskId,
        after: Option<&LogPosition>,
        limit: u32,
    ) -> StoreResult<Vec<LogChunk>>;
}

/// Users' stored credentials, kept per owner by name: each credential's description beside
/// the owner's other items, its sealed value apart, where only the functions that hand
/// values out may read it.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Creates a credential (version 1) with its sealed value, in one transaction.
    /// Conflict when the owner already has one of that name.
    async fn insert_credential(
        &self,
        credential: &StoredCredential,
        sealed: &Sealed,
    ) -> StoreResult<()>;
    async fn stored_credential(
        &self,
        owner: &UserId,
        name: &str,
    ) -> StoreResult<Option<StoredCredential>>;
    /// Every credential of `owner`.
    async fn credentials(&self, owner: &UserId) -> StoreResult<Vec<StoredCredential>>;
    /// Writes `credential` if its stored version is `version - 1`, replacing its value
    /// with `sealed` when given, in one transaction; Conflict otherwise.
    async fn update_credential(
        &self,
        credential: &StoredCredential,
        sealed: Option<&Sealed>,
    ) -> StoreResult<()>;
    /// Deletes a credential and its value if its version is still `credential.version`;
    /// Conflict otherwise.
    async fn delete_credential(&self, credential: &StoredCredential) -> StoreResult<()>;
    /// The sealed value: only for the claim that hands it to a job.
    async fn sealed_value(&self, credential: &StoredCredential) -> StoreResult<Option<Sealed>>;
}

/// Seals and opens credential values (KMS in a deployment). A value opens only under the
/// context it was sealed with.
#[async_trait]
pub trait CredentialCipher: Send + Sync {
    async fn seal(&self, value: &str, context: &SealContext) -> StoreResult<Sealed>;
    /// [`StoreError::Corrupt`] when `sealed` was sealed under another context, or is not a
    /// sealed value at all.
    async fn open(&self, sealed: &Sealed, context: &SealContext) -> StoreResult<String>;
}

/// Skills, kept per owner by name.
#[async_trait]
pub trait SkillStore: Send + Sync {
    /// Creates or replaces the owner's skill of that name.
    async fn put_skill(&self, skill: &Skill) -> StoreResult<()>;
    async fn skill(&self, owner: &UserId, name: &str) -> StoreResult<Option<Skill>>;
    /// Every skill of `owner`, bodies included.
    async fn skills(&self, owner: &UserId) -> StoreResult<Vec<Skill>>;
    /// `false` when there was none.
    async fn delete_skill(&self, owner: &UserId, name: &str) -> StoreResult<bool>;
}

/// Hosted model providers, and the stored credentials attached to them.
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Creates the provider; Conflict when one of that name exists.
    async fn create_provider(&self, provider: &Provider) -> StoreResult<()>;
    async fn provider(&self, name: &str) -> StoreResult<Option<Provider>>;
    /// Every provider, by name.
    async fn providers(&self) -> StoreResult<Vec<Provider>>;
    /// The provider and every credential attached to it; `false` when there was none.
    async fn delete_provider(&self, name: &str) -> StoreResult<bool>;
    /// Creates or replaces the attachment of its scope (the owner's, or the system's).
    async fn attach(&self, attachment: &ProviderCredential) -> StoreResult<()>;
    /// The user's own attachment (`owner` set), or the system's (`None`).
    async fn attachment(
        &self,
        provider: &str,
        owner: Option<&UserId>,
    ) -> StoreResult<Option<ProviderCredential>>;
    /// `false` when there was none.
    async fn detach(&self, provider: &str, owner: Option<&UserId>) -> StoreResult<bool>;
}

/// The system settings admins stored: one record, replaced whole, version by version.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self) -> StoreResult<Option<SettingsRecord>>;
    /// Stores `next` if the stored record's version is still `previous` (none stored
    /// when `None`); Conflict otherwise.
    async fn replace_settings(
        &self,
        previous: Option<&str>,
        next: &SettingsRecord,
    ) -> StoreResult<()>;
}

/// The audit trail: append-only, each event kept until `expires_at` (DynamoDB's TTL).
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: &AuditEvent, expires_at: Timestamp) -> StoreResult<()>;
    /// Up to `limit` events of `month` (`YYYY-MM`) whose ids sort before `before` (all
    /// when `None`), newest first.
    async fn month_events(
        &self,
        month: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Up to `limit` events of `user`'s trail before `before`, newest first.
    async fn user_events(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>>;
}

/// Preferences, kept per target (the system, a user, a project, a task). A task's are
/// removed with the task ([`TaskStore::delete_task`]).
#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// The values set at `target`, by key name.
    async fn preferences(&self, target: &PreferenceTarget) -> StoreResult<Vec<StoredPreference>>;
    /// Sets (or replaces) one value at `target`.
    async fn put_preference(
        &self,
        target: &PreferenceTarget,
        value: &StoredPreference,
    ) -> StoreResult<()>;
    /// Removes one value; `false` when it was not set.
    async fn delete_preference(&self, target: &PreferenceTarget, key: &str) -> StoreResult<bool>;
}

/// The streams (server-sent events) a user has open, as leases that expire unless
/// renewed: a stream whose process died stops counting by itself.
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// `owner`'s streams whose lease runs past `now`.
    async fn open_streams(&self, owner: &UserId, now: Timestamp) -> StoreResult<u32>;
    /// Opens or renews stream `id` until `expires_at`.
    async fn put_stream(&self, owner: &UserId, id: &str, expires_at: Timestamp) -> StoreResult<()>;
    async fn remove_stream(&self, owner: &UserId, id: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait ThreadStore: Send + Sync {
    /// Writes a thread if its stored version is `version - 1` (absent when 1); Conflict
    /// otherwise.
    async fn put_thread(&self, thread: &Thread) -> StoreResult<()>;
    async fn thread(&self, id: &ThreadId) -> StoreResult<Option<Thread>>;
    /// Up to `limit` of `owner`'s threads, most recently created first, without messages.
    async fn list_threads(&self, owner: &UserId, limit: u32) -> StoreResult<Vec<Thread>>;
    async fn delete_thread(&self, thread: &Thread) -> StoreResult<()>;
}

#[async_trait]
pub trait NodeStore: Send + Sync {
    async fn node_by_name(&self, name: &str) -> StoreResult<Option<Node>>;
    /// Conflict when the name is taken.
    async fn insert_node(&self, node: &Node) -> StoreResult<()>;
    async fn node(&self, id: &NodeId) -> StoreResult<Option<Node>>;
    /// Updates what the node reports about itself (capabilities, times), never its
    /// operator-set state.
    async fn update_node(&self, node: &Node) -> StoreResult<()>;
    /// Stores the node's new identity if its generation is still `previous_generation`
    /// (Conflict otherwise: another registration of the name won).
    async fn replace_identity(&self, node: &Node, previous_generation: u32) -> StoreResult<()>;
    /// Records a request from the node.
    async fn touch_node(&self, id: &NodeId, at: Timestamp) -> StoreResult<()>;
    /// Sets what an operator allows the node to do.
    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> StoreResult<()>;
    /// Replaces the labels an admin gave the node.
    async fn set_node_labels(&self, id: &NodeId, labels: &[String]) -> StoreResult<()>;
    async fn current_config(&self) -> StoreResult<Option<ConfigRecord>>;
    /// Replaces the current configuration record if it is still `previous` (Conflict
    /// otherwise: another instance made a new version first).
    async fn replace_config(
        &self,
        previous: Option<&ConfigRecord>,
        next: &ConfigRecord,
    ) -> StoreResult<()>;
    /// Records that `node` applied configuration `version`.
    async fn record_ack(&self, node: &NodeId, version: &str, at: Timestamp) -> StoreResult<()>;
    /// Every node that acknowledged a configuration (every node that ever started), with
    /// the version it acked.
    async fn acked_nodes(&self) -> StoreResult<Vec<(NodeId, String)>>;
    /// Remembers a request signature until `expires_at`. `false` if it was seen before.
    async fn remember_signature(&self, signature: &str, expires_at: Timestamp)
        -> StoreResult<bool>;
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, message: &JobMessage) -> StoreResult<()> {
        self.enqueue_delayed(message, 0).await
    }
    /// Sends a message that becomes visible after `delay_secs` (at most 900).
    async fn enqueue_delayed(&self, message: &JobMessage, delay_secs: u32) -> StoreResult<()>;
}

/// A message the job queues gave up on after their maximum number of deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    /// The handle to delete this delivery of it.
    pub receipt: String,
    pub body: String,
}

/// The dead-letter queue both job queues share.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `max` dead letters, each hidden from other readers for `hide_secs` (0 to
    /// only look).
    async fn receive_dead(&self, max: u32, hide_secs: u32) -> StoreResult<Vec<DeadLetter>>;
    async fn delete_dead(&self, receipt: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Size of a stored object, `None` when absent.
    async fn size(&self, key: &str) -> StoreResult<Option<u64>>;
    /// A URL that accepts one PUT of exactly `size` bytes to `key` until it expires.
    async fn upload_url(&self, key: &str, size: u64, expires_in_secs: u64) -> StoreResult<String>;
    /// A URL that serves `key` until it expires.
    async fn download_url(&self, key: &str, expires_in_secs: u64) -> StoreResult<String>;
    /// Deletes every object whose key starts with `prefix`; returns how many there were.
    async fn delete_prefix(&self, prefix: &str) -> StoreResult<u64>;
}

/// Issues a node short-lived AWS credentials restricted by a session policy (STS
/// AssumeRole on the deployment's node queue role).
#[async_trait]
pub trait CredentialIssuer: Send + Sync {
    /// Credentials for `session_name` (the node's id) allowed at most what `policy` (an
    /// IAM policy document) allows.
    async fn issue(&self, session_name: &str, policy: &str) -> StoreResult<QueueCredentials>;
}
