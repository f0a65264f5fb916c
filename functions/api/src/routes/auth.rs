//! `/v1/auth/*`: log in, refresh, log out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use cynode_domain::wire::{LoginRequest, LogoutRequest, RefreshRequest, TokenPair};

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, OptionalJsonBody, SourceAddr};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
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
