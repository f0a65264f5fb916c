//! `/healthz` (the process answers) and `/readyz` (work can be run: an edge node has
//! registered and acknowledged the configuration in force).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::wire::HealthStatus;

use crate::error::ApiResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".into(),
        reason: None,
    })
}

async fn readyz(State(state): State<AppState>) -> ApiResult<(StatusCode, Json<HealthStatus>)> {
    Ok(match state.nodes().readiness().await? {
        Ok(()) => (
            StatusCode::OK,
            Json(HealthStatus {
                status: "ready".into(),
                reason: None,
            }),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(HealthStatus {
                status: "not_ready".into(),
                reason: Some(reason),
            }),
        ),
    })
}
