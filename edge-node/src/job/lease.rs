//! Keeping a claim while its job runs: a heartbeat every interval (carrying the job's
//! last line of progress) and the queue message kept hidden. The gateway's answer can
//! stop the job: its user canceled it, the node is being drained, another attempt owns
//! it, or the node was revoked.

use std::time::Duration;

use cynode_protocol::wire::{ErrorCode, HeartbeatRequest, NodeConfig};

use super::{Claimed, JobRunner, JobStop, StopReason};
use crate::sandbox::output::LastLine;

impl JobRunner {
    /// Heartbeats the claim and keeps the message hidden until dropped.
    pub(super) async fn keep_alive(
        &self,
        job: &Claimed,
        config: &NodeConfig,
        stop: &JobStop,
        progress: &LastLine,
    ) -> std::convert::Infallible {
        let interval = Duration::from_secs(config.heartbeat_interval_secs.max(1));
        let hide_secs = (config.lease_secs + config.heartbeat_interval_secs) as u32;
        let mut beat = HeartbeatRequest {
            task_id: job.message.task_id.clone(),
            attempt: job.claim.attempt,
            lease_id: job.claim.lease_id.clone(),
            progress: None,
        };
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            self.hide(job.received.queue, &job.received.receipt, hide_secs)
                .await;
            beat.progress = progress.get();
            let answer = self
                .setup
                .gateway
                .heartbeat(
                    &self.setup.identity.get(),
                    &job.message.job_id,
                    &job.claim.job_token,
                    &beat,
                )
                .await;
            match answer {
                Ok(answer) if answer.canceled && !stop.is_stopped() => {
                    tracing::info!("canceled by its owner; stopping the sandbox");
                    stop.stop(StopReason::UserCanceled);
                }
                Ok(answer) if answer.release && !stop.is_stopped() => {
                    tracing::info!("this node is being drained; stopping the job to hand it back");
                    stop.stop(StopReason::Drain);
                }
                Ok(_) => {}
                Err(err) if err.code() == Some(ErrorCode::StaleAttempt) => {
                    stop.stop(StopReason::Superseded);
                }
                // Its task was deleted: nobody wants the job or its result.
                Err(err) if err.code() == Some(ErrorCode::JobNotFound) => {
                    if !stop.is_stopped() {
                        tracing::info!("the job's task was deleted; stopping the sandbox");
                    }
                    stop.stop(StopReason::Superseded);
                }
                // An admin revoked this node: its work is not wanted; stop, report
                // nothing (the job runs again elsewhere once its lease runs out).
                Err(err) if err.code() == Some(ErrorCode::NodeRevoked) => {
                    tracing::error!(error = %err, "this node was revoked; stopping the job");
                    self.setup.outage.failed(&err);
                    stop.stop(StopReason::Superseded);
                }
                Err(err) => {
                    self.setup.outage.failed(&err);
                    tracing::warn!(error = %err, "heartbeat failed");
                }
            }
        }
    }
}
