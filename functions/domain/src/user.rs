//! Users and their passwords.

use crate::ErrorCode;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::wire::UserView;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub handle: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: Timestamp,
    /// Set while an admin has disabled the user: no sign-in, and every session and API
    /// key of theirs is refused.
    pub disabled_at: Option<Timestamp>,
    /// Sessions started before this time are over (set when the password changes).
    pub sessions_after: Option<Timestamp>,
}

impl User {
    /// A new, enabled user.
    pub fn new(handle: String, password_hash: String, is_admin: bool, now: Timestamp) -> Self {
        Self {
            id: UserId::generate(),
            handle,
            password_hash,
            is_admin,
            created_at: now,
            disabled_at: None,
            sessions_after: None,
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// An admin who can still act as one: the last-admin rule counts only these.
    pub fn is_active_admin(&self) -> bool {
        self.is_admin && !self.is_disabled()
    }

    /// Whether a session this user started at `started` may still be used.
    pub fn accepts_session(&self, started: Timestamp) -> bool {
        !self.is_disabled() && self.sessions_after.is_none_or(|after| started >= after)
    }

    pub fn view(&self) -> UserView {
        UserView {
            user_id: self.id.clone(),
            handle: self.handle.clone(),
            is_admin: self.is_admin,
            disabled: self.is_disabled(),
            created_at: self.created_at,
        }
    }
}

/// What an admin (or the user, for the password) changes about a user; `None` leaves a
/// field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub is_admin: Option<bool>,
    /// `Some(Some(at))` disables, `Some(None)` enables.
    pub disabled_at: Option<Option<Timestamp>>,
    /// A new hash, and the time before which sessions end.
    pub password: Option<(String, Timestamp)>,
}

impl UserUpdate {
    pub fn is_empty(&self) -> bool {
        self.is_admin.is_none() && self.disabled_at.is_none() && self.password.is_none()
    }

    /// Whether the user stops being an active admin by this update.
    pub fn demotes(&self, user: &User) -> bool {
        user.is_active_admin() && !self.applied_to(user).is_active_admin()
    }

    pub fn applied_to(&self, user: &User) -> User {
        let mut next = user.clone();
        if let Some(is_admin) = self.is_admin {
            next.is_admin = is_admin;
        }
        if let Some(disabled_at) = self.disabled_at {
            next.disabled_at = disabled_at;
        }
        if let Some((hash, after)) = &self.password {
            next.password_hash = hash.clone();
            next.sessions_after = Some(*after);
        }
        next
    }
}

/// Handles are 3–64 characters of lowercase letters, digits, `.`, `_` and `-`; input is
/// lowercased first, so `Alice` and `alice` are one user.
pub fn normalize_handle(raw: &str) -> Result<String> {
    let handle = raw.trim().to_ascii_lowercase();
    let valid_chars = handle
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !(3..=64).contains(&handle.len()) || !valid_chars {
        return Err(Error::validation(
            ErrorCode::InvalidHandle,
            "handle must be 3-64 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(handle)
}

pub fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::validation(
            ErrorCode::WeakPassword,
            format!("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_BYTES} characters"),
        ));
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| Error::internal(format!("password hashing failed: {err}")))
}

/// Constant-time check of a password against a stored hash. A malformed hash counts as
/// a mismatch (and is logged by the caller), never as a match.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored_hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Verified against when the user does not exist, so that an unknown user costs the same
/// time as a wrong password and timing does not reveal which handles exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password never matches").expect("hashing works"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn handles_are_normalized_and_checked() {
        assert_eq!(normalize_handle(" Alice ").unwrap(), "alice");
        assert_eq!(normalize_handle("a b").unwrap_err().code, "invalid_handle");
        assert_eq!(normalize_handle("ab").unwrap_err().code, "invalid_handle");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(
            check_new_password("1234567").unwrap_err().code,
            "weak_password"
        );
        assert!(check_new_password("12345678").is_ok());
    }
}
