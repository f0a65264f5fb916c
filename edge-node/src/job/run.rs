//! A claimed job's run: the sandbox (see [`super::program`]) with the lease keeper
//! beside it, the job's scratch space removed afterwards, and then one of three ends,
//! chosen by why it stopped ([`StopReason`]): nothing (superseded), handed back (drain,
//! shutdown), or its result recorded on disk and delivered.

use tokio_util::sync::CancellationToken;

use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{JobResultReport, NodeConfig};

use super::logs::LogShipper;
use super::program::{Executed, JobDirs};
use super::{Claimed, JobRunner, JobStop, StopReason};
use crate::sandbox::live_log::LiveLog;
use crate::sandbox::output::LastLine;
use crate::sandbox::{SandboxOutcome, StreamTaps};
use crate::spool::PendingResult;

/// Quick delivery tries before leaving a result to the background resender.
pub(super) const QUICK_DELIVERY_TRIES: u32 = 3;

impl JobRunner {
    pub(super) async fn run(&self, job: Claimed, shutdown: CancellationToken) {
        let config: NodeConfig = self.setup.config.borrow().clone();
        let timeout = self
            .setup
            .limits
            .timeout_for(job.claim.spec.timeout_secs, config.max_timeout_secs);
        tracing::info!(
            attempt = job.claim.attempt,
            timeout_secs = timeout.as_secs(),
            "running"
        );
        let stop = JobStop::under(&shutdown);
        let progress = LastLine::default();
        let name = format!("{}-{}", job.message.job_id, job.claim.attempt);
        let dirs = JobDirs {
            job: self.setup.jobs_dir.join(&name),
            workspace: self.setup.jobs_dir.join(format!("{name}-workspace")),
            proxy: self
                .setup
                .inference
                .as_ref()
                .map(|node| &node.sockets_dir)
                .or(self.setup.hosted.as_ref().map(|hosted| &hosted.sockets_dir))
                .map(|dir| dir.join(&name)),
        };
        let started_at = time::OffsetDateTime::now_utc();
        let mut workspace = None;
        let taps = StreamTaps {
            progress: progress.clone(),
            log: LiveLog::new(self.setup.limits.max_log_bytes),
        };
        let shipper = LogShipper::new(self, &job, taps.log.clone());
        let executed = {
            let keeper = self.keep_alive(&job, &config, &stop, &progress);
            let execute = self.execute(&job, &dirs, timeout, &stop, &taps, &mut workspace);
            tokio::select! {
                executed = execute => executed,
                never = keeper => match never {},
                never = shipper.run() => match never {},
            }
        };
        // The log's last lines before the result, so that a reader who sees the task end
        // has seen all of its log.
        shipper.finish().await;
        if let Some(dir) = &dirs.proxy {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = std::fs::remove_dir_all(&dirs.job);
        if let Some(workspace) = workspace.take() {
            workspace.release().await;
        }
        let _ = std::fs::remove_dir_all(&dirs.workspace);
        let executed = executed.unwrap_or_else(|error| Executed {
            outcome: SandboxOutcome::failed(error, started_at),
            usage: None,
            work: None,
            answer: None,
        });
        self.conclude(job, executed, stop.reason(), progress.get())
            .await;
    }

    /// What becomes of a job that ran (or could not).
    async fn conclude(
        &self,
        job: Claimed,
        executed: Executed,
        stopped: Option<StopReason>,
        progress: Option<String>,
    ) {
        let canceled = executed.outcome.status == JobOutcome::Canceled;
        match stopped {
            Some(StopReason::Superseded) => {
                tracing::warn!("another attempt took the job over; not reporting this one");
                return;
            }
            // Stopped because the node is going away, not by its user: another node
            // runs it.
            Some(StopReason::Drain) if canceled => {
                return self.hand_back(&job, "its node is being drained").await;
            }
            Some(StopReason::Shutdown) if canceled => {
                return self
                    .hand_back(&job, "its node shut down before the job finished")
                    .await;
            }
            _ => {}
        }
        let Executed {
            outcome,
            usage,
            work,
            answer,
        } = executed;
        tracing::info!(status = outcome.status.as_str(), exit_code = ?outcome.exit_code, "finished");
        let pending = PendingResult {
            job_id: job.message.job_id.clone(),
            job_token: job.claim.job_token.clone(),
            receipt: job.received.receipt,
            queue: job.received.queue,
            report: JobResultReport {
                task_id: job.message.task_id.clone(),
                attempt: job.claim.attempt,
                lease_id: job.claim.lease_id.clone(),
                status: outcome.status,
                exit_code: outcome.exit_code,
                failed_command: outcome.failed_command,
                error: outcome.error,
                stdout: outcome.stdout,
                stderr: outcome.stderr,
                truncated: outcome.truncated,
                raw: outcome.raw.announced(),
                started_at: outcome.started_at,
                ended_at: outcome.ended_at,
                usage,
                work,
                answer,
                progress,
            },
        };
        match self.setup.spool.store(&pending, &outcome.raw) {
            Ok(path) => self.deliver(&path, &pending, QUICK_DELIVERY_TRIES).await,
            Err(err) => {
                tracing::error!(error = %err, "could not record the result on disk; sending it anyway");
                self.send(None, &pending, QUICK_DELIVERY_TRIES).await;
            }
        }
    }
}
