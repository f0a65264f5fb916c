//! A job's calls to its hosted model (`POST /v1/jobs/{job}/inference`): taken only from
//! the node whose claim holds the job's lease, current and unexpired, and only for the
//! model its task was routed to. The call itself is the egress's.

use serde_json::Value;

use super::JobService;
use crate::error::{Error, Result};
use crate::ids::NodeId;
use crate::job::Job;
use crate::task::Task;
use crate::wire::HostedCallRequest;
use crate::ErrorCode;

impl JobService {
    /// The task whose hosted model `req` may call, for `node` holding `job` (read by
    /// [`JobService::chunk_job`]); else why not: a stale or expired claim (409
    /// `stale_attempt`), a task whose model is not hosted, or another model (403
    /// `model_not_allowed`).
    pub async fn hosted_call_task(
        &self,
        node: &NodeId,
        job: &Job,
        req: &HostedCallRequest,
    ) -> Result<Task> {
        if job.task_id != req.task_id {
            return Err(Error::not_found(
                ErrorCode::JobNotFound,
                format!("no job {} in task {}", job.id, req.task_id),
            ));
        }
        job.check_claim(node, req.attempt, &req.lease_id)?;
        let now = self.clock.now();
        if job
            .lease
            .as_ref()
            .is_some_and(|lease| lease.expires_at <= now)
        {
            return Err(Error::conflict(
                ErrorCode::StaleAttempt,
                "the job's lease has run out: a model call needs a claim that holds it",
            ));
        }
        let task = self
            .tasks
            .task(&req.task_id)
            .await?
            .ok_or_else(|| Error::task_not_found(req.task_id.as_str()))?;
        let model = match (task.hosted(), task.routed_model()) {
            (true, Some(model)) => model,
            _ => {
                return Err(Error::forbidden(
                    ErrorCode::ModelNotAllowed,
                    format!(
                        "task {}'s model is not hosted: its calls go to its node's model server",
                        task.id
                    ),
                ))
            }
        };
        let named = req.body.get("model").and_then(Value::as_str);
        if named != Some(model.as_str()) {
            return Err(Error::forbidden(
                ErrorCode::ModelNotAllowed,
                format!("this job may call only its task's model {model}"),
            )
            .with_param("model"));
        }
        Ok(task)
    }
}
