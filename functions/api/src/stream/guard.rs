//! What every server-sent-event stream of the gateway shares: a place in its user's
//! quota of open streams, a lifetime that ends before the serving function's timeout, and
//! a session that is re-checked while the stream runs (see
//! `cynode_domain::service::streams`).
//!
//! A stream opens a [`StreamGuard`] before it sends anything (429 `too_many_streams`
//! otherwise) and asks it between polls whether to go on.

use std::time::Duration;

use tokio::time::Instant;

use cynode_domain::service::streams::{StreamLease, MAX_CHECK_SECS};
use cynode_domain::service::Principal;

use crate::error::ApiResult;
use crate::state::AppState;

/// Why a stream must end now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Its time is up (the function would be stopped soon): the client connects again.
    Reconnect,
    /// The session behind it logged out or expired.
    SignedOut,
}

pub struct StreamGuard {
    state: AppState,
    lease: Option<StreamLease>,
    opened: Instant,
    checked: Instant,
    lifetime: Duration,
    every: Duration,
    last_sent: Instant,
}

/// What a silent stream sends each check interval: an SSE comment, which clients ignore.
/// It keeps proxies from timing the stream out, and lets the server notice a client that
/// went away (and so give its place back).
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

impl StreamGuard {
    /// Takes one of `user`'s places for open streams.
    pub async fn open(state: &AppState, user: &Principal) -> ApiResult<StreamGuard> {
        let streams = state.streams();
        let lease = streams.open(user).await?;
        let now = Instant::now();
        Ok(StreamGuard {
            state: state.clone(),
            lease: Some(lease),
            opened: now,
            checked: now,
            lifetime: Duration::from_secs(streams.settings().max_lifetime_secs),
            every: Duration::from_secs(streams.settings().check_secs.clamp(1, MAX_CHECK_SECS)),
            last_sent: now,
        })
    }

    /// Between two polls: `None` to go on, else why to stop. Renews the lease and
    /// re-checks the session every `check_secs` (at most [`MAX_CHECK_SECS`]); a store that
    /// does not answer right then does not end the stream.
    pub async fn check(&mut self) -> Option<StreamEnd> {
        if self.opened.elapsed() >= self.lifetime {
            return Some(StreamEnd::Reconnect);
        }
        if self.checked.elapsed() < self.every {
            return None;
        }
        self.checked = Instant::now();
        let lease = self.lease.as_ref()?;
        match self.state.streams().renew(lease).await {
            Ok(true) => None,
            Ok(false) => Some(StreamEnd::SignedOut),
            Err(err) => {
                tracing::warn!(code = err.code.as_str(), "could not renew a stream's lease");
                None
            }
        }
    }
}

impl StreamGuard {
    /// The stream wrote something.
    pub fn sent(&mut self) {
        self.last_sent = Instant::now();
    }

    /// Whether the stream has been silent for a check interval (send [`KEEP_ALIVE`]).
    pub fn quiet_too_long(&self) -> bool {
        self.last_sent.elapsed() >= self.every
    }
}

impl Drop for StreamGuard {
    /// Gives the place back (if the process lives on; else the lease runs out).
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let state = self.state.clone();
            runtime.spawn(async move {
                if let Err(err) = state.streams().close(&lease).await {
                    tracing::warn!(code = err.code.as_str(), "could not close a stream's lease");
                }
            });
        }
    }
}
