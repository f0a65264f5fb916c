//! `/v1/projects*`: a user's projects (git repositories for planned work). Owner-only
//! through `ProjectService::owned`; a project's credential is accepted, never returned.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::wire::{CreateProjectRequest, ProjectList, ProjectView, UpdateProjectRequest};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projects", get(list).post(create))
        .route(
            "/v1/projects/{project}",
            get(get_project).patch(update).delete(delete),
        )
}

async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateProjectRequest>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.projects().create(&user, req).await?),
    ))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<ProjectList>> {
    Ok(Json(state.projects().list(&user).await?))
}

async fn get_project(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(project): Path<String>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(state.projects().get(&user, &project).await?))
}

async fn update(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(project): Path<String>,
    JsonBody(req): JsonBody<UpdateProjectRequest>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(state.projects().update(&user, &project, req).await?))
}

async fn delete(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    state.projects().delete(&user, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}
