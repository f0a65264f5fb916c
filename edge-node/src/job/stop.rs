//! Why a running job was stopped. The lease keeper (or the agent's shutdown) stops the
//! sandbox; what happens to the job afterwards depends only on why: a user's cancel is
//! reported, a drain or a shutdown hands the job back for another node, a superseded
//! attempt reports nothing.

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Its user canceled the task: report it `canceled`.
    UserCanceled,
    /// An operator is draining the node: hand the job back.
    Drain,
    /// Another attempt owns the job now (or the node was revoked): report nothing.
    Superseded,
    /// The agent is stopping and the grace period is over: hand the job back.
    Shutdown,
}

/// A running job's stop switch and the reason it was flipped (the first one wins).
pub struct JobStop {
    token: CancellationToken,
    reason: OnceLock<StopReason>,
}

impl JobStop {
    /// A switch that also flips, as [`StopReason::Shutdown`], when `shutdown` does.
    pub fn under(shutdown: &CancellationToken) -> Self {
        Self {
            token: shutdown.child_token(),
            reason: OnceLock::new(),
        }
    }

    /// Stops the job for `reason`, unless it was already stopped.
    pub fn stop(&self, reason: StopReason) {
        if !self.token.is_cancelled() {
            let _ = self.reason.set(reason);
        }
        self.token.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// What the sandbox watches.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Why the job was stopped; `None` while it was not.
    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.get() {
            Some(reason) => Some(*reason),
            None => self.token.is_cancelled().then_some(StopReason::Shutdown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_stands_and_a_shutdown_needs_none() {
        let shutdown = CancellationToken::new();
        let stop = JobStop::under(&shutdown);
        assert_eq!(stop.reason(), None);
        stop.stop(StopReason::UserCanceled);
        stop.stop(StopReason::Drain);
        assert_eq!(stop.reason(), Some(StopReason::UserCanceled));

        let other = JobStop::under(&shutdown);
        shutdown.cancel();
        assert!(other.is_stopped());
        assert_eq!(other.reason(), Some(StopReason::Shutdown));
        other.stop(StopReason::Drain);
        assert_eq!(other.reason(), Some(StopReason::Shutdown));
    }
}
