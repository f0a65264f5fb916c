//! `/v1/credentials*`: the caller's stored credentials. Values go in (create, rotate) and
//! never come out: every answer is the credential without its value.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cynode_domain::wire::{
    CreateCredentialRequest, CredentialList, CredentialView, RotateCredentialRequest,
    UpdateCredentialRequest,
};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/credentials", get(list).post(create))
        .route(
            "/v1/credentials/{name}",
            get(read).patch(update).delete(remove),
        )
        .route("/v1/credentials/{name}/rotate", post(rotate))
}

async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateCredentialRequest>,
) -> ApiResult<(StatusCode, Json<CredentialView>)> {
    let view = state.credentials().create(&user, req).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<CredentialList>> {
    Ok(Json(state.credentials().list(&user).await?))
}

async fn read(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<CredentialView>> {
    Ok(Json(state.credentials().get(&user, &name).await?))
}

async fn update(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateCredentialRequest>,
) -> ApiResult<Json<CredentialView>> {
    Ok(Json(state.credentials().update(&user, &name, req).await?))
}

async fn rotate(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<RotateCredentialRequest>,
) -> ApiResult<Json<CredentialView>> {
    Ok(Json(state.credentials().rotate(&user, &name, req).await?))
}

async fn remove(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.credentials().delete(&user, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
