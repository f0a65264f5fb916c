//! `/v1/jobs/{job}/*`: the edge node's callbacks. `started` is signed with the node's key
//! and returns the claim with its job token; `heartbeat`, `result` and the rest must be
//! signed with that job token, so only the current claim of a job can report on it, or
//! (`inference`) call its task's hosted model.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use cynode_domain::ids::JobId;
use cynode_domain::limits::MAX_RESULT_BODY_BYTES;
use cynode_domain::service::SigningKey;
use cynode_domain::wire::{
    ClaimDecision, HeartbeatAnswer, HeartbeatRequest, HostedCall, HostedCallRequest,
    JobChunkRequest, JobLogRequest, JobReleaseRequest, JobResultReport, JobStartedRequest,
    OutputUploadRequest, OutputUploadUrl, ResultAck,
};
use cynode_domain::Error;
use cynode_domain::ErrorCode;

use crate::error::ApiResult;
use crate::extract::SignedBody;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs/{job}/started", post(started))
        .route("/v1/jobs/{job}/heartbeat", post(heartbeat))
        .route("/v1/jobs/{job}/result", post(result))
        .route("/v1/jobs/{job}/chunks", post(chunk))
        .route("/v1/jobs/{job}/logs", post(log))
        .route("/v1/jobs/{job}/output", post(output_upload))
        .route("/v1/jobs/{job}/release", post(release))
        .route("/v1/jobs/{job}/inference", post(inference))
}

fn job_id(raw: &str) -> Result<JobId, Error> {
    JobId::parse(raw)
        .ok_or_else(|| Error::not_found(ErrorCode::JobNotFound, format!("no job '{raw}'")))
}

fn record_task(task: &str) {
    tracing::Span::current().record("task_id", task);
}

async fn started(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody,
) -> ApiResult<Json<ClaimDecision>> {
    let job = job_id(&job)?;
    let node = signed.authenticate(state.nodes(), SigningKey::Node).await?;
    let req: JobStartedRequest = signed.json()?;
    record_task(req.task_id.as_str());
    Ok(Json(state.jobs().started_on(&node, &job, req).await?))
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody,
) -> ApiResult<Json<HeartbeatAnswer>> {
    let job = job_id(&job)?;
    let req: HeartbeatRequest = signed.json()?;
    let node = signed
        .authenticate_job(state.nodes(), &job, &req.lease_id)
        .await?;
    record_task(req.task_id.as_str());
    Ok(Json(state.jobs().heartbeat_on(&node, &job, req).await?))
}

async fn result(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody<MAX_RESULT_BODY_BYTES>,
) -> ApiResult<Json<ResultAck>> {
    let job = job_id(&job)?;
    let report: JobResultReport = signed.json()?;
    let node = signed
        .authenticate_job(state.nodes(), &job, &report.lease_id)
        .await?;
    record_task(report.task_id.as_str());
    Ok(Json(state.jobs().result(&node.id, &job, report).await?))
}

/// A piece of a chat job's answer, signed with the claim's job token.
async fn chunk(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody<MAX_RESULT_BODY_BYTES>,
) -> ApiResult<axum::http::StatusCode> {
    let job = job_id(&job)?;
    let req: JobChunkRequest = signed.json()?;
    // The job is read while the signature is checked (chunks are on the hot path of
    // every streamed answer); nothing is written before both are done.
    let (node, read) = tokio::join!(
        signed.authenticate_job(state.nodes(), &job, &req.lease_id),
        state.jobs().chunk_job(&req.task_id, &job)
    );
    let node = node?;
    record_task(req.task_id.as_str());
    state.jobs().chunk(&node.id, &read?, req).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A chunk of a running job's live log, signed with the job token.
async fn log(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody<MAX_RESULT_BODY_BYTES>,
) -> ApiResult<axum::http::StatusCode> {
    let job = job_id(&job)?;
    let req: JobLogRequest = signed.json()?;
    let (node, read) = tokio::join!(
        signed.authenticate_job(state.nodes(), &job, &req.lease_id),
        state.jobs().chunk_job(&req.task_id, &job)
    );
    let node = node?;
    record_task(req.task_id.as_str());
    state.jobs().log(&node.id, &read?, req).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Where to upload one stream's raw bytes before the result, signed with the job token.
async fn output_upload(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody,
) -> ApiResult<Json<OutputUploadUrl>> {
    let job = job_id(&job)?;
    let req: OutputUploadRequest = signed.json()?;
    let node = signed
        .authenticate_job(state.nodes(), &job, &req.lease_id)
        .await?;
    record_task(req.task_id.as_str());
    Ok(Json(
        state.jobs().output_upload_url(&node.id, &job, req).await?,
    ))
}

/// The claim's node hands the job back unfinished (signed with the job token).
async fn release(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody,
) -> ApiResult<axum::http::StatusCode> {
    let job = job_id(&job)?;
    let req: JobReleaseRequest = signed.json()?;
    let node = signed
        .authenticate_job(state.nodes(), &job, &req.lease_id)
        .await?;
    record_task(req.task_id.as_str());
    state.jobs().release(&node.id, &job, req).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A model call of a job whose task's model is hosted, relayed by the node that holds its
/// claim (signed with the job token): answered through the egress on the task owner's
/// account, whole or streamed as the provider answers.
async fn inference(
    State(state): State<AppState>,
    Path(job): Path<String>,
    signed: SignedBody<MAX_RESULT_BODY_BYTES>,
) -> ApiResult<Response> {
    let job = job_id(&job)?;
    let req: HostedCallRequest = signed.json()?;
    let (node, read) = tokio::join!(
        signed.authenticate_job(state.nodes(), &job, &req.lease_id),
        state.jobs().hosted_call_read(&req, &job)
    );
    let node = node?;
    record_task(req.task_id.as_str());
    let (job, task) = read?;
    state
        .jobs()
        .check_hosted_call(&node.id, &job, &task, &req)?;
    let model = task.routed_model().unwrap_or_default();
    let grant = state.egress().grant_for_task(&task, &model).await?;
    match req.call {
        HostedCall::ChatCompletions => {
            super::hosted::chat_completion(state, None, grant, req.body).await
        }
        HostedCall::Embeddings => super::hosted::embeddings(state, grant, req.body).await,
    }
}
