//! The agent's loops, each an async function that returns when its stop token fires,
//! so the agent awaits every one of them on its way out:
//! - [`poll_queue`]: receive jobs into free slots (one per queue);
//! - [`poll_config`]: apply and acknowledge newer node configurations;
//! - [`refresh_models`]: follow the inference endpoint's models;
//! - [`watch_gateway`]: while the gateway is down, probe it, then deliver what waited;
//! - [`resend_pending`]: results a crash or an outage left in the spool.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use cynode_protocol::wire::{CapabilityReport, ErrorCode, NodeConfig};

use super::registration::{acknowledge, Registrar};
use crate::backoff::Backoff;
use crate::gateway::{Gateway, SharedIdentity};
use crate::job::JobRunner;
use crate::queue::NodeQueue;

/// SQS long-poll wait.
const RECEIVE_WAIT_SECS: u32 = 20;
/// How often results left in the spool are sent again.
const RESEND_EVERY: Duration = Duration::from_secs(5);

/// Sleeps `every`; `false` if `stop` fired first.
async fn pause(every: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(every) => true,
        _ = stop.cancelled() => false,
    }
}

/// Polls for configuration changes; applies and acknowledges newer versions.
pub(super) async fn poll_config(
    gateway: Arc<dyn Gateway>,
    me: SharedIdentity,
    every: Duration,
    tx: watch::Sender<NodeConfig>,
    stop: CancellationToken,
) {
    while pause(every, &stop).await {
        let identity = me.get();
        match gateway.config(&identity).await {
            Ok(config) if config.config_version > tx.borrow().config_version => {
                if let Err(err) = acknowledge(gateway.as_ref(), &identity, &config).await {
                    tracing::warn!(error = %err, "could not acknowledge the new configuration");
                    continue;
                }
                let _ = tx.send(config);
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not fetch the configuration"),
        }
    }
}

/// Re-reads the endpoint's models every `every`; reports a change to the gateway and to
/// the inference poller (which stops taking model jobs while the node serves none).
pub(super) async fn refresh_models(
    gateway: Arc<dyn Gateway>,
    me: SharedIdentity,
    mut report: CapabilityReport,
    endpoint: String,
    every: Duration,
    models: watch::Sender<Vec<String>>,
    stop: CancellationToken,
) {
    let mut reported = report.inference.clone();
    while pause(every, &stop).await {
        let status = crate::inference::models::probe(&endpoint).await;
        report.inference = Some(status.clone());
        let now = report.models().to_vec();
        models.send_if_modified(|known| {
            let changed = *known != now;
            if changed {
                tracing::info!(models = ?now, "the inference endpoint's models changed");
                *known = now;
            }
            changed
        });
        if reported.as_ref() != Some(&status) {
            match gateway.report_capabilities(&me.get(), &report).await {
                Ok(_) => reported = Some(status),
                Err(err) => tracing::warn!(error = %err, "could not report capabilities"),
            }
        }
    }
}

/// While the gateway is marked down, probes it with backoff and jitter (a signed call,
/// so the store behind it is checked too). When it answers, results in the spool go out
/// first; receiving resumes once none is left. A gateway that no longer knows this node
/// gets it registered again.
pub(super) async fn watch_gateway(
    gateway: Arc<dyn Gateway>,
    runner: Arc<JobRunner>,
    registrar: Registrar,
    stop: CancellationToken,
) {
    while runner.outage().wait_down(&stop).await {
        let mut backoff = Backoff::gateway();
        loop {
            if !backoff.wait(&stop).await {
                return;
            }
            match gateway.config(&runner.identity().get()).await {
                Ok(_) => {
                    runner.resend_pending().await;
                    if runner.nothing_pending() {
                        runner.outage().recovered();
                        break;
                    }
                }
                Err(err)
                    if matches!(
                        err.code(),
                        Some(ErrorCode::UnknownNode | ErrorCode::NodeRevoked)
                    ) =>
                {
                    if let Err(err) = registrar.register_again(runner.identity(), &stop).await {
                        tracing::error!(error = %err, "could not register again");
                    }
                }
                Err(err) => tracing::info!(error = %err, "the gateway is still unreachable"),
            }
        }
    }
}

/// Results a crash left in the spool go out first, then every few seconds while any
/// remain.
pub(super) async fn resend_pending(runner: Arc<JobRunner>, stop: CancellationToken) {
    loop {
        runner.resend_pending().await;
        if !pause(RESEND_EVERY, &stop).await {
            return;
        }
    }
}

/// One queue and the slots its jobs run in.
pub(super) struct Poller {
    pub queue: Arc<dyn NodeQueue>,
    pub slots: Arc<Semaphore>,
    /// For the inference queue: receive only while the node serves a model.
    pub models: Option<watch::Receiver<Vec<String>>>,
}

/// Receives from one queue into its own slots until `stop_taking`; each job runs on
/// `running`, and is stopped when `shutdown` fires.
pub(super) async fn poll_queue(
    mut poller: Poller,
    runner: Arc<JobRunner>,
    running: TaskTracker,
    stop_taking: CancellationToken,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(30));
    loop {
        if let Some(models) = poller.models.as_mut() {
            while models.borrow_and_update().is_empty() {
                tokio::select! {
                    changed = models.changed() => if changed.is_err() { return },
                    _ = stop_taking.cancelled() => return,
                }
            }
        }
        let first = tokio::select! {
            permit = poller.slots.clone().acquire_owned() => permit.expect("semaphore never closes"),
            _ = stop_taking.cancelled() => return,
        };
        // Nothing is received while the gateway is down: each receive would use up a
        // delivery of a job that cannot be claimed. (Checked once a slot is free: the
        // job that freed it may just have found the gateway down.)
        if !runner.outage().wait_up(&stop_taking).await {
            return;
        }
        let free = 1 + poller.slots.available_permits() as u32;
        let received = tokio::select! {
            received = poller.queue.receive(free, RECEIVE_WAIT_SECS) => received,
            _ = stop_taking.cancelled() => return,
        };
        let messages = match received {
            Ok(messages) => {
                backoff.reset();
                messages
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot receive jobs; retrying");
                if !backoff.wait(&stop_taking).await {
                    return;
                }
                continue;
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match poller.slots.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        // More messages than slots: hand this one back at once.
                        let _ = poller.queue.hide_for(&message.receipt, 0).await;
                        continue;
                    }
                },
            };
            let runner = runner.clone();
            let shutdown = shutdown.clone();
            running.spawn(async move {
                runner.handle(message, shutdown).await;
                drop(permit);
            });
        }
    }
}
