//! `/v1/tasks/{task}/subtasks*`, `/retry-planning` and `/runs*`: planned work. Every
//! route resolves the task through `TaskService::owned_task` (inside `PlanService`),
//! which enforces ownership.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use cynode_domain::plan::Subtask;
use cynode_domain::service::plans::parse_subtask_number;
use cynode_domain::wire::{RunList, RunLogs, SubtaskList, TaskView};
use cynode_domain::ErrorCode;

use crate::error::ApiResult;
use crate::extract::Authenticated;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks/{task}/retry-planning", post(retry_planning))
        .route("/v1/tasks/{task}/subtasks", get(subtasks))
        .route("/v1/tasks/{task}/subtasks/{number}", get(subtask))
        .route("/v1/tasks/{task}/subtasks/{number}/{action}", post(act))
        .route("/v1/tasks/{task}/runs", get(runs))
        .route("/v1/tasks/{task}/runs/{run}/logs", get(run_logs))
}

fn record_task(task: &str) {
    tracing::Span::current().record("task_id", task);
}

async fn retry_planning(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Json<TaskView>> {
    record_task(&task);
    Ok(Json(state.plans().retry_planning(&user, &task).await?))
}

async fn subtasks(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Json<SubtaskList>> {
    record_task(&task);
    Ok(Json(state.plans().subtasks(&user, &task).await?))
}

async fn subtask(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path((task, number)): Path<(String, String)>,
) -> ApiResult<Json<Subtask>> {
    record_task(&task);
    let number = parse_subtask_number(&number)?;
    Ok(Json(state.plans().subtask(&user, &task, number).await?))
}

/// `start`, `retry` or `mark-merged`.
async fn act(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path((task, number, action)): Path<(String, String, String)>,
) -> ApiResult<Json<Subtask>> {
    record_task(&task);
    let number = parse_subtask_number(&number)?;
    let subtask = match action.as_str() {
        "start" => state.plans().start(&user, &task, number).await?,
        "retry" => state.plans().retry(&user, &task, number).await?,
        "mark-merged" => state.plans().mark_merged(&user, &task, number).await?,
        _ => {
            return Err(crate::error::ApiError::request(
                axum::http::StatusCode::NOT_FOUND,
                ErrorCode::RouteNotFound,
                "a subtask's actions are start, retry and mark-merged",
            ))
        }
    };
    Ok(Json(subtask))
}

async fn runs(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Json<RunList>> {
    record_task(&task);
    Ok(Json(state.plans().runs(&user, &task).await?))
}

async fn run_logs(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path((task, run)): Path<(String, String)>,
) -> ApiResult<Json<RunLogs>> {
    record_task(&task);
    Ok(Json(state.plans().run_logs(&user, &task, &run).await?))
}
