//! Streams (server-sent events) a user holds open: a quota per user, and what keeps a
//! long-lived stream honest.
//!
//! A stream holds a function invocation for as long as it is open, and invocations are
//! what every user shares. So each user may have only so many open at once (429 with
//! `Retry-After` past that), each stream is a lease in the store that its holder renews
//! and a crash lets expire, each ends before the function's own timeout (the client
//! reconnects), and each re-checks at every renewal that the session behind it is still
//! signed in: logging out ends it.

use crate::ErrorCode;
use std::sync::Arc;

use time::Duration;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::new_ulid;
use crate::ports::{ApiKeyStore, SessionStore, StreamStore, UserStore};
use crate::principal::Principal;
use crate::service::auth::credential_in_force;
use crate::service::settings::SettingsService;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Streams one user may have open at once (0: no limit).
    pub max_open_per_user: u32,
    /// How long a stream may last; below the serving function's timeout.
    pub max_lifetime_secs: u64,
    /// How often a stream renews its lease and re-checks its session (at most
    /// [`MAX_CHECK_SECS`]).
    pub check_secs: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            max_open_per_user: 8,
            max_lifetime_secs: 330,
            check_secs: MAX_CHECK_SECS,
        }
    }
}

/// The longest a stream goes without re-checking its session.
pub const MAX_CHECK_SECS: u64 = 30;
/// When a refused stream may try again.
const RETRY_AFTER_SECS: u64 = 5;

/// One open stream's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLease {
    pub id: String,
    pub principal: Principal,
}

pub struct StreamService {
    streams: Arc<dyn StreamStore>,
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    keys: Arc<dyn ApiKeyStore>,
    clock: Arc<dyn Clock>,
    settings: StreamSettings,
    /// The quota in force (none: `settings`' own).
    live: Option<Arc<SettingsService>>,
}

impl StreamService {
    pub fn new(
        streams: Arc<dyn StreamStore>,
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        keys: Arc<dyn ApiKeyStore>,
        clock: Arc<dyn Clock>,
        settings: StreamSettings,
    ) -> Self {
        Self {
            streams,
            users,
            sessions,
            keys,
            clock,
            settings,
            live: None,
        }
    }

    /// Reads the quota from the system settings in force.
    pub fn with_settings(mut self, live: Arc<SettingsService>) -> Self {
        self.live = Some(live);
        self
    }

    pub fn settings(&self) -> &StreamSettings {
        &self.settings
    }

    /// A lease lasts two checks: one missed renewal is not the end.
    fn lease(&self) -> Duration {
        Duration::seconds(2 * self.settings.check_secs.clamp(1, MAX_CHECK_SECS) as i64)
    }

    /// Opens a stream for `principal`, unless they have as many open as they may.
    pub async fn open(&self, principal: &Principal) -> Result<StreamLease> {
        let now = self.clock.now();
        let max = match &self.live {
            Some(live) => live.current().await?.max_open_streams,
            None => self.settings.max_open_per_user,
        };
        if max > 0 && self.streams.open_streams(&principal.user_id, now).await? >= max {
            return Err(Error::over_quota(
                ErrorCode::TooManyStreams,
                format!(
                    "you have {max} streams open, the most one user may; close one (or wait \
                     for one to end) and try again"
                ),
                RETRY_AFTER_SECS,
            ));
        }
        let lease = StreamLease {
            id: new_ulid(),
            principal: principal.clone(),
        };
        self.streams
            .put_stream(&principal.user_id, &lease.id, now + self.lease())
            .await?;
        Ok(lease)
    }

    /// Renews the lease; `false` when the session behind the stream has ended (logged
    /// out, expired, or ended by a password change), its API key was revoked or expired,
    /// or its user disabled, and the stream must end.
    pub async fn renew(&self, lease: &StreamLease) -> Result<bool> {
        let now = self.clock.now();
        let signed_in = credential_in_force(
            &*self.users,
            &*self.sessions,
            &*self.keys,
            &lease.principal,
            now,
        )
        .await?;
        if signed_in {
            self.streams
                .put_stream(&lease.principal.user_id, &lease.id, now + self.lease())
                .await?;
        }
        Ok(signed_in)
    }

    pub async fn close(&self, lease: &StreamLease) -> Result<()> {
        self.streams
            .remove_stream(&lease.principal.user_id, &lease.id)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::ports::{SessionStore, UserStore};
    use crate::session::{RefreshState, RefreshToken, Session};
    use crate::user::{User, UserUpdate};
    use time::macros::datetime;

    async fn signed_in(store: &MemoryStore, principal: &Principal, now: crate::clock::Timestamp) {
        let user = User {
            id: principal.user_id.clone(),
            ..User::new(principal.handle.clone(), String::new(), false, now)
        };
        store.insert_user(&user).await.unwrap();
        let session = Session {
            id: principal.session_id().unwrap().clone(),
            user_id: principal.user_id.clone(),
            created_at: now,
            expires_at: now + Duration::days(1),
            revoked_at: None,
        };
        let token = RefreshToken {
            hash: "h".into(),
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            state: RefreshState::Active,
            expires_at: session.expires_at,
        };
        store.insert_session(&session, &token).await.unwrap();
    }

    fn service(settings: StreamSettings) -> (StreamService, Arc<MemoryStore>, Arc<ManualClock>) {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-04 10:00 UTC)));
        let streams = StreamService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            clock.clone(),
            settings,
        );
        (streams, store, clock)
    }

    #[tokio::test]
    async fn a_user_holds_only_so_many_streams_and_a_crashed_one_stops_counting() {
        let (streams, _, clock) = service(StreamSettings {
            max_open_per_user: 2,
            ..StreamSettings::default()
        });
        let alice = Principal::test_user("alice");
        let bob = Principal::test_user("bob");
        let first = streams.open(&alice).await.unwrap();
        let _second = streams.open(&alice).await.unwrap();
        let refused = streams.open(&alice).await.unwrap_err();
        assert_eq!(refused.code, "too_many_streams");
        assert_eq!(refused.retry_after_secs, Some(RETRY_AFTER_SECS));
        streams.open(&bob).await.expect("bob's quota is his own");
        streams.close(&first).await.unwrap();
        streams.open(&alice).await.unwrap();
        assert_eq!(
            streams.open(&alice).await.unwrap_err().code,
            "too_many_streams"
        );
        // Holders that died renew nothing: their leases run out and free the places.
        clock.advance(Duration::seconds(2 * MAX_CHECK_SECS as i64 + 1));
        streams.open(&alice).await.unwrap();
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_session_is_logged_out() {
        let (streams, store, clock) = service(StreamSettings::default());
        let alice = Principal::test_user("alice");
        signed_in(&store, &alice, clock.now()).await;
        let lease = streams.open(&alice).await.unwrap();
        assert!(streams.renew(&lease).await.unwrap());
        store
            .revoke_session(alice.session_id().unwrap(), clock.now())
            .await
            .unwrap();
        assert!(!streams.renew(&lease).await.unwrap());
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_user_is_disabled() {
        let (streams, store, clock) = service(StreamSettings::default());
        let alice = Principal::test_user("alice");
        signed_in(&store, &alice, clock.now()).await;
        let lease = streams.open(&alice).await.unwrap();
        assert!(streams.renew(&lease).await.unwrap());
        let disable = UserUpdate {
            disabled_at: Some(Some(clock.now())),
            ..UserUpdate::default()
        };
        store
            .update_user(&alice.user_id, &disable, None)
            .await
            .unwrap();
        assert!(!streams.renew(&lease).await.unwrap());
    }
}
