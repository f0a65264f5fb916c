//! Who is calling: the authenticated user behind a request, as every user-facing
//! service receives it, and the one check of admin rights. Authentication itself
//! (tokens, sessions) is `service::auth`'s; this is what the rest of the domain needs.

use crate::error::{Error, Result};
use crate::ids::{SessionId, UserId};
use crate::ErrorCode;

/// Refuses anyone but an admin (403 `admin_required`).
pub fn require_admin(principal: &Principal) -> Result<()> {
    if principal.is_admin {
        Ok(())
    } else {
        Err(Error::forbidden(
            ErrorCode::AdminRequired,
            "only admins may do this",
        ))
    }
}

/// The authenticated caller of a user route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub handle: String,
    pub is_admin: bool,
    pub session_id: SessionId,
}

#[cfg(test)]
impl Principal {
    /// A fresh non-admin user with a session, for the services' unit tests.
    pub fn test_user(handle: &str) -> Principal {
        Principal {
            user_id: crate::ids::UserId::generate(),
            handle: handle.into(),
            is_admin: false,
            session_id: crate::ids::SessionId::generate(),
        }
    }
}
