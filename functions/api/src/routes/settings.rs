//! `/v1/settings*` (admins): the system settings in force, with their source and the
//! deployment's value, and changing one.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::wire::{SetSettingRequest, SettingView, SettingsView};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/settings", get(list))
        .route("/v1/settings/{key}", get(read).put(set))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(state.settings().list(&user).await?))
}

async fn read(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(key): Path<String>,
) -> ApiResult<Json<SettingView>> {
    Ok(Json(state.settings().get(&user, &key).await?))
}

async fn set(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<SetSettingRequest>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(state.settings().set(&user, &key, req).await?))
}
