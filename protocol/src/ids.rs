//! Identifiers. Each is a ULID with a short type prefix, so an id read in a log line or a
//! support ticket says what it names (`task_01J…`, `job_01J…`).

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id; ids created later sort later.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, monotonic_ulid()))
            }

            /// Accepts only well-formed ids of this type.
            pub fn parse(text: &str) -> Option<Self> {
                let rest = text.strip_prefix($prefix)?;
                ulid::Ulid::from_string(rest).ok()?;
                Some(Self(text.to_owned()))
            }

            /// Wraps a stored id without checking it (adapters reading their own writes).
            pub fn from_stored(text: impl Into<String>) -> Self {
                Self(text.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ulid_id!(/// A user account.
    UserId, "user_");
ulid_id!(/// A task a user submitted.
    TaskId, "task_");
ulid_id!(/// One unit of sandbox work of a task.
    JobId, "job_");
ulid_id!(/// A registered edge node.
    NodeId, "node_");
ulid_id!(/// A login session: the family of refresh tokens rotated from one login.
    SessionId, "sess_");
ulid_id!(/// A personal API key (its id; the secret is shown once and stored only hashed).
    ApiKeyId, "key_");
ulid_id!(/// An uploaded file a task may reference.
    AttachmentId, "att_");
ulid_id!(/// A git repository a user's planned work happens in.
    ProjectId, "proj_");
ulid_id!(/// A stored credential: fixed when it is made, its sealed value is bound to it.
    CredentialId, "cred_");
ulid_id!(/// One claim of a job by a node; a result must name the lease it ran under.
    LeaseId, "lease_");

/// A fresh ULID without a prefix (configuration versions).
pub fn new_ulid() -> String {
    monotonic_ulid().to_string()
}

/// ULIDs that sort in creation order within this process, even within one millisecond.
fn monotonic_ulid() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    generator
        .get_or_insert_with(ulid::Generator::new)
        .generate()
        // Overflow needs 2^80 ids in one millisecond; fall back to a random one.
        .unwrap_or_else(|_| ulid::Ulid::generate())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_their_own_kind() {
        let task = TaskId::generate();
        assert!(TaskId::parse(task.as_str()).is_some());
        assert!(JobId::parse(task.as_str()).is_none());
        assert!(TaskId::parse("task_not-a-ulid").is_none());
        assert!(TaskId::parse("").is_none());
    }

    #[test]
    fn later_ids_sort_later() {
        let first = TaskId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(TaskId::generate() > first);
    }
}
ulid_id!(/// A chat thread: one conversation of a user's.
    ThreadId, "thread_");
