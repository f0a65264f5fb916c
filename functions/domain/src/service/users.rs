//! Administering users: admins list, create, disable and enable users, reset passwords,
//! and grant or drop admin rights, never leaving the deployment without an active admin.
//! (Signing in, and changing one's own password, are `service::auth`'s.)

use std::sync::Arc;

use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::UserId;
use crate::ports::UserStore;
use crate::principal::{require_admin, Principal};
use crate::service::audit::Auditor;
use crate::service::tasks::{decode_cursor, encode_cursor, parse_limit};
use crate::user::{check_new_password, hash_password, normalize_handle, User, UserUpdate};
use crate::wire::{CreateUserRequest, ResetPasswordRequest, UpdateUserRequest, UserList, UserView};
use crate::ErrorCode;

/// How often an update that lost a race (the admin it counted on was dropped meanwhile)
/// is worked out again before the caller gets 409.
const UPDATE_TRIES: usize = 3;

pub struct UserService {
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
}

impl UserService {
    pub fn new(users: Arc<dyn UserStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            users,
            clock,
            audit: Auditor::default(),
        }
    }

    /// Records every change an admin makes.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// One page of users in handle order (admins only).
    pub async fn list(
        &self,
        principal: &Principal,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<UserList> {
        require_admin(principal)?;
        let limit = parse_limit(limit)? as usize;
        let after = cursor
            .map(|cursor| decode_cursor(cursor, |handle| normalize_handle(handle).ok()))
            .transpose()?;
        let mut users = self.users.users().await?;
        users.sort_by(|a, b| a.handle.cmp(&b.handle));
        let rest: Vec<&User> = users
            .iter()
            .filter(|user| after.as_ref().is_none_or(|after| &user.handle > after))
            .collect();
        let page = &rest[..rest.len().min(limit)];
        Ok(UserList {
            users: page.iter().map(|user| user.view()).collect(),
            next_cursor: (rest.len() > limit)
                .then(|| page.last().map(|user| encode_cursor(&user.handle)))
                .flatten(),
        })
    }

    pub async fn create(&self, principal: &Principal, req: CreateUserRequest) -> Result<UserView> {
        require_admin(principal)?;
        let handle = normalize_handle(&req.handle)?;
        check_new_password(&req.password)?;
        let user = User::new(
            handle,
            hash_password(&req.password)?,
            req.is_admin,
            self.clock.now(),
        );
        match self.users.insert_user(&user).await {
            Ok(()) => {
                let record = AuditRecord::new(
                    "user.create",
                    Actor::of(principal),
                    format!("user:{}", user.handle),
                )
                .detail(format!("is_admin={}", user.is_admin));
                self.audit.record(record).await?;
                Ok(user.view())
            }
            Err(StoreError::Conflict(_)) => Err(Error::conflict(
                ErrorCode::HandleTaken,
                format!("a user with handle '{}' exists", user.handle),
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Grants or drops admin, disables or enables. Disabling takes effect at once: the
    /// user's sessions and API keys are refused from the next request on.
    pub async fn update(
        &self,
        principal: &Principal,
        handle: &str,
        req: UpdateUserRequest,
    ) -> Result<UserView> {
        require_admin(principal)?;
        if req.is_admin.is_none() && req.disabled.is_none() {
            return Err(Error::validation(
                ErrorCode::EmptyUpdate,
                "give is_admin, disabled or both",
            ));
        }
        let handle = normalize_handle(handle)?;
        for _ in 0..UPDATE_TRIES {
            let user = self.existing(&handle).await?;
            let update = UserUpdate {
                is_admin: req.is_admin,
                // Disabling a disabled user keeps the time it was first disabled.
                disabled_at: match req.disabled {
                    Some(true) if user.is_disabled() => None,
                    Some(true) => Some(Some(self.clock.now())),
                    Some(false) => Some(None),
                    None => None,
                },
                password: None,
            };
            match self.apply(&user, &update).await {
                Err(err) if err.code == ErrorCode::ConcurrentUpdate => continue,
                Err(err) => return Err(err),
                Ok(()) => {
                    let change = [("is_admin", req.is_admin), ("disabled", req.disabled)]
                        .iter()
                        .filter_map(|(name, value)| value.map(|value| format!("{name}={value}")))
                        .collect::<Vec<_>>()
                        .join(" ");
                    let record = AuditRecord::new(
                        "user.update",
                        Actor::of(principal),
                        format!("user:{}", user.handle),
                    )
                    .detail(change);
                    self.audit.record(record).await?;
                    return Ok(update.applied_to(&user).view());
                }
            }
        }
        Err(concurrent_update())
    }

    /// Sets another user's password (admins only); their sessions end, their API keys
    /// stay (revoke those separately, or disable the user).
    pub async fn reset_password(
        &self,
        principal: &Principal,
        handle: &str,
        req: ResetPasswordRequest,
    ) -> Result<()> {
        require_admin(principal)?;
        check_new_password(&req.new_password)?;
        let user = self.existing(&normalize_handle(handle)?).await?;
        let update = UserUpdate {
            password: Some((hash_password(&req.new_password)?, self.clock.now())),
            ..UserUpdate::default()
        };
        self.apply(&user, &update).await?;
        let record = AuditRecord::new(
            "user.password_reset",
            Actor::of(principal),
            format!("user:{}", user.handle),
        );
        self.audit.record(record).await
    }

    async fn existing(&self, handle: &str) -> Result<User> {
        self.users
            .user_by_handle(handle)
            .await?
            .ok_or_else(|| Error::not_found(ErrorCode::UnknownUser, format!("no user '{handle}'")))
    }

    /// Stores `update`; one that leaves `user` no longer an active admin goes through only
    /// while another active admin remains, checked in the same write.
    async fn apply(&self, user: &User, update: &UserUpdate) -> Result<()> {
        if update.is_empty() {
            // Nothing changes (disabling a disabled user): nothing to write.
            return Ok(());
        }
        let keep_admin: Option<UserId> = if update.demotes(user) {
            let users = self.users.users().await?;
            let other = users
                .into_iter()
                .find(|other| other.id != user.id && other.is_active_admin())
                .ok_or_else(|| {
                    Error::conflict(
                        ErrorCode::LastAdmin,
                        format!(
                            "'{}' is the only active admin; make another user admin first",
                            user.handle
                        ),
                    )
                })?;
            Some(other.id)
        } else {
            None
        };
        match self
            .users
            .update_user(&user.id, update, keep_admin.as_ref())
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(concurrent_update()),
            Err(err) => Err(err.into()),
        }
    }
}

fn concurrent_update() -> Error {
    Error::conflict(
        ErrorCode::ConcurrentUpdate,
        "the user changed while this request ran; try again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::ErrorKind;
    use crate::ids::SessionId;
    use crate::memory::MemoryStore;
    use crate::principal::Credential;
    use time::macros::datetime;

    struct Fixture {
        users: UserService,
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-06 10:00 UTC)));
        Fixture {
            users: UserService::new(store.clone(), clock.clone()),
            store,
            clock,
        }
    }

    fn acting(user: &UserView) -> Principal {
        Principal {
            user_id: user.user_id.clone(),
            handle: user.handle.clone(),
            is_admin: user.is_admin,
            credential: Credential::Session(SessionId::generate()),
        }
    }

    async fn seed(f: &Fixture, handle: &str, is_admin: bool) -> UserView {
        let user = User::new(
            handle.into(),
            String::new(),
            is_admin,
            datetime!(2026-12-01 0:00 UTC),
        );
        f.store.insert_user(&user).await.unwrap();
        user.view()
    }

    fn change(is_admin: Option<bool>, disabled: Option<bool>) -> UpdateUserRequest {
        UpdateUserRequest { is_admin, disabled }
    }

    #[tokio::test]
    async fn the_last_active_admin_can_be_neither_dropped_nor_disabled() {
        let f = fixture();
        let root = acting(&seed(&f, "root", true).await);
        for req in [change(Some(false), None), change(None, Some(true))] {
            let err = f.users.update(&root, "root", req).await.unwrap_err();
            assert_eq!(
                (err.kind, err.code),
                (ErrorKind::Conflict, ErrorCode::LastAdmin)
            );
        }
        // A second admin who is disabled does not count.
        seed(&f, "ops", true).await;
        f.users
            .update(&root, "ops", change(None, Some(true)))
            .await
            .unwrap();
        let err = f
            .users
            .update(&root, "root", change(Some(false), None))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::LastAdmin);
        // Once ops is enabled again, root may step down.
        f.users
            .update(&root, "ops", change(None, Some(false)))
            .await
            .unwrap();
        let root_now = f
            .users
            .update(&root, "root", change(Some(false), None))
            .await
            .unwrap();
        assert!(!root_now.is_admin);
    }

    #[tokio::test]
    async fn only_admins_administer_and_an_empty_update_is_refused() {
        let f = fixture();
        let root = acting(&seed(&f, "root", true).await);
        let bob = acting(&seed(&f, "bob", false).await);
        let err = f
            .users
            .update(&bob, "root", change(None, Some(true)))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        let err = f.users.list(&bob, None, None).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        let err = f
            .users
            .update(&root, "bob", change(None, None))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::EmptyUpdate);
        let err = f
            .users
            .update(&root, "nobody", change(None, Some(true)))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (ErrorKind::NotFound, ErrorCode::UnknownUser)
        );
    }

    #[tokio::test]
    async fn users_are_listed_in_handle_order_a_page_at_a_time() {
        let f = fixture();
        let root = acting(&seed(&f, "root", true).await);
        for handle in ["carol", "alice", "bob"] {
            seed(&f, handle, false).await;
        }
        let first = f.users.list(&root, Some("2"), None).await.unwrap();
        let handles: Vec<_> = first.users.iter().map(|u| u.handle.as_str()).collect();
        assert_eq!(handles, ["alice", "bob"]);
        let cursor = first.next_cursor.expect("more follow");
        let second = f.users.list(&root, Some("2"), Some(&cursor)).await.unwrap();
        let handles: Vec<_> = second.users.iter().map(|u| u.handle.as_str()).collect();
        assert_eq!(handles, ["carol", "root"]);
        assert_eq!(second.next_cursor, None);
        let err = f
            .users
            .list(&root, None, Some("not-a-cursor"))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidCursor);
    }

    #[tokio::test]
    async fn disabling_twice_keeps_the_first_time() {
        let f = fixture();
        let root = acting(&seed(&f, "root", true).await);
        let bob = seed(&f, "bob", false).await;
        f.users
            .update(&root, "bob", change(None, Some(true)))
            .await
            .unwrap();
        let first = f
            .store
            .user_by_id(&bob.user_id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at;
        assert!(first.is_some());
        f.clock.advance(time::Duration::minutes(5));
        let view = f
            .users
            .update(&root, "bob", change(None, Some(true)))
            .await
            .unwrap();
        assert!(view.disabled);
        let again = f
            .store
            .user_by_id(&bob.user_id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at;
        assert_eq!(first, again);
    }

    #[tokio::test]
    async fn only_admins_create_users_and_handles_are_unique() {
        let f = fixture();
        let root = acting(&seed(&f, "root", true).await);
        let req = || CreateUserRequest {
            handle: " Bob ".into(),
            password: "bob-password".into(),
            is_admin: false,
        };
        let bob = f.users.create(&root, req()).await.unwrap();
        assert_eq!(
            (bob.handle.as_str(), bob.is_admin, bob.disabled),
            ("bob", false, false)
        );
        let err = f.users.create(&root, req()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::HandleTaken);
        let err = f.users.create(&acting(&bob), req()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
    }
}
