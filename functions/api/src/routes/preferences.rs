//! `/v1/preferences*`: the values set at a scope (`?scope=system|user|project|task`,
//! `&scope_id=` for a project or task), one key's value there, setting and unsetting it,
//! and the effective values for a task, a project or the caller.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::service::preferences::ScopeRef;
use cynode_domain::wire::{
    EffectivePreferences, PreferenceEntry, PreferenceList, SetPreferenceRequest,
};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/preferences", get(list))
        .route("/v1/preferences/effective", get(effective))
        .route("/v1/preferences/{key}", get(read).put(set).delete(unset))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeParams {
    scope: Option<String>,
    scope_id: Option<String>,
}

impl ScopeParams {
    fn scope(&self) -> ScopeRef<'_> {
        ScopeRef {
            scope: self.scope.as_deref(),
            scope_id: self.scope_id.as_deref(),
        }
    }
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(params): QueryParams<ScopeParams>,
) -> ApiResult<Json<PreferenceList>> {
    Ok(Json(state.preferences().list(&user, params.scope()).await?))
}

async fn read(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(key): Path<String>,
    QueryParams(params): QueryParams<ScopeParams>,
) -> ApiResult<Json<PreferenceEntry>> {
    Ok(Json(
        state.preferences().get(&user, &key, params.scope()).await?,
    ))
}

async fn set(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<SetPreferenceRequest>,
) -> ApiResult<Json<PreferenceEntry>> {
    Ok(Json(state.preferences().set(&user, &key, req).await?))
}

async fn unset(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(key): Path<String>,
    QueryParams(params): QueryParams<ScopeParams>,
) -> ApiResult<StatusCode> {
    state
        .preferences()
        .unset(&user, &key, params.scope())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EffectiveParams {
    task: Option<String>,
    project: Option<String>,
}

async fn effective(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(params): QueryParams<EffectiveParams>,
) -> ApiResult<Json<EffectivePreferences>> {
    Ok(Json(
        state
            .preferences()
            .effective(&user, params.task.as_deref(), params.project.as_deref())
            .await?,
    ))
}
