//! `/v1/tasks*` and `/v1/attachments`: a user's tasks. Every single-task route resolves
//! the task through `TaskService::owned_task`, which enforces ownership (deleting also
//! lets an admin name anyone's task by id).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::service::tasks::ListQuery;
use cynode_domain::wire::{
    AttachmentUpload, CancelOutcome, CreateAttachmentRequest, CreateTaskRequest, OutputDownload,
    TaskList, TaskResult, TaskView,
};
use cynode_domain::Error;
use cynode_domain::ErrorCode;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks", post(create).get(list))
        .route("/v1/tasks/{task}", get(get_task).delete(delete_task))
        .route("/v1/tasks/{task}/result", get(result))
        .route("/v1/tasks/{task}/cancel", post(cancel))
        .route("/v1/tasks/{task}/logs", get(logs))
        .route("/v1/tasks/{task}/output/{stream}", get(output))
        .route("/v1/attachments", post(create_attachment))
}

fn record_task(task: &str) {
    tracing::Span::current().record("task_id", task);
}

/// `Idempotency-Key` makes a retried create safe: the same key again answers 200 with
/// the task the first request created, and creates nothing.
async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CreateTaskRequest, MAX_TASK_BODY_BYTES>,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            Error::validation(
                ErrorCode::InvalidIdempotencyKey,
                "Idempotency-Key must be visible ASCII characters",
            )
        })?),
    };
    let (task, replayed) = state.tasks().create_once(&user, req, key).await?;
    record_task(task.task_id.as_str());
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(task)))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<String>,
    status: Option<String>,
    project: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<TaskList>> {
    let query = ListQuery {
        status: params.status.as_deref(),
        project: params.project.as_deref(),
        limit: params.limit.as_deref(),
        cursor: params.cursor.as_deref(),
    };
    let page = state.tasks().list(&user, query).await?;
    Ok(Json(page))
}

async fn delete_task(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<StatusCode> {
    record_task(&task);
    state.tasks().delete(&user, &task).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_task(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Json<TaskView>> {
    record_task(&task);
    Ok(Json(state.tasks().get(&user, &task).await?))
}

async fn result(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Json<TaskResult>> {
    record_task(&task);
    Ok(Json(state.tasks().result(&user, &task).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Json<CancelOutcome>> {
    record_task(&task);
    Ok(Json(state.tasks().cancel(&user, &task).await?))
}

#[derive(Debug, Deserialize)]
struct LogParams {
    stream: Option<String>,
    /// Live logs from this cursor (`""`: from the first chunk) instead of the streams.
    cursor: Option<String>,
}

/// The task's stdout and stderr (a running job's live log so far), or with `cursor`, the
/// live log's chunks after it.
async fn logs(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
    QueryParams(params): QueryParams<LogParams>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    record_task(&task);
    let tasks = state.tasks();
    Ok(match params.cursor {
        Some(cursor) => Json(tasks.live_logs(&user, &task, &cursor).await?).into_response(),
        None => Json(tasks.logs(&user, &task, params.stream.as_deref()).await?).into_response(),
    })
}

/// Where to download a stream's whole bytes (the preview in the result may be cut or
/// converted; see `docs/api.md`).
async fn output(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path((task, stream)): Path<(String, String)>,
) -> ApiResult<Json<OutputDownload>> {
    record_task(&task);
    Ok(Json(state.tasks().output(&user, &task, &stream).await?))
}

async fn create_attachment(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateAttachmentRequest>,
) -> ApiResult<(StatusCode, Json<AttachmentUpload>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.tasks().create_attachment(&user, req).await?),
    ))
}
