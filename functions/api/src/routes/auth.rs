//! `/v1/auth/*` and `/v1/users*`: log in, refresh, log out, who am I, create users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cynode_domain::wire::{
    CreateUserRequest, LoginRequest, LogoutRequest, RefreshRequest, TokenPair, UserView,
};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, OptionalJsonBody, SourceAddr};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/users/me", get(me))
        .route("/v1/users", post(create_user))
}

async fn login(
    State(state): State<AppState>,
    SourceAddr(source): SourceAddr,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Json<TokenPair>> {
    Ok(Json(state.auth().login(req, &source).await?))
}

async fn refresh(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    Ok(Json(state.auth().refresh(req).await?))
}

async fn logout(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    OptionalJsonBody(req): OptionalJsonBody<LogoutRequest>,
) -> ApiResult<StatusCode> {
    state.auth().logout(&user, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<UserView>> {
    Ok(Json(state.auth().me(&user).await?))
}

async fn create_user(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.auth().create_user(&user, req).await?),
    ))
}
