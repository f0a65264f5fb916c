//! `/v1/api-keys`: personal API keys — create (the secret is in this one answer), list,
//! revoke. Admins add `?user=<handle>` to list another user's keys, and may revoke any.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use cynode_domain::wire::{ApiKeyList, ApiKeyView, CreateApiKeyRequest, CreatedApiKey};
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list).post(create))
        .route("/v1/api-keys/{key}", delete(revoke))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    user: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    Ok((
        StatusCode::CREATED,
        Json(state.api_keys().create(&user, req).await?),
    ))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<ApiKeyList>> {
    Ok(Json(
        state.api_keys().list(&user, query.user.as_deref()).await?,
    ))
}

async fn revoke(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(key): Path<String>,
) -> ApiResult<Json<ApiKeyView>> {
    Ok(Json(state.api_keys().revoke(&user, &key).await?))
}
