//! A running job's live log: the chunks its node ships while the job prints (read back
//! by `service::tasks::output`).

use super::JobService;
use crate::error::{Error, Result};
use crate::ids::NodeId;
use crate::job::Job;
use crate::live_log::LogChunk;
use crate::wire::JobLogRequest;
use crate::ErrorCode;

impl JobService {
    /// Stores a chunk of `job`'s live log from the node that holds its claim (a chunk of
    /// an attempt that is over is refused: a node ships a log before its result).
    pub async fn log(&self, node: &NodeId, job: &Job, req: JobLogRequest) -> Result<()> {
        let logs = self
            .logs
            .as_ref()
            .ok_or_else(|| Error::internal("this gateway keeps no live logs"))?;
        if job.task_id != req.task_id {
            return Err(Error::not_found(
                ErrorCode::JobNotFound,
                format!("no job {} in task {}", job.id, req.task_id),
            ));
        }
        job.check_claim(node, req.attempt, &req.lease_id)?;
        let chunk = LogChunk::from_request(&job.id, req, self.clock.now())?;
        logs.put_log(&chunk).await?;
        Ok(())
    }
}
