//! A delivery's first steps: read the message, leave it for another node when this one
//! cannot serve it (its model, its image), and claim it from the gateway, which says
//! whether to run it, drop it, or leave it for now. A message can arrive before its job
//! is stored: a young message's missing job is asked for again before it is dropped.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use cynode_protocol::wire::{ClaimDecision, ErrorCode, JobMessage, JobStartedRequest};

use super::{Claimed, JobRunner};
use crate::queue::Received;

/// Seconds a message for a model or image this node does not offer stays hidden from it.
const NOT_SERVED_RETRY_SECS: u32 = 5;
/// Seconds a message stays hidden when its job cannot be claimed right now.
const RETRY_LATER_SECS: u32 = 10;

/// Waits before asking again for a young message's job the gateway has not stored yet.
const JOB_NOT_STORED_YET_MS: [u64; 3] = [50, 150, 400];
/// How long after it was sent a message's job may still be on its way into the store
/// (clocks of the gateway and the node may differ by some seconds).
const YOUNG_MESSAGE_SECS: i64 = 60;

/// Whether the message was sent so recently that its job may not be stored yet.
fn is_young(message: &JobMessage) -> bool {
    time::OffsetDateTime::now_utc() - message.enqueued_at
        < time::Duration::seconds(YOUNG_MESSAGE_SECS)
}

/// A wait the gateway asked for, within sane bounds.
fn hide_secs(retry_after_secs: u64) -> u32 {
    retry_after_secs.clamp(1, 3600) as u32
}

impl JobRunner {
    /// Handles one delivery. `shutdown` fires when the agent stops waiting for running
    /// jobs: the job is then stopped and handed back for another node.
    pub async fn handle(&self, received: Received, shutdown: CancellationToken) {
        let message: JobMessage = match serde_json::from_str(&received.body) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(error = %err, "dropping a queue message that is not a job");
                self.delete(received.queue, &received.receipt).await;
                return;
            }
        };
        if let Some(why) = self.not_served(&message) {
            // Not ours to claim: back on the queue for a node that serves it.
            tracing::info!(job_id = %message.job_id, "{why}; leaving it");
            self.hide(received.queue, &received.receipt, NOT_SERVED_RETRY_SECS)
                .await;
            return;
        }
        let span = tracing::info_span!("job", job_id = %message.job_id, task_id = %message.task_id);
        self.claim_and_run(message, received, shutdown)
            .instrument(span)
            .await
    }

    /// Why this node cannot run the job (its model or image), if it cannot.
    fn not_served(&self, message: &JobMessage) -> Option<String> {
        if let Some(model) = &message.model {
            let served = self
                .setup
                .inference
                .as_ref()
                .is_some_and(|node| node.models.borrow().contains(model));
            if !served {
                return Some(format!("this node does not serve the job's model {model}"));
            }
        }
        if let Some(image) = &message.image {
            if self.setup.limits.image_for(Some(image)).is_none() {
                return Some(format!("this node does not allow the job's image {image}"));
            }
        }
        None
    }

    async fn claim_and_run(
        &self,
        message: JobMessage,
        received: Received,
        shutdown: CancellationToken,
    ) {
        let request = JobStartedRequest {
            task_id: message.task_id.clone(),
            boot_id: self.setup.boot_id.clone(),
            receive_count: received.receive_count,
        };
        let mut decision = self
            .setup
            .gateway
            .started(&self.setup.identity.get(), &message.job_id, &request)
            .await;
        // The gateway sends a job's message before it stores the job (a message without
        // a job is harmless; the other way round a job would wait for ever), so a young
        // message's job may not be stored yet: ask again shortly before believing it gone.
        for wait_ms in JOB_NOT_STORED_YET_MS {
            let missing =
                matches!(&decision, Err(err) if err.code() == Some(ErrorCode::JobNotFound));
            if !missing || !is_young(&message) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            decision = self
                .setup
                .gateway
                .started(&self.setup.identity.get(), &message.job_id, &request)
                .await;
        }
        let (queue, receipt) = (received.queue, received.receipt.clone());
        match decision {
            Ok(ClaimDecision::Run(claim)) => {
                let job = Claimed {
                    message,
                    claim: *claim,
                    received,
                };
                self.run(job, shutdown).await
            }
            Ok(ClaimDecision::Discard { status }) => {
                tracing::info!(%status, "job already ended; dropping its message");
                self.delete(queue, &receipt).await;
            }
            Ok(ClaimDecision::NotNow {
                reason,
                retry_after_secs,
            }) => {
                tracing::warn!(%reason, retry_after_secs, "the gateway says this node may not take jobs now; leaving the job to others");
                self.setup
                    .outage
                    .pause(Duration::from_secs(retry_after_secs.clamp(1, 3600)));
                self.hide(queue, &receipt, 0).await;
            }
            Ok(ClaimDecision::Elsewhere {
                reason,
                retry_after_secs,
            }) => {
                tracing::info!(%reason, retry_after_secs, "the job is not for this node; leaving it to others");
                self.hide(queue, &receipt, hide_secs(retry_after_secs))
                    .await;
            }
            Ok(ClaimDecision::Retry { retry_after_secs }) => {
                tracing::info!(retry_after_secs, "job is claimed elsewhere; leaving it");
                self.hide(queue, &receipt, hide_secs(retry_after_secs))
                    .await;
            }
            Err(err) if err.code() == Some(ErrorCode::JobNotFound) => {
                // Deleted, or never stored (its create failed after sending it).
                tracing::info!("the job's task was deleted; dropping its message");
                self.delete(queue, &receipt).await;
            }
            Err(err) => {
                self.setup.outage.failed(&err);
                tracing::warn!(error = %err, receive_count = received.receive_count, "could not claim the job; it will come back");
                self.hide(queue, &receipt, RETRY_LATER_SECS).await;
            }
        }
    }
}
