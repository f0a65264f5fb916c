//! Logging in, refreshing, logging out, changing one's own password, and knowing who is
//! calling: an access token of a live session, or a personal API key that is neither
//! revoked nor expired, of a user who is not disabled.

use crate::ErrorCode;
use std::sync::Arc;

use time::Duration;

use crate::api_key::{hash_secret, is_api_key, key_id_of};
use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::clock::Timestamp;
use crate::error::{Error, Result, StoreError};
use crate::ids::{SessionId, UserId};
use crate::ports::{ApiKeyStore, SessionStore, UserStore};
use crate::principal::{Credential, Principal};
use crate::service::audit::Auditor;
use crate::session::{
    hash_refresh_token, new_refresh_token, AccessTokens, RefreshState, RefreshToken, Session,
};
use crate::user::{
    check_new_password, decoy_hash, hash_password, normalize_handle, verify_password, User,
    UserUpdate,
};
use crate::wire::{
    ChangePasswordRequest, LoginRequest, LogoutRequest, RefreshRequest, TokenPair, UserView,
};

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Failed logins of one handle allowed per window before further tries get 429.
    pub max_login_failures: u32,
    pub login_window_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            max_login_failures: 5,
            login_window_secs: 15 * 60,
        }
    }
}

/// A source may fail this many times the per-handle limit, across all handles.
const SOURCE_LIMIT_FACTOR: u32 = 4;

pub struct AuthService {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    keys: Arc<dyn ApiKeyStore>,
    tokens: AccessTokens,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    audit: Auditor,
}

fn invalid_credentials() -> Error {
    Error::unauthenticated(ErrorCode::InvalidCredentials, "wrong handle or password")
}

fn user_disabled() -> Error {
    Error::forbidden(
        ErrorCode::UserDisabled,
        "this user is disabled; ask an admin to enable it",
    )
}

fn session_ended() -> Error {
    Error::unauthenticated(
        ErrorCode::TokenRevoked,
        "the session has ended; log in again",
    )
}

impl AuthService {
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        keys: Arc<dyn ApiKeyStore>,
        tokens: AccessTokens,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
    ) -> Self {
        Self {
            users,
            sessions,
            keys,
            tokens,
            clock,
            settings,
            audit: Auditor::default(),
        }
    }

    /// Records sign-ins, their failures and password changes.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// Creates the configured admin on first start; does nothing once it exists.
    pub async fn bootstrap_admin(&self, handle: &str, password: &str) -> Result<()> {
        let handle = normalize_handle(handle)?;
        if self.users.user_by_handle(&handle).await?.is_some() {
            return Ok(());
        }
        check_new_password(password)?;
        let admin = User::new(handle, hash_password(password)?, true, self.clock.now());
        match self.users.insert_user(&admin).await {
            Ok(()) => {
                let record = AuditRecord::new(
                    "user.create",
                    Actor::Anonymous,
                    format!("user:{}", admin.handle),
                )
                .concerning(&admin.id)
                .detail("the first admin, by the bootstrap step");
                self.audit.record(record).await
            }
            // Another instance bootstrapped it first.
            Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Logs a user in. `source` is the caller's address; failures are throttled (see
    /// [`Self::throttled_password_check`]). A disabled user's right password gets 403.
    pub async fn login(&self, req: LoginRequest, source: &str) -> Result<TokenPair> {
        // An invalid handle is just an unknown user: the same answer as a wrong password.
        let handle = normalize_handle(&req.handle).unwrap_or_default();
        let attempt = AuditRecord::new("auth.login", Actor::Anonymous, format!("user:{handle}"))
            .from_source(source);
        let checked = self
            .throttled_password_check(&handle, req.password, source)
            .await;
        let user = match checked {
            Ok(Ok(user)) => user,
            Ok(Err(tried)) => {
                let attempt = match &tried {
                    Some(id) => attempt.concerning(id),
                    None => attempt,
                };
                self.audit
                    .record(attempt.failed(ErrorCode::InvalidCredentials.as_str()))
                    .await?;
                return Err(invalid_credentials());
            }
            Err(err) => {
                self.audit.record(attempt.failed(err.code.as_str())).await?;
                return Err(err);
            }
        };
        let attempt = attempt.concerning(&user.id);
        if user.is_disabled() {
            self.audit
                .record(attempt.failed(ErrorCode::UserDisabled.as_str()))
                .await?;
            return Err(user_disabled());
        }
        self.audit.record(attempt).await?;
        self.start_session(&user).await
    }

    /// The user with `handle` if `password` is theirs; if not, the failure counted
    /// against the handle from `source` and against `source`, and the id of the user
    /// whose password it was not (`None` when there is no such user).
    ///
    /// Throttling cannot be raced or used against the owner: a failure is *reserved*
    /// (counted atomically) before the password is checked, so N concurrent guesses get
    /// at most the limit through; failures count per handle *and source* (a spray from
    /// elsewhere does not lock the owner out) and per source across handles (one address
    /// cannot walk through many accounts). A success clears the handle's count for its
    /// source and returns the source's reservation. Argon2 runs on a blocking thread.
    async fn throttled_password_check(
        &self,
        handle: &str,
        password: String,
        source: &str,
    ) -> Result<std::result::Result<User, Option<UserId>>> {
        let now = self.clock.now();
        let window_ends = now + Duration::seconds(self.settings.login_window_secs as i64);
        let source_key = format!("source#{source}");
        let handle_key = format!("{handle}#{source}");
        let max = self.settings.max_login_failures;
        let mut reserved = vec![(source_key.as_str(), max.saturating_mul(SOURCE_LIMIT_FACTOR))];
        if !handle.is_empty() {
            reserved.push((handle_key.as_str(), max));
        }
        for (key, limit) in &reserved {
            let counted = self
                .users
                .record_login_failure(key, now, window_ends)
                .await?;
            if counted.count > *limit {
                let wait = (counted.window_ends - now).whole_seconds().max(1) as u64;
                return Err(Error::too_many_requests(
                    format!("too many failed logins; try again in {wait}s"),
                    wait,
                ));
            }
        }
        let user = if handle.is_empty() {
            None
        } else {
            self.users.user_by_handle(handle).await?
        };
        let stored_hash = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored_hash))
            .await
            .map_err(|err| Error::internal(format!("password check: {err}")))?;
        let user = match user {
            Some(user) if matches => user,
            // The reservations stand as the failures.
            other => return Ok(Err(other.map(|user| user.id))),
        };
        self.users.clear_login_failures(&handle_key).await?;
        self.users.release_login_failure(&source_key).await?;
        Ok(Ok(user))
    }

    async fn start_session(&self, user: &User) -> Result<TokenPair> {
        let now = self.clock.now();
        let session = Session {
            id: SessionId::generate(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + Duration::seconds(self.settings.refresh_ttl_secs as i64),
            revoked_at: None,
        };
        let (refresh_token, hash) = new_refresh_token()?;
        let record = RefreshToken {
            hash,
            session_id: session.id.clone(),
            user_id: user.id.clone(),
            state: RefreshState::Active,
            expires_at: session.expires_at,
        };
        self.sessions.insert_session(&session, &record).await?;
        self.token_pair(user, &session, refresh_token)
    }

    fn token_pair(
        &self,
        user: &User,
        session: &Session,
        refresh_token: String,
    ) -> Result<TokenPair> {
        let now = self.clock.now();
        Ok(TokenPair {
            access_token: self.tokens.issue(user, &session.id, now)?,
            token_type: "Bearer".into(),
            expires_in: self.tokens.ttl_secs,
            refresh_token,
            refresh_expires_in: (session.expires_at - now).whole_seconds().max(0) as u64,
        })
    }

    pub async fn refresh(&self, req: RefreshRequest) -> Result<TokenPair> {
        let now = self.clock.now();
        let hash = hash_refresh_token(&req.refresh_token);
        let Some(presented) = self.sessions.refresh_token(&hash).await? else {
            return Err(Error::unauthenticated(
                ErrorCode::InvalidRefreshToken,
                "refresh token is not valid",
            ));
        };
        let reused = || {
            Error::unauthenticated(
                ErrorCode::RefreshTokenReused,
                "refresh token was already used; the session has been revoked, log in again",
            )
        };
        if presented.state == RefreshState::Rotated {
            self.sessions
                .revoke_session(&presented.session_id, now)
                .await?;
            return Err(reused());
        }
        let session = self.sessions.session(&presented.session_id).await?;
        let Some(session) = session.filter(|s| s.is_active(now)) else {
            return Err(Error::unauthenticated(
                ErrorCode::SessionEnded,
                "the session has ended; log in again",
            ));
        };
        if presented.expires_at <= now {
            return Err(Error::unauthenticated(
                ErrorCode::RefreshTokenExpired,
                "refresh token has expired",
            ));
        }
        let Some(user) = self.users.user_by_id(&presented.user_id).await? else {
            return Err(Error::unauthenticated(
                ErrorCode::InvalidRefreshToken,
                "refresh token is not valid",
            ));
        };
        user_accepts(&user, &session)?;
        let (refresh_token, new_hash) = new_refresh_token()?;
        let next = RefreshToken {
            hash: new_hash,
            state: RefreshState::Active,
            ..presented.clone()
        };
        match self
            .sessions
            .rotate_refresh_token(&presented.hash, &next)
            .await
        {
            Ok(()) => self.token_pair(&user, &session, refresh_token),
            // Someone rotated it between our read and write: the token was used twice.
            Err(StoreError::Conflict(_)) => {
                self.sessions.revoke_session(&session.id, now).await?;
                Err(reused())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Ends the caller's session; a refresh token given too ends its session if it is
    /// the caller's.
    pub async fn logout(&self, principal: &Principal, req: LogoutRequest) -> Result<()> {
        let now = self.clock.now();
        let Some(session_id) = principal.session_id() else {
            return Err(Error::validation(
                ErrorCode::NotASession,
                "logging out ends a login session, and this request came with an API key; \
                 revoke the key instead (DELETE /v1/api-keys/{id})",
            ));
        };
        self.sessions.revoke_session(session_id, now).await?;
        if let Some(token) = req.refresh_token {
            let hash = hash_refresh_token(&token);
            if let Some(record) = self.sessions.refresh_token(&hash).await? {
                if record.user_id == principal.user_id && &record.session_id != session_id {
                    self.sessions
                        .revoke_session(&record.session_id, now)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Who is behind a bearer credential: an access token, only while its session is
    /// active; an API key, only while it is neither revoked nor expired.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        if is_api_key(bearer) {
            return self.authenticate_key(bearer).await;
        }
        let now = self.clock.now();
        let claims = self.tokens.verify(bearer, now)?;
        let (session, user) = tokio::try_join!(
            self.sessions.session(&claims.sid),
            self.users.user_by_id(&claims.sub)
        )?;
        let (Some(session), Some(user)) = (session.filter(|s| s.is_active(now)), user) else {
            return Err(session_ended());
        };
        user_accepts(&user, &session)?;
        // Admin rights and the handle are the user's now, not when the token was issued.
        Ok(Principal {
            user_id: user.id,
            handle: user.handle,
            is_admin: user.is_admin,
            credential: Credential::Session(claims.sid),
        })
    }

    async fn authenticate_key(&self, secret: &str) -> Result<Principal> {
        let now = self.clock.now();
        let invalid = || Error::unauthenticated(ErrorCode::InvalidApiKey, "API key is not valid");
        let id = key_id_of(secret).ok_or_else(invalid)?;
        let key = self
            .keys
            .api_key(&id)
            .await?
            .filter(|key| key.hash == hash_secret(secret))
            .ok_or_else(invalid)?;
        if let Some(refusal) = key.refusal(now) {
            return Err(refusal);
        }
        // Admin rights and the handle are the user's now, not when the key was made.
        let user = self.users.user_by_id(&key.user_id).await?.ok_or_else(|| {
            Error::unauthenticated(ErrorCode::UnknownUser, "the user no longer exists")
        })?;
        if user.is_disabled() {
            return Err(user_disabled());
        }
        if key.use_is_news(now) {
            // The key's use, at most once a minute, on the trail and on the key, at once.
            let record = AuditRecord::new(
                "api_key.use",
                Actor::User {
                    id: user.id.clone(),
                    handle: user.handle.clone(),
                },
                format!("api_key:{}", key.id),
            );
            let touched = async { Ok(self.keys.touch_api_key(&key.id, now).await?) };
            tokio::try_join!(touched, self.audit.record(record))?;
        }
        Ok(Principal {
            user_id: user.id,
            handle: user.handle,
            is_admin: user.is_admin,
            credential: Credential::ApiKey {
                id: key.id,
                scope: key.scope,
            },
        })
    }

    pub async fn me(&self, principal: &Principal) -> Result<UserView> {
        self.users
            .user_by_id(&principal.user_id)
            .await?
            .map(|user| user.view())
            .ok_or_else(|| {
                Error::unauthenticated(ErrorCode::UnknownUser, "the user no longer exists")
            })
    }

    /// The caller changes their own password. The current one is checked, and a wrong
    /// one counted, as a login's would be (403 `wrong_password`, 429 when throttled).
    /// Every session of the user ends, the caller's too: the answer is a new session's
    /// tokens. API keys stay.
    pub async fn change_password(
        &self,
        principal: &Principal,
        req: ChangePasswordRequest,
        source: &str,
    ) -> Result<TokenPair> {
        check_new_password(&req.new_password)?;
        let change = AuditRecord::new(
            "auth.password_change",
            Actor::of(principal),
            format!("user:{}", principal.handle),
        )
        .from_source(source);
        let user = match self
            .throttled_password_check(&principal.handle, req.current_password, source)
            .await
        {
            Ok(Ok(user)) => user,
            Ok(Err(_)) => {
                self.audit
                    .record(change.failed(ErrorCode::WrongPassword.as_str()))
                    .await?;
                return Err(Error::forbidden(
                    ErrorCode::WrongPassword,
                    "the current password is not right",
                ));
            }
            Err(err) => {
                self.audit.record(change.failed(err.code.as_str())).await?;
                return Err(err);
            }
        };
        let new_password = req.new_password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&new_password))
            .await
            .map_err(|err| Error::internal(format!("password hashing: {err}")))??;
        let update = UserUpdate {
            password: Some((hash, self.clock.now())),
            ..UserUpdate::default()
        };
        match self.users.update_user(&user.id, &update, None).await {
            Ok(()) => {
                self.audit.record(change).await?;
                self.start_session(&update.applied_to(&user)).await
            }
            Err(StoreError::Conflict(_)) => Err(Error::unauthenticated(
                ErrorCode::UnknownUser,
                "the user no longer exists",
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Signs access tokens with arbitrary claims (tests of expiry).
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }
}

/// A session of `user` is refused once they are disabled (403 `user_disabled`) or their
/// password changed after it started (401 `token_revoked`).
fn user_accepts(user: &User, session: &Session) -> Result<()> {
    if user.is_disabled() {
        Err(user_disabled())
    } else if !user.accepts_session(session.created_at) {
        Err(session_ended())
    } else {
        Ok(())
    }
}

/// Whether `principal` may still act at `now`: its session active and started since the
/// last password change, or its API key unrevoked and unexpired; and the user enabled.
pub(crate) async fn credential_in_force(
    users: &dyn UserStore,
    sessions: &dyn SessionStore,
    keys: &dyn ApiKeyStore,
    principal: &Principal,
    now: Timestamp,
) -> Result<bool> {
    let user = users.user_by_id(&principal.user_id).await?;
    let Some(user) = user.filter(|user| !user.is_disabled()) else {
        return Ok(false);
    };
    Ok(match &principal.credential {
        Credential::Session(id) => sessions.session(id).await?.is_some_and(|session| {
            session.is_active(now) && user.accepts_session(session.created_at)
        }),
        Credential::ApiKey { id, .. } => keys
            .api_key(id)
            .await?
            .is_some_and(|key| key.refusal(now).is_none()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::ErrorKind;
    use crate::memory::MemoryStore;
    use time::macros::datetime;

    struct Fixture {
        auth: AuthService,
        clock: Arc<ManualClock>,
        store: Arc<MemoryStore>,
    }

    async fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        let auth = AuthService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            AccessTokens::new(b"0123456789abcdef0123456789abcdef", 60),
            clock.clone(),
            AuthSettings {
                max_login_failures: 3,
                ..AuthSettings::default()
            },
        );
        auth.bootstrap_admin("admin", "admin-password")
            .await
            .unwrap();
        Fixture { auth, clock, store }
    }

    fn login(handle: &str, password: &str) -> LoginRequest {
        LoginRequest {
            handle: handle.into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn wrong_user_and_wrong_password_get_the_same_answer() {
        let f = fixture().await;
        let unknown = f
            .auth
            .login(login("nobody", "admin-password"), "10.0.0.1")
            .await
            .unwrap_err();
        let wrong = f
            .auth
            .login(login("admin", "nope-nope"), "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(
            (unknown.kind, unknown.code, &unknown.message),
            (wrong.kind, wrong.code, &wrong.message)
        );
        assert_eq!(wrong.kind, ErrorKind::Unauthenticated);
    }

    #[tokio::test]
    async fn bootstrap_is_idempotent_and_keeps_the_first_password() {
        let f = fixture().await;
        f.auth
            .bootstrap_admin("admin", "another-password")
            .await
            .unwrap();
        assert!(f
            .auth
            .login(login("ADMIN", "admin-password"), "10.0.0.1")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn repeated_failures_are_throttled_until_the_window_ends() {
        let f = fixture().await;
        for _ in 0..3 {
            let err = f
                .auth
                .login(login("admin", "wrong-password"), "10.0.0.1")
                .await
                .unwrap_err();
            assert_eq!(err.code, "invalid_credentials");
        }
        let err = f
            .auth
            .login(login("admin", "admin-password"), "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooManyRequests);
        assert_eq!(err.retry_after_secs, Some(15 * 60));
        f.clock.advance(Duration::minutes(16));
        assert!(f
            .auth
            .login(login("admin", "admin-password"), "10.0.0.1")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn concurrent_guesses_get_at_most_the_limit_through() {
        let f = fixture().await;
        let auth = std::sync::Arc::new(f.auth);
        let guesses = (0..20).map(|i| {
            let auth = auth.clone();
            tokio::spawn(async move {
                auth.login(login("admin", &format!("guess-{i}")), "10.0.0.9")
                    .await
            })
        });
        let mut checked = 0;
        for guess in guesses {
            let err = guess.await.unwrap().unwrap_err();
            match err.kind {
                ErrorKind::Unauthenticated => checked += 1,
                ErrorKind::TooManyRequests => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(checked, 3, "the limit is 3 in this fixture");
    }

    #[tokio::test]
    async fn a_spray_from_elsewhere_does_not_lock_the_owner_out() {
        let f = fixture().await;
        for i in 0..10 {
            let _ = f
                .auth
                .login(login("admin", &format!("spray-{i}")), "203.0.113.7")
                .await;
        }
        let err = f
            .auth
            .login(login("admin", "admin-password"), "203.0.113.7")
            .await
            .unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::TooManyRequests,
            "the sprayer stays locked out"
        );
        assert!(f
            .auth
            .login(login("admin", "admin-password"), "10.0.0.1")
            .await
            .is_ok());
        // One source cannot walk through many handles either.
        for i in 0..12 {
            let _ = f
                .auth
                .login(login(&format!("user{i}"), "x-x-x-x"), "198.51.100.1")
                .await;
        }
        let err = f
            .auth
            .login(login("someone", "x-x-x-x"), "198.51.100.1")
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooManyRequests);
    }

    #[tokio::test]
    async fn refresh_rotates_and_reuse_revokes_the_session() {
        let f = fixture().await;
        let first = f
            .auth
            .login(login("admin", "admin-password"), "10.0.0.1")
            .await
            .unwrap();
        let second = f
            .auth
            .refresh(RefreshRequest {
                refresh_token: first.refresh_token.clone(),
            })
            .await
            .unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert!(f.auth.authenticate(&second.access_token).await.is_ok());

        let err = f
            .auth
            .refresh(RefreshRequest {
                refresh_token: first.refresh_token,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, "refresh_token_reused");
        // The whole family is gone: the newest tokens no longer work either.
        let err = f.auth.authenticate(&second.access_token).await.unwrap_err();
        assert_eq!(err.code, "token_revoked");
        let err = f
            .auth
            .refresh(RefreshRequest {
                refresh_token: second.refresh_token,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, "session_ended");
    }

    #[tokio::test]
    async fn logout_revokes_access_tokens_at_once() {
        let f = fixture().await;
        let tokens = f
            .auth
            .login(login("admin", "admin-password"), "10.0.0.1")
            .await
            .unwrap();
        let me = f.auth.authenticate(&tokens.access_token).await.unwrap();
        f.auth.logout(&me, LogoutRequest::default()).await.unwrap();
        assert_eq!(
            f.auth
                .authenticate(&tokens.access_token)
                .await
                .unwrap_err()
                .code,
            "token_revoked"
        );
    }

    async fn signed_in(f: &Fixture, handle: &str, password: &str) -> (TokenPair, Principal) {
        let tokens = f
            .auth
            .login(login(handle, password), "10.0.0.1")
            .await
            .unwrap();
        let principal = f.auth.authenticate(&tokens.access_token).await.unwrap();
        (tokens, principal)
    }

    #[tokio::test]
    async fn a_password_change_ends_every_session_and_answers_with_a_new_one() {
        let f = fixture().await;
        let (laptop, me) = signed_in(&f, "admin", "admin-password").await;
        let (phone, _) = signed_in(&f, "admin", "admin-password").await;
        f.clock.advance(Duration::seconds(1));
        let change = |current: &str| ChangePasswordRequest {
            current_password: current.into(),
            new_password: "a-new-password".into(),
        };
        let err = f
            .auth
            .change_password(&me, change("not-it-at-all"), "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (ErrorKind::Forbidden, ErrorCode::WrongPassword)
        );
        assert!(f.auth.authenticate(&phone.access_token).await.is_ok());

        let fresh = f
            .auth
            .change_password(&me, change("admin-password"), "10.0.0.1")
            .await
            .unwrap();
        for old in [&laptop, &phone] {
            let err = f.auth.authenticate(&old.access_token).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::TokenRevoked);
            let err = f
                .auth
                .refresh(RefreshRequest {
                    refresh_token: old.refresh_token.clone(),
                })
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::TokenRevoked);
        }
        assert!(f.auth.authenticate(&fresh.access_token).await.is_ok());
        assert!(f
            .auth
            .login(login("admin", "a-new-password"), "10.0.0.1")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_disabled_user_is_refused_at_once_and_cannot_sign_in() {
        let f = fixture().await;
        let (tokens, me) = signed_in(&f, "admin", "admin-password").await;
        let disable = UserUpdate {
            disabled_at: Some(Some(f.clock.now())),
            ..UserUpdate::default()
        };
        f.store
            .update_user(&me.user_id, &disable, None)
            .await
            .unwrap();
        let err = f.auth.authenticate(&tokens.access_token).await.unwrap_err();
        assert_eq!(
            (err.kind, err.code),
            (ErrorKind::Forbidden, ErrorCode::UserDisabled)
        );
        let err = f
            .auth
            .refresh(RefreshRequest {
                refresh_token: tokens.refresh_token,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UserDisabled);
        let err = f
            .auth
            .login(login("admin", "admin-password"), "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UserDisabled);
        // A wrong password still gets the answer every wrong password gets.
        let err = f
            .auth
            .login(login("admin", "not-the-password"), "10.0.0.1")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidCredentials);
    }
}
