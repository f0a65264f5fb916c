//! `/v1/skills*`: loading (creating or replacing by name), listing, reading and deleting
//! the caller's skills.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::wire::{LoadSkillRequest, SkillList, SkillView};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/skills", get(list).post(load))
        .route("/v1/skills/{name}", get(read).delete(remove))
}

async fn load(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<LoadSkillRequest>,
) -> ApiResult<(StatusCode, Json<SkillView>)> {
    let (skill, created) = state.skills().load(&user, req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(skill)))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<SkillList>> {
    Ok(Json(state.skills().list(&user).await?))
}

async fn read(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<SkillView>> {
    Ok(Json(state.skills().get(&user, &name).await?))
}

async fn remove(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.skills().delete(&user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
