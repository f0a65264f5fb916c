//! Managing personal API keys: create (the secret is returned this once), list, revoke.
//! A user manages their own keys; an admin may list and revoke anyone's. Another user's
//! key gets the same 404 as one that does not exist.

use std::sync::Arc;

use crate::api_key::{ApiKey, MAX_KEYS_PER_USER};
use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::ApiKeyId;
use crate::ports::{ApiKeyStore, UserStore};
use crate::principal::{subject_user, Principal};
use crate::service::audit::Auditor;
use crate::wire::{ApiKeyList, ApiKeyView, CreateApiKeyRequest, CreatedApiKey};
use crate::ErrorCode;

pub struct ApiKeyService {
    keys: Arc<dyn ApiKeyStore>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
}

fn not_found(id: &str) -> Error {
    Error::not_found(ErrorCode::ApiKeyNotFound, format!("no API key '{id}'"))
}

impl ApiKeyService {
    pub fn new(
        keys: Arc<dyn ApiKeyStore>,
        users: Arc<dyn UserStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            keys,
            users,
            clock,
            audit: Auditor::default(),
        }
    }

    /// Records every key made and revoked.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    pub async fn create(
        &self,
        principal: &Principal,
        req: CreateApiKeyRequest,
    ) -> Result<CreatedApiKey> {
        let now = self.clock.now();
        let (key, secret) = ApiKey::create(&principal.user_id, &req, now)?;
        let live = self
            .keys
            .api_keys_of(&principal.user_id)
            .await?
            .iter()
            .filter(|key| key.refusal(now).is_none())
            .count();
        if live >= MAX_KEYS_PER_USER {
            return Err(Error::conflict(
                ErrorCode::TooManyApiKeys,
                format!("you have {live} API keys, the most one user may; revoke one first"),
            ));
        }
        match self.keys.insert_api_key(&key).await {
            Ok(()) => {
                let record = AuditRecord::new(
                    "api_key.create",
                    Actor::of(principal),
                    format!("api_key:{}", key.id),
                )
                .detail(format!(
                    "name={} scope={}",
                    key.name,
                    key.view().scope.as_str()
                ));
                self.audit.record(record).await?;
                Ok(CreatedApiKey {
                    key: secret,
                    api_key: key.view(),
                })
            }
            Err(StoreError::Conflict(_)) => Err(Error::internal("a new API key's id was taken")),
            Err(err) => Err(err.into()),
        }
    }

    /// The caller's keys, or (admins only) those of the user with `handle`; newest first.
    pub async fn list(&self, principal: &Principal, handle: Option<&str>) -> Result<ApiKeyList> {
        let user = subject_user(&*self.users, principal, handle).await?;
        let mut keys: Vec<ApiKeyView> = self
            .keys
            .api_keys_of(&user)
            .await?
            .iter()
            .map(ApiKey::view)
            .collect();
        keys.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(ApiKeyList { api_keys: keys })
    }

    /// Revokes a key of the caller's (any user's, for an admin); it stops working at once.
    /// Revoking a revoked key changes nothing.
    pub async fn revoke(&self, principal: &Principal, id: &str) -> Result<ApiKeyView> {
        let key_id = ApiKeyId::parse(id).ok_or_else(|| not_found(id))?;
        let key = self
            .keys
            .api_key(&key_id)
            .await?
            .filter(|key| key.user_id == principal.user_id || principal.is_admin)
            .ok_or_else(|| not_found(id))?;
        self.keys.revoke_api_key(&key.id, self.clock.now()).await?;
        let record = AuditRecord::new(
            "api_key.revoke",
            Actor::of(principal),
            format!("api_key:{}", key.id),
        );
        self.audit.record(record).await?;
        let revoked = self
            .keys
            .api_key(&key.id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(revoked.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::ErrorKind;
    use crate::memory::MemoryStore;
    use crate::service::{AuthService, AuthSettings, StreamService, StreamSettings, UserService};
    use crate::session::AccessTokens;
    use crate::wire::UpdateUserRequest;
    use crate::wire::{ApiKeyScope, LoginRequest};
    use time::macros::datetime;
    use time::Duration;

    struct Fixture {
        keys: ApiKeyService,
        auth: AuthService,
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
    }

    async fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-05 10:00 UTC)));
        let auth = AuthService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            AccessTokens::new(b"0123456789abcdef0123456789abcdef", 900),
            clock.clone(),
            AuthSettings::default(),
        );
        auth.bootstrap_admin("admin", "admin-password")
            .await
            .unwrap();
        let keys = ApiKeyService::new(store.clone(), store.clone(), clock.clone());
        Fixture {
            keys,
            auth,
            store,
            clock,
        }
    }

    impl Fixture {
        async fn user(&self, handle: &str, admin: bool) -> Principal {
            if handle != "admin" {
                let admin_user = self.login("admin", "admin-password").await;
                UserService::new(self.store.clone(), self.clock.clone())
                    .create(
                        &admin_user,
                        crate::wire::CreateUserRequest {
                            handle: handle.into(),
                            password: "a-long-password".into(),
                            is_admin: admin,
                        },
                    )
                    .await
                    .unwrap();
                return self.login(handle, "a-long-password").await;
            }
            self.login(handle, "admin-password").await
        }

        async fn login(&self, handle: &str, password: &str) -> Principal {
            let pair = self
                .auth
                .login(
                    LoginRequest {
                        handle: handle.into(),
                        password: password.into(),
                    },
                    "10.0.0.1",
                )
                .await
                .unwrap();
            self.auth.authenticate(&pair.access_token).await.unwrap()
        }

        async fn create(
            &self,
            who: &Principal,
            scope: ApiKeyScope,
            days: Option<u32>,
        ) -> CreatedApiKey {
            self.keys
                .create(
                    who,
                    CreateApiKeyRequest {
                        name: "editor".into(),
                        scope,
                        expires_in_days: days,
                    },
                )
                .await
                .unwrap()
        }
    }

    #[tokio::test]
    async fn a_key_authenticates_as_its_user_with_its_scope_until_revoked() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let created = f.create(&alice, ApiKeyScope::Models, None).await;
        let caller = f.auth.authenticate(&created.key).await.unwrap();
        assert_eq!((&caller.user_id, caller.is_admin), (&alice.user_id, false));
        assert!(!caller.has_full_scope());
        assert_eq!(caller.session_id(), None);
        let listed = f.keys.list(&alice, None).await.unwrap().api_keys;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(f.clock.now()));

        f.keys
            .revoke(&alice, created.api_key.id.as_str())
            .await
            .unwrap();
        let err = f.auth.authenticate(&created.key).await.unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (ErrorKind::Unauthenticated, ErrorCode::ApiKeyRevoked)
        );
    }

    #[tokio::test]
    async fn a_disabled_users_keys_stop_at_once_and_work_again_when_enabled() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let created = f.create(&alice, ApiKeyScope::All, None).await;
        let admin = f.login("admin", "admin-password").await;
        let users = UserService::new(f.store.clone(), f.clock.clone());
        let set_disabled = |disabled| UpdateUserRequest {
            is_admin: None,
            disabled: Some(disabled),
        };
        users
            .update(&admin, "alice", set_disabled(true))
            .await
            .unwrap();
        let err = f.auth.authenticate(&created.key).await.unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (ErrorKind::Forbidden, ErrorCode::UserDisabled)
        );
        users
            .update(&admin, "alice", set_disabled(false))
            .await
            .unwrap();
        assert!(f.auth.authenticate(&created.key).await.is_ok());
    }

    #[tokio::test]
    async fn a_wrong_secret_for_a_real_key_id_is_refused() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let created = f.create(&alice, ApiKeyScope::All, None).await;
        let mut forged = created.key.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        for secret in [forged.as_str(), "cyk_nonsense"] {
            let err = f.auth.authenticate(secret).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidApiKey, "{secret}");
        }
        assert!(f
            .auth
            .authenticate(&created.key)
            .await
            .unwrap()
            .has_full_scope());
    }

    #[tokio::test]
    async fn an_expired_key_stops_working() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let created = f.create(&alice, ApiKeyScope::All, Some(1)).await;
        assert!(f.auth.authenticate(&created.key).await.is_ok());
        f.clock.advance(Duration::days(1));
        let err = f.auth.authenticate(&created.key).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ApiKeyExpired);
    }

    #[tokio::test]
    async fn others_keys_are_not_found_but_admins_list_and_revoke_them() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let bob = f.user("bob", false).await;
        let admin = f.login("admin", "admin-password").await;
        let created = f.create(&alice, ApiKeyScope::All, None).await;
        let id = created.api_key.id.as_str();

        let err = f.keys.revoke(&bob, id).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ApiKeyNotFound);
        let err = f.keys.list(&bob, Some("alice")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        assert!(f.keys.list(&bob, None).await.unwrap().api_keys.is_empty());

        let listed = f.keys.list(&admin, Some("alice")).await.unwrap().api_keys;
        assert_eq!(
            listed.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            [id]
        );
        let revoked = f.keys.revoke(&admin, id).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(f.clock.now()));
        assert_eq!(
            f.auth.authenticate(&created.key).await.unwrap_err().code,
            ErrorCode::ApiKeyRevoked
        );
        let err = f.keys.list(&admin, Some("nobody")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownUser);
    }

    #[tokio::test]
    async fn a_user_holds_at_most_the_limit_of_live_keys() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let mut first = None;
        for _ in 0..MAX_KEYS_PER_USER {
            first.get_or_insert(f.create(&alice, ApiKeyScope::Models, None).await);
        }
        let req = || CreateApiKeyRequest {
            name: "one more".into(),
            scope: ApiKeyScope::Models,
            expires_in_days: None,
        };
        let err = f.keys.create(&alice, req()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::TooManyApiKeys);
        let first = first.unwrap();
        f.keys
            .revoke(&alice, first.api_key.id.as_str())
            .await
            .unwrap();
        assert!(f.keys.create(&alice, req()).await.is_ok());
    }

    #[tokio::test]
    async fn a_stream_opened_with_a_key_ends_when_the_key_is_revoked() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let created = f.create(&alice, ApiKeyScope::Models, None).await;
        let caller = f.auth.authenticate(&created.key).await.unwrap();
        let streams = StreamService::new(
            f.store.clone(),
            f.store.clone(),
            f.store.clone(),
            f.store.clone(),
            f.clock.clone(),
            StreamSettings::default(),
        );
        let lease = streams.open(&caller).await.unwrap();
        assert!(streams.renew(&lease).await.unwrap());
        f.keys
            .revoke(&alice, created.api_key.id.as_str())
            .await
            .unwrap();
        assert!(!streams.renew(&lease).await.unwrap());
    }

    #[tokio::test]
    async fn logging_out_with_a_key_is_refused_and_says_to_revoke_it() {
        let f = fixture().await;
        let alice = f.user("alice", false).await;
        let created = f.create(&alice, ApiKeyScope::All, None).await;
        let caller = f.auth.authenticate(&created.key).await.unwrap();
        let err = f
            .auth
            .logout(&caller, Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::NotASession);
    }
}
