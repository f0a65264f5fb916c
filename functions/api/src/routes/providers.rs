//! `/v1/providers*`: the hosted model providers' registry (admins register and remove;
//! everyone lists them and attaches a stored credential of theirs, admins also for
//! everyone).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

use cynode_domain::wire::{
    AttachCredentialRequest, AttachScope, CreateProviderRequest, ProviderList, ProviderView,
};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/providers", get(list).post(create))
        .route("/v1/providers/{name}", get(read).delete(remove))
        .route(
            "/v1/providers/{name}/credential",
            put(attach).delete(detach),
        )
}

async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateProviderRequest>,
) -> ApiResult<(StatusCode, Json<ProviderView>)> {
    let provider = state.providers().create(&user, req).await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<ProviderList>> {
    Ok(Json(state.providers().list(&user).await?))
}

async fn read(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<ProviderView>> {
    Ok(Json(state.providers().get(&user, &name).await?))
}

async fn remove(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.providers().delete(&user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attach(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<AttachCredentialRequest>,
) -> ApiResult<Json<ProviderView>> {
    Ok(Json(state.providers().attach(&user, &name, req).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeParams {
    #[serde(default)]
    scope: AttachScope,
}

async fn detach(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
    QueryParams(params): QueryParams<ScopeParams>,
) -> ApiResult<Json<ProviderView>> {
    Ok(Json(
        state.providers().detach(&user, &name, params.scope).await?,
    ))
}
