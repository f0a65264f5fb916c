//! A running job's live log, shipped to the gateway while the job prints: the first
//! output within [`FIRST_LOG_FLUSH_MILLIS`], then at most [`LOG_FLUSH_MILLIS`] apart, in
//! chunks numbered per attempt. A chunk the gateway did not take (an outage) is kept and
//! sent again with the same number, so a reader sees nothing twice and nothing missing;
//! what is left when the job ends is shipped before its result.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use cynode_protocol::limits::{FIRST_LOG_FLUSH_MILLIS, LOG_FLUSH_MILLIS, MAX_LOG_CHUNK_BYTES};
use cynode_protocol::wire::JobLogRequest;

use super::{Claimed, JobRunner};
use crate::backoff::Backoff;
use crate::sandbox::live_log::LiveLog;

/// Tries of one chunk in one round before it waits for the next.
const TRIES: u32 = 3;

pub(super) struct LogShipper<'a> {
    runner: &'a JobRunner,
    job: &'a Claimed,
    log: LiveLog,
    state: Mutex<ShipState>,
}

#[derive(Default)]
struct ShipState {
    next_seq: u32,
    /// Taken from the log, not yet accepted by the gateway.
    unsent: Option<JobLogRequest>,
}

impl<'a> LogShipper<'a> {
    pub(super) fn new(runner: &'a JobRunner, job: &'a Claimed, log: LiveLog) -> Self {
        Self {
            runner,
            job,
            log,
            state: Mutex::new(ShipState::default()),
        }
    }

    /// Ships while the job runs; never returns (dropped when the job ends, then
    /// [`LogShipper::finish`] ships the rest).
    pub(super) async fn run(&self) -> std::convert::Infallible {
        let mut last = None::<Instant>;
        loop {
            self.log.printed().await;
            let wait = match last {
                None => Duration::from_millis(FIRST_LOG_FLUSH_MILLIS),
                Some(at) => Duration::from_millis(LOG_FLUSH_MILLIS).saturating_sub(at.elapsed()),
            };
            tokio::time::sleep(wait).await;
            last = Some(Instant::now());
            self.ship(false).await;
        }
    }

    /// Ships what is left once the job has ended (before its result).
    pub(super) async fn finish(&self) {
        self.ship(true).await;
    }

    /// Sends chunks until nothing is pending or the gateway stops taking them.
    async fn ship(&self, ended: bool) {
        loop {
            let Some(request) = self.next_chunk(ended) else {
                return;
            };
            if !self.send(&request).await {
                return;
            }
            self.state.lock().expect("log shipper").unsent = None;
        }
    }

    /// The unsent chunk, or a new one from the log.
    fn next_chunk(&self, ended: bool) -> Option<JobLogRequest> {
        let mut state = self.state.lock().expect("log shipper");
        if let Some(unsent) = &state.unsent {
            return Some(unsent.clone());
        }
        let (entries, truncated) = if ended {
            self.log.take_rest(MAX_LOG_CHUNK_BYTES)
        } else {
            self.log.take(MAX_LOG_CHUNK_BYTES)
        };
        if entries.is_empty() && !truncated {
            return None;
        }
        let request = JobLogRequest {
            task_id: self.job.message.task_id.clone(),
            attempt: self.job.claim.attempt,
            lease_id: self.job.claim.lease_id.clone(),
            seq: state.next_seq,
            entries,
            truncated,
        };
        state.next_seq += 1;
        state.unsent = Some(request.clone());
        Some(request)
    }

    /// Whether the gateway took the chunk (a refusal that trying again cannot change
    /// drops it: the job's log has a gap the result's output still covers).
    async fn send(&self, request: &JobLogRequest) -> bool {
        let setup = &self.runner.setup;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
        for tries in 1..=TRIES {
            let sent = setup
                .gateway
                .log(
                    &setup.identity.get(),
                    &self.job.message.job_id,
                    &self.job.claim.job_token,
                    request,
                )
                .await;
            match sent {
                Ok(()) => return true,
                Err(err) if !err.is_transient() => {
                    tracing::warn!(error = %err, seq = request.seq, "the gateway refused a log chunk; dropping it");
                    return true;
                }
                Err(err) if tries == TRIES => {
                    tracing::info!(error = %err, seq = request.seq, "could not ship a log chunk; trying again later");
                }
                Err(_) => tokio::time::sleep(backoff.next_wait()).await,
            }
        }
        false
    }
}
