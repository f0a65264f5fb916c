//! In-memory implementations of every port, for unit tests of the services.
//!
//! They keep the same contracts as the DynamoDB/SQS/S3 adapters (conditional writes,
//! uniqueness, paging) so that service tests exercise the real rules. The adapters have
//! their own tests against LocalStack.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::api_key::ApiKey;
use crate::chat::Thread;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::ids::{
    ApiKeyId, AttachmentId, JobId, NodeId, ProjectId, SessionId, TaskId, ThreadId, UserId,
};
use crate::job::Job;
use crate::node::{ConfigRecord, Node};
use crate::ports::*;
use crate::preference::{PreferenceTarget, StoredPreference};
use crate::project::Project;
use crate::session::{RefreshState, RefreshToken, Session};
use crate::task::{Attachment, Task};
use crate::user::{User, UserUpdate};
use crate::wire::JobMessage;

mod credentials;
mod logs;
mod nodes;
mod providers;
mod tasks;
mod usage;

#[derive(Default)]
struct State {
    users: HashMap<UserId, User>,
    failures: HashMap<String, LoginFailures>,
    sessions: HashMap<SessionId, Session>,
    refresh: HashMap<String, RefreshToken>,
    api_keys: BTreeMap<ApiKeyId, ApiKey>,
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
    chunks: BTreeMap<(TaskId, JobId, u32, u32), Chunk>,
    threads: BTreeMap<ThreadId, Thread>,
    projects: BTreeMap<(UserId, String), Project>,
    credentials: HashMap<ProjectId, String>,
    streams: HashMap<(UserId, String), Timestamp>,
    usage: BTreeMap<(UserId, String, String), crate::wire::UsageRow>,
    preferences: HashMap<PreferenceTarget, BTreeMap<String, StoredPreference>>,
    audit: BTreeMap<String, crate::audit::AuditEvent>,
    settings: Option<crate::settings::SettingsRecord>,
    skills: BTreeMap<(UserId, String), crate::skill::Skill>,
    stored_credentials: BTreeMap<(UserId, String), crate::credential::StoredCredential>,
    sealed: HashMap<crate::ids::CredentialId, crate::credential::Sealed>,
    logs: BTreeMap<(TaskId, crate::live_log::LogPosition), crate::live_log::LogChunk>,
    minute_tokens: HashMap<(UserId, String), u64>,
    providers: BTreeMap<String, crate::provider::Provider>,
    /// By provider, and owner (`None`: the system's).
    provider_credentials: BTreeMap<(String, Option<UserId>), crate::provider::ProviderCredential>,
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
    async fn users(&self) -> StoreResult<Vec<User>> {
        Ok(self.state().users.values().cloned().collect())
    }
    async fn update_user(
        &self,
        id: &UserId,
        update: &UserUpdate,
        keep_admin: Option<&UserId>,
    ) -> StoreResult<()> {
        let mut state = self.state();
        if let Some(other) = keep_admin {
            if !state.users.get(other).is_some_and(User::is_active_admin) {
                return Err(conflict("the other admin is no longer one"));
            }
        }
        let user = state
            .users
            .get_mut(id)
            .ok_or_else(|| conflict("no such user"))?;
        *user = update.applied_to(user);
        Ok(())
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
impl ApiKeyStore for MemoryStore {
    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let mut state = self.state();
        if state.api_keys.contains_key(&key.id) {
            return Err(conflict("API key exists"));
        }
        state.api_keys.insert(key.id.clone(), key.clone());
        Ok(())
    }
    async fn api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        Ok(self.state().api_keys.get(id).cloned())
    }
    async fn api_keys_of(&self, user: &UserId) -> StoreResult<Vec<ApiKey>> {
        Ok(self
            .state()
            .api_keys
            .values()
            .filter(|key| &key.user_id == user)
            .cloned()
            .collect())
    }
    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> StoreResult<()> {
        if let Some(key) = self.state().api_keys.get_mut(id) {
            key.revoked_at.get_or_insert(at);
        }
        Ok(())
    }
    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> StoreResult<()> {
        if let Some(key) = self.state().api_keys.get_mut(id) {
            key.last_used_at = Some(at);
        }
        Ok(())
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
impl SkillStore for MemoryStore {
    async fn put_skill(&self, skill: &crate::skill::Skill) -> StoreResult<()> {
        self.state()
            .skills
            .insert((skill.owner.clone(), skill.name.clone()), skill.clone());
        Ok(())
    }

    async fn skill(&self, owner: &UserId, name: &str) -> StoreResult<Option<crate::skill::Skill>> {
        Ok(self
            .state()
            .skills
            .get(&(owner.clone(), name.to_owned()))
            .cloned())
    }

    async fn skills(&self, owner: &UserId) -> StoreResult<Vec<crate::skill::Skill>> {
        Ok(self
            .state()
            .skills
            .values()
            .filter(|skill| &skill.owner == owner)
            .cloned()
            .collect())
    }

    async fn delete_skill(&self, owner: &UserId, name: &str) -> StoreResult<bool> {
        Ok(self
            .state()
            .skills
            .remove(&(owner.clone(), name.to_owned()))
            .is_some())
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn settings(&self) -> StoreResult<Option<crate::settings::SettingsRecord>> {
        Ok(self.state().settings.clone())
    }

    async fn replace_settings(
        &self,
        previous: Option<&str>,
        next: &crate::settings::SettingsRecord,
    ) -> StoreResult<()> {
        let mut state = self.state();
        if state
            .settings
            .as_ref()
            .map(|stored| stored.version.as_str())
            != previous
        {
            return Err(conflict("the settings changed"));
        }
        state.settings = Some(next.clone());
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(
        &self,
        event: &crate::audit::AuditEvent,
        _expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.state()
            .audit
            .insert(event.entry.event_id.clone(), event.clone());
        Ok(())
    }

    async fn month_events(
        &self,
        month: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<crate::audit::AuditEvent>> {
        Ok(self.audit_before(before, limit, |event| {
            crate::audit::month_of(event.entry.at) == month
        }))
    }

    async fn user_events(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<crate::audit::AuditEvent>> {
        Ok(self.audit_before(before, limit, |event| event.user.as_ref() == Some(user)))
    }
}

impl MemoryStore {
    fn audit_before(
        &self,
        before: Option<&str>,
        limit: u32,
        wanted: impl Fn(&crate::audit::AuditEvent) -> bool,
    ) -> Vec<crate::audit::AuditEvent> {
        self.state()
            .audit
            .values()
            .rev()
            .filter(|event| before.is_none_or(|before| event.entry.event_id.as_str() < before))
            .filter(|event| wanted(event))
            .take(limit as usize)
            .cloned()
            .collect()
    }
}

#[async_trait]
impl PreferenceStore for MemoryStore {
    async fn preferences(&self, target: &PreferenceTarget) -> StoreResult<Vec<StoredPreference>> {
        Ok(self
            .state()
            .preferences
            .get(target)
            .map(|values| values.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn put_preference(
        &self,
        target: &PreferenceTarget,
        value: &StoredPreference,
    ) -> StoreResult<()> {
        self.state()
            .preferences
            .entry(target.clone())
            .or_default()
            .insert(value.key.clone(), value.clone());
        Ok(())
    }

    async fn delete_preference(&self, target: &PreferenceTarget, key: &str) -> StoreResult<bool> {
        Ok(self
            .state()
            .preferences
            .get_mut(target)
            .and_then(|values| values.remove(key))
            .is_some())
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
    async fn delete_prefix(&self, prefix: &str) -> StoreResult<u64> {
        let mut state = self.state();
        let before = state.blobs.len();
        state.blobs.retain(|key, _| !key.starts_with(prefix));
        Ok((before - state.blobs.len()) as u64)
    }
}
