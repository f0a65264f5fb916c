//! A chat job's text, sent to the gateway as chunks of the current claim while the model
//! writes it. A chunk is retried a few times: a lost one would leave a gap in the stream.

use std::time::Duration;

use cynode_protocol::wire::{AnswerEnd, JobChunkRequest};

use super::{Claimed, JobRunner};
use crate::backoff::Backoff;
use crate::inference::direct::ChunkSink;

/// Tries of one chunk before the answer fails.
const CHUNK_TRIES: u32 = 4;

pub(super) struct GatewaySink<'a> {
    pub runner: &'a JobRunner,
    pub job: &'a Claimed,
}

#[async_trait::async_trait]
impl ChunkSink for GatewaySink<'_> {
    async fn send(&self, seq: u32, text: String, end: Option<AnswerEnd>) -> Result<(), String> {
        let (message, claim) = (&self.job.message, &self.job.claim);
        let request = JobChunkRequest {
            task_id: message.task_id.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            seq,
            text,
            end,
        };
        let setup = &self.runner.setup;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = setup
                .gateway
                .chunk(
                    &setup.identity.get(),
                    &message.job_id,
                    &claim.job_token,
                    &request,
                )
                .await;
            match sent {
                Ok(()) => return Ok(()),
                Err(err) if !err.is_transient() || tries == CHUNK_TRIES => {
                    return Err(format!("could not stream the answer: {err}"))
                }
                Err(_) => tokio::time::sleep(backoff.next_wait()).await,
            }
        }
    }
}
