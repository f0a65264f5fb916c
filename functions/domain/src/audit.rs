//! The audit trail's events: who did what to what, when, from where, and how it ended.
//! An event never holds a secret, a prompt or a model's answer: the recorder is given
//! only names, ids, codes and short changes (`disabled=true`).

use crate::clock::Timestamp;
use crate::ids::{new_ulid, TaskId, UserId};
use crate::principal::Principal;
use crate::wire::{AuditEntry, AuditOutcome};

/// One recorded event, and the user whose trail it belongs to (the user who acted, or
/// for a failed sign-in the user whose handle was tried): that user sees it in their own
/// `GET /v1/audit`; admins see every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub entry: AuditEntry,
    pub user: Option<UserId>,
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User {
        id: UserId,
        handle: String,
    },
    Node(String),
    /// Someone not (yet) known: a failed sign-in, a node registering.
    Anonymous,
}

impl Actor {
    pub fn of(principal: &Principal) -> Self {
        Actor::User {
            id: principal.user_id.clone(),
            handle: principal.handle.clone(),
        }
    }

    fn shown(&self) -> String {
        match self {
            Actor::User { handle, .. } => format!("user:{handle}"),
            Actor::Node(name) => format!("node:{name}"),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

/// What a service reports; [`crate::service::audit::Auditor`] stamps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub action: &'static str,
    pub outcome: AuditOutcome,
    pub actor: Actor,
    pub subject: String,
    /// Whose trail it belongs to when not the acting user's.
    pub concerns: Option<UserId>,
    pub task: Option<TaskId>,
    pub source: Option<String>,
    pub detail: Option<String>,
}

impl AuditRecord {
    /// A successful `action` by `actor` on `subject`.
    pub fn new(action: &'static str, actor: Actor, subject: impl Into<String>) -> Self {
        Self {
            action,
            outcome: AuditOutcome::Success,
            actor,
            subject: subject.into(),
            concerns: None,
            task: None,
            source: None,
            detail: None,
        }
    }

    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.outcome = AuditOutcome::Failure;
        self.detail = Some(reason.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn from_source(mut self, source: &str) -> Self {
        self.source = Some(source.to_owned());
        self
    }

    pub fn for_task(mut self, task: &TaskId) -> Self {
        self.task = Some(task.clone());
        self
    }

    pub fn concerning(mut self, user: &UserId) -> Self {
        self.concerns = Some(user.clone());
        self
    }

    /// The event as stored, at `at`.
    pub fn stamped(self, at: Timestamp) -> AuditEvent {
        let user = match &self.actor {
            Actor::User { id, .. } => Some(id.clone()),
            _ => None,
        }
        .or(self.concerns);
        AuditEvent {
            entry: AuditEntry {
                event_id: new_ulid(),
                at,
                action: self.action.to_owned(),
                outcome: self.outcome,
                actor: self.actor.shown(),
                subject: self.subject,
                task_id: self.task.map(|task| task.to_string()),
                source: self.source,
                detail: self.detail,
            },
            user,
        }
    }
}

/// The month (`YYYY-MM`, UTC) an event of time `at` is kept under.
pub fn month_of(at: Timestamp) -> String {
    format!("{:04}-{:02}", at.year(), u8::from(at.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_event_belongs_to_the_acting_user_or_else_the_user_it_concerns() {
        let alice = Principal::test_user("alice");
        let at = datetime!(2026-12-01 10:00 UTC);
        let event = AuditRecord::new("api_key.create", Actor::of(&alice), "api_key:key_1")
            .from_source("10.0.0.1")
            .stamped(at);
        assert_eq!(event.user.as_ref(), Some(&alice.user_id));
        assert_eq!(event.entry.actor, "user:alice");
        assert_eq!(event.entry.outcome, AuditOutcome::Success);
        let bob = UserId::generate();
        let failed = AuditRecord::new("auth.login", Actor::Anonymous, "user:bob")
            .concerning(&bob)
            .failed("invalid_credentials")
            .stamped(at);
        assert_eq!(failed.user, Some(bob));
        assert_eq!(failed.entry.actor, "anonymous");
        assert_eq!(failed.entry.detail.as_deref(), Some("invalid_credentials"));
        assert!(
            failed.entry.event_id > event.entry.event_id,
            "ids sort by time"
        );
        assert_eq!(month_of(at), "2026-12");
    }
}
