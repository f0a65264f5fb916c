//! `/v1/admin/*`: operators' routes (admin users only). Edge nodes can be listed,
//! enabled, disabled, drained, revoked and labelled; the dead-letter queue can be listed and sent back to
//! the job queues; a recovery sweep can be run at once instead of waiting for the
//! schedule.

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cynode_domain::wire::{
    DeadLetterList, NodeLabels, NodeList, NodeState, NodeView, RedriveReport, SweepReport,
};
use cynode_domain::ErrorCode;

use axum::http::StatusCode;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/nodes", get(nodes))
        .route("/v1/admin/nodes/{node}", get(node))
        .route("/v1/admin/nodes/{node}/labels", put(set_labels))
        .route("/v1/admin/nodes/{node}/{action}", post(set_state))
        .route("/v1/admin/dead-letters", get(dead_letters))
        .route("/v1/admin/dead-letters/redrive", post(redrive))
        .route("/v1/admin/sweep", post(sweep))
}

async fn dead_letters(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<DeadLetterList>> {
    Ok(Json(state.recovery().dead_letters(&user).await?))
}

async fn redrive(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<RedriveReport>> {
    Ok(Json(state.recovery().redrive(&user).await?))
}

async fn sweep(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<SweepReport>> {
    cynode_domain::principal::require_admin(&user)?;
    Ok(Json(state.sweep().await?))
}

async fn nodes(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<NodeList>> {
    Ok(Json(state.nodes().list(&user).await?))
}

async fn node(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(node): Path<String>,
) -> ApiResult<Json<NodeView>> {
    Ok(Json(state.nodes().get(&user, &node).await?))
}

/// `enable`, `disable`, `drain` or `revoke`.
async fn set_state(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path((node, action)): Path<(String, String)>,
) -> ApiResult<Json<NodeView>> {
    let to = match action.as_str() {
        "enable" => NodeState::Enabled,
        "disable" => NodeState::Disabled,
        "drain" => NodeState::Draining,
        "revoke" => NodeState::Revoked,
        _ => {
            return Err(ApiError::request(
                StatusCode::NOT_FOUND,
                ErrorCode::RouteNotFound,
                "no such route",
            ))
        }
    };
    Ok(Json(state.nodes().set_state(&user, &node, to).await?))
}

/// Replaces the node's labels.
async fn set_labels(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(node): Path<String>,
    JsonBody(body): JsonBody<NodeLabels>,
) -> ApiResult<Json<NodeView>> {
    Ok(Json(
        state.nodes().set_labels(&user, &node, body.labels).await?,
    ))
}
