//! Delivering a finished job's result. It is recorded in the spool before it is sent and
//! removed only once the gateway has stored it (then the queue message is deleted), so a
//! crash or an outage between finishing and reporting loses nothing: the resender sends
//! whatever the spool still holds. A result the gateway refuses for good is kept aside
//! and replaced by a failure report it accepts, so the job still ends.

use std::path::Path;
use std::time::Duration;

use cynode_protocol::wire::{ErrorCode, JobResultReport, OutputStream, OutputUploadRequest};

use super::JobRunner;
use crate::backoff::Backoff;
use crate::gateway::GatewayError;
use crate::spool::PendingResult;

/// How one try at delivering a result ended.
enum Sent {
    Stored,
    /// Another attempt owns the job now; this result is moot.
    Superseded,
    /// The gateway will never take it.
    Refused(GatewayError),
    /// Not delivered yet; the resender tries again.
    Later,
}

impl JobRunner {
    /// Sends a spooled result, removing it once the gateway has stored it.
    pub async fn deliver(&self, path: &Path, pending: &PendingResult, tries: u32) {
        if !self
            .delivering
            .lock()
            .expect("lock")
            .insert(path.to_owned())
        {
            return; // someone else is on it
        }
        self.send(Some(path), pending, tries).await;
        self.delivering.lock().expect("lock").remove(path);
    }

    /// Re-sends every result still in the spool (after a restart, or after the gateway
    /// was down).
    pub async fn resend_pending(&self) {
        for (path, pending) in self.setup.spool.pending() {
            self.deliver(&path, &pending, 1).await;
        }
    }

    /// Whether every result has been delivered.
    pub fn nothing_pending(&self) -> bool {
        self.setup.spool.pending().is_empty()
    }

    pub(super) async fn send(&self, path: Option<&Path>, pending: &PendingResult, tries: u32) {
        let err = match self.try_send(path, pending, tries).await {
            Sent::Stored | Sent::Superseded => {
                if let Some(path) = path {
                    self.setup.spool.remove(path);
                }
                return;
            }
            Sent::Later => return,
            Sent::Refused(err) => err,
        };
        // The job must still end: keep the refused result for inspection, and report a
        // failure the gateway accepts instead.
        tracing::error!(job_id = %pending.job_id, error = %err, path = ?path, "the gateway refused the result; reporting the job failed (the result is kept aside)");
        if let Some(path) = path {
            self.setup.spool.set_aside(path);
        }
        let fallback = pending.refused(&err);
        match self.try_send(None, &fallback, tries).await {
            Sent::Stored | Sent::Superseded => {}
            Sent::Refused(err) => {
                tracing::error!(job_id = %pending.job_id, error = %err, "the gateway refused the failure report too")
            }
            Sent::Later => {
                if let Err(err) = self.setup.spool.replace(&fallback) {
                    tracing::error!(job_id = %pending.job_id, error = %err, "could not record the failure report on disk");
                }
            }
        }
    }

    /// Uploads the raw copies the result announces, then sends the result.
    async fn try_send(&self, path: Option<&Path>, pending: &PendingResult, tries: u32) -> Sent {
        let mut last = None;
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(2));
        for attempt in 1..=tries {
            if attempt > 1 {
                tokio::time::sleep(backoff.next_wait()).await;
            }
            let sent = match self.upload_raw(path, pending).await {
                Ok(report) => {
                    self.setup
                        .gateway
                        .result(
                            &self.setup.identity.get(),
                            &pending.job_id,
                            &pending.job_token,
                            &report,
                        )
                        .await
                }
                Err(err) => Err(err),
            };
            match sent {
                Ok(ack) => {
                    tracing::info!(job_id = %pending.job_id, duplicate = ack.duplicate, "result stored");
                    self.delete(pending.queue, &pending.receipt).await;
                    return Sent::Stored;
                }
                Err(err) if err.code() == Some(ErrorCode::StaleAttempt) => {
                    tracing::warn!(job_id = %pending.job_id, "result belongs to a superseded attempt; dropping it");
                    return Sent::Superseded;
                }
                Err(err) if !err.is_transient() => return Sent::Refused(err),
                Err(err) => {
                    tracing::warn!(job_id = %pending.job_id, error = %err, attempt, "could not deliver the result yet");
                    last = Some(err);
                }
            }
        }
        if let Some(err) = last {
            self.setup.outage.failed(&err);
        }
        Sent::Later
    }

    /// Uploads each raw copy kept with the spooled result; returns the report to send
    /// (which no longer announces a copy that is missing).
    async fn upload_raw(
        &self,
        path: Option<&Path>,
        pending: &PendingResult,
    ) -> Result<JobResultReport, GatewayError> {
        let mut report = pending.report.clone();
        for stream in OutputStream::ALL {
            let Some(announced) = report.raw.get(stream) else {
                continue;
            };
            let bytes = path.and_then(|path| self.setup.spool.raw(path, stream));
            let Some(bytes) = bytes.filter(|b| b.len() as u64 == announced.size) else {
                tracing::warn!(job_id = %pending.job_id, stream = stream.as_str(), "the raw output is gone from disk; sending the preview only");
                report.raw.set(stream, None);
                continue;
            };
            let request = OutputUploadRequest {
                task_id: report.task_id.clone(),
                attempt: report.attempt,
                lease_id: report.lease_id.clone(),
                stream,
                size: announced.size,
            };
            let gateway = &self.setup.gateway;
            let url = gateway
                .output_upload_url(
                    &self.setup.identity.get(),
                    &pending.job_id,
                    &pending.job_token,
                    &request,
                )
                .await?;
            gateway.upload(&url.url, bytes).await?;
        }
        Ok(report)
    }
}
