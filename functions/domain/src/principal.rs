//! Who is calling: the authenticated user behind a request, as every user-facing
//! service receives it, and the one check of admin rights. Authentication itself
//! (tokens, sessions, API keys) is `service::auth`'s; this is what the rest of the domain
//! needs.

use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, SessionId, UserId};
use crate::ports::UserStore;
use crate::user::normalize_handle;
use crate::wire::ApiKeyScope;
use crate::ErrorCode;

/// The user a request is about: the caller, or (admins only) the user with `handle`
/// (404 `unknown_user` when there is none).
pub(crate) async fn subject_user(
    users: &dyn UserStore,
    principal: &Principal,
    handle: Option<&str>,
) -> Result<UserId> {
    let Some(handle) = handle.filter(|h| *h != principal.handle) else {
        return Ok(principal.user_id.clone());
    };
    require_admin(principal)?;
    let handle = normalize_handle(handle)?;
    let user = users
        .user_by_handle(&handle)
        .await?
        .ok_or_else(|| Error::not_found(ErrorCode::UnknownUser, format!("no user '{handle}'")))?;
    Ok(user.id)
}

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
    /// What the request was authenticated with.
    pub credential: Credential,
}

/// A login session's access token, or a personal API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Session(SessionId),
    ApiKey { id: ApiKeyId, scope: ApiKeyScope },
}

impl Principal {
    /// Whether the credential reaches every route the user may use, not only the model
    /// routes.
    pub fn has_full_scope(&self) -> bool {
        !matches!(
            self.credential,
            Credential::ApiKey {
                scope: ApiKeyScope::Models,
                ..
            }
        )
    }

    /// The login session behind the request, if it came with an access token.
    pub fn session_id(&self) -> Option<&SessionId> {
        match &self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiKey { .. } => None,
        }
    }
}

#[cfg(test)]
impl Principal {
    /// A fresh non-admin user with a session, for the services' unit tests.
    pub fn test_user(handle: &str) -> Principal {
        Principal {
            user_id: crate::ids::UserId::generate(),
            handle: handle.into(),
            is_admin: false,
            credential: Credential::Session(crate::ids::SessionId::generate()),
        }
    }
}
