//! Giving a job back to the queue unfinished (the node is draining or shutting down):
//! the gateway queues it again, and the message becomes visible at once for another
//! node. If the gateway cannot be told, the lease runs out and the message comes back
//! by itself; nothing is lost.

use cynode_protocol::wire::JobReleaseRequest;

use super::{Claimed, JobRunner};

impl JobRunner {
    pub(super) async fn hand_back(&self, job: &Claimed, reason: &str) {
        let request = JobReleaseRequest {
            task_id: job.message.task_id.clone(),
            attempt: job.claim.attempt,
            lease_id: job.claim.lease_id.clone(),
            reason: reason.to_owned(),
        };
        let released = self
            .setup
            .gateway
            .release(
                &self.setup.identity.get(),
                &job.message.job_id,
                &job.claim.job_token,
                &request,
            )
            .await;
        match released {
            Ok(()) => {
                tracing::info!(reason, "handed the job back for another node");
                self.hide(job.received.queue, &job.received.receipt, 0)
                    .await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not hand the job back; it is taken over when its lease runs out")
            }
        }
    }
}
