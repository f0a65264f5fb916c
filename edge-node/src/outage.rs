//! What the node does while the gateway (or the store behind it) is unreachable: stop
//! receiving jobs. Every message a node receives and cannot claim uses up one of its
//! deliveries; receiving through a 90-second outage would send queued work to the
//! dead-letter queue. So the first transient failure marks the gateway down, the pollers
//! wait, and a prober checks it with [`crate::backoff::Backoff`]; when it answers again, finished
//! results on disk go out first, and only then does receiving resume.

use cynode_protocol::wire::ErrorCode;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::gateway::GatewayError;

/// Whether the gateway is believed reachable, shared by pollers, runners and the prober.
#[derive(Clone)]
pub struct Outage {
    down: watch::Sender<bool>,
    paused_until: std::sync::Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
}

impl Default for Outage {
    fn default() -> Self {
        Self {
            down: watch::Sender::new(false),
            paused_until: Default::default(),
        }
    }
}

impl Outage {
    /// Records a failed call. A transient one (unreachable, 5xx, 429) marks the gateway
    /// down, and so do `unknown_node` (its tables were reset) and `node_revoked` (an admin
    /// ended its keys): the prober registers the node again (refused until an admin
    /// enables a revoked node) before it receives more.
    pub fn failed(&self, err: &GatewayError) {
        let lost_identity = matches!(
            err.code(),
            Some(ErrorCode::UnknownNode | ErrorCode::NodeRevoked)
        );
        if !err.is_transient() && !lost_identity {
            return;
        }
        self.down.send_if_modified(|down| {
            let changed = !*down;
            if changed {
                tracing::warn!(error = %err, "the gateway is unreachable; no new jobs until it answers again");
                *down = true;
            }
            changed
        });
    }

    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    pub fn recovered(&self) {
        if self.down.send_replace(false) {
            tracing::info!("the gateway answers again; taking jobs");
        }
    }

    /// Receive nothing for `pause` (the gateway said this node may not take jobs now).
    pub fn pause(&self, pause: Duration) {
        let until = tokio::time::Instant::now() + pause;
        let mut paused = self.paused_until.lock().expect("lock");
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    /// Returns once the gateway is believed up and no pause is in force; `false` if
    /// `stop` fired first.
    pub async fn wait_up(&self, stop: &CancellationToken) -> bool {
        let mut rx = self.down.subscribe();
        loop {
            let paused = *self.paused_until.lock().expect("lock");
            if let Some(until) = paused.filter(|until| *until > tokio::time::Instant::now()) {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => continue,
                    _ = stop.cancelled() => return false,
                }
            }
            if !*rx.borrow_and_update() {
                return true;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return false },
                _ = stop.cancelled() => return false,
            }
        }
    }

    /// Returns once the gateway is marked down; `false` if `stop` fired first.
    pub async fn wait_down(&self, stop: &CancellationToken) -> bool {
        let mut rx = self.down.subscribe();
        loop {
            if *rx.borrow_and_update() {
                return true;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return false },
                _ = stop.cancelled() => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_transient_failures_mark_the_gateway_down() {
        let outage = Outage::default();
        outage.failed(&GatewayError::Refused {
            status: reqwest::StatusCode::BAD_REQUEST,
            code: ErrorCode::InvalidBody,
            message: String::new(),
        });
        assert!(!outage.is_down());
        outage.failed(&GatewayError::Unreachable("refused".into()));
        assert!(outage.is_down());
        let stop = CancellationToken::new();
        let waiter = {
            let (outage, stop) = (outage.clone(), stop.clone());
            tokio::spawn(async move { outage.wait_up(&stop).await })
        };
        outage.recovered();
        assert!(waiter.await.unwrap());
    }
}
