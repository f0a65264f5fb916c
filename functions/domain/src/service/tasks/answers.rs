//! Streamed answers: a completion task's chunks as the node sends them, read by the
//! gateway's streaming route.

use super::TaskService;
use crate::error::{Error, Result};
use crate::ids::{JobId, TaskId};
use crate::ports::Chunk;
use crate::principal::Principal;

/// A chat completion's job may run this long on a node.
pub const COMPLETION_TIMEOUT_SECS: u64 = 300;

/// A completion task of the reader's, opened by [`TaskService::open_stream`] (which
/// checked ownership); only that function makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerStream {
    task: TaskId,
    job: JobId,
}

/// A streamed completion as a reader sees it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    /// The attempt whose chunks these are (0 before any node claimed the job).
    pub attempt: u32,
    /// The job has ended: after these chunks, nothing more will come.
    pub finished: bool,
    pub chunks: Vec<Chunk>,
}

impl TaskService {
    /// Opens a completion task of `principal`'s for reading its streamed answer: the one
    /// ownership check; the reads that follow name the task's job directly.
    pub async fn open_stream(&self, principal: &Principal, task: &TaskId) -> Result<AnswerStream> {
        let task = self.owned_task(principal, task.as_str()).await?;
        let job = self
            .tasks
            .jobs(&task.id)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal(format!("completion task {} has no job", task.id)))?;
        Ok(AnswerStream {
            task: task.id,
            job: job.id,
        })
    }

    /// The chunks after `after` of the attempt the reader follows (of the job's new
    /// attempt instead, from its first, when another node took the job over), and
    /// whether the job has ended. One read; two at the very end.
    pub async fn stream_state(
        &self,
        stream: &AnswerStream,
        attempt: u32,
        after: Option<u32>,
    ) -> Result<StreamState> {
        let read = || {
            self.tasks
                .answer_progress(&stream.task, &stream.job, attempt, after)
        };
        let mut progress = read().await?;
        let job = progress
            .job
            .take()
            .ok_or_else(|| Error::internal(format!("job {} vanished", stream.job)))?;
        let finished = job.status.is_terminal();
        if finished {
            // Every chunk was stored before the job's result, but one read of many items
            // is not a snapshot: a chunk stored just before the result may be missing
            // from the chunks of the read that saw the job end. A read after it misses
            // none.
            progress = read().await?;
        }
        let chunks = progress
            .chunks
            .into_iter()
            .filter(|chunk| chunk.attempt == job.attempt)
            .collect();
        Ok(StreamState {
            attempt: job.attempt,
            finished,
            chunks,
        })
    }
}
