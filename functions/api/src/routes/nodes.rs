//! `/v1/nodes/*`: edge nodes register with the pre-shared key, then sign every request
//! with the key registration returned.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cynode_domain::service::SigningKey;
use cynode_domain::wire::{
    CapabilityReport, ConfigAck, NodeConfig, NodeRegistration, NodeView, QueueCredentials,
    RegisterNodeRequest,
};
use cynode_domain::ErrorCode;

use crate::error::ApiResult;
use crate::extract::{JsonBody, SignedBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/nodes/register", post(register))
        .route("/v1/nodes/capabilities", post(capabilities))
        .route("/v1/nodes/config", get(config))
        .route("/v1/nodes/config/ack", post(ack))
        .route("/v1/nodes/credentials", post(credentials))
}

async fn register(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RegisterNodeRequest>,
) -> ApiResult<Json<NodeRegistration>> {
    let registration = state.nodes().register(req).await?;
    tracing::Span::current().record("node_id", registration.node_id.as_str());
    Ok(Json(registration))
}

async fn capabilities(
    State(state): State<AppState>,
    signed: SignedBody,
) -> ApiResult<Json<NodeView>> {
    let node = signed.authenticate(state.nodes(), SigningKey::Node).await?;
    let report: CapabilityReport = signed.json()?;
    Ok(Json(
        state.nodes().report_capabilities(&node, report).await?,
    ))
}

async fn config(State(state): State<AppState>, signed: SignedBody) -> ApiResult<Json<NodeConfig>> {
    signed.authenticate(state.nodes(), SigningKey::Node).await?;
    Ok(Json(state.nodes().current_config().await?))
}

async fn ack(State(state): State<AppState>, signed: SignedBody) -> ApiResult<StatusCode> {
    let node = signed.authenticate(state.nodes(), SigningKey::Node).await?;
    let ack: ConfigAck = signed.json()?;
    state.nodes().acknowledge(&node, ack).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fresh queue credentials, before the last ones expire. 404 `no_credentials` when the
/// deployment issues none (the node then uses AWS credentials of its own).
async fn credentials(
    State(state): State<AppState>,
    signed: SignedBody,
) -> ApiResult<Json<QueueCredentials>> {
    let node = signed.authenticate(state.nodes(), SigningKey::Node).await?;
    match state.nodes().queue_credentials(&node).await? {
        Some(credentials) => Ok(Json(credentials)),
        None => Err(cynode_domain::Error::not_found(
            ErrorCode::NoCredentials,
            "this deployment issues no queue credentials; give the node AWS credentials of its own",
        )
        .into()),
    }
}
