//! `/v1/users*`: who am I, changing one's own password, and (admins) listing, creating,
//! disabling, enabling, promoting and resetting users.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use cynode_domain::wire::{
    ChangePasswordRequest, CreateUserRequest, ResetPasswordRequest, TokenPair, UpdateUserRequest,
    UserList, UserView,
};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, QueryParams, SourceAddr};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/users/me", get(me))
        .route("/v1/users/me/password", post(change_password))
        .route("/v1/users", get(list).post(create))
        .route("/v1/users/{handle}", patch(update))
        .route("/v1/users/{handle}/password", post(reset_password))
}

async fn me(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.auth().me(&user).await?))
}

async fn change_password(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    SourceAddr(source): SourceAddr,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> ApiResult<Json<TokenPair>> {
    Ok(Json(
        state.auth().change_password(&user, req, &source).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<UserList>> {
    let page = state
        .users()
        .list(&user, params.limit.as_deref(), params.cursor.as_deref())
        .await?;
    Ok(Json(page))
}

async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.users().create(&user, req).await?),
    ))
}

async fn update(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(handle): Path<String>,
    JsonBody(req): JsonBody<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.users().update(&user, &handle, req).await?))
}

async fn reset_password(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(handle): Path<String>,
    JsonBody(req): JsonBody<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    state.users().reset_password(&user, &handle, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
