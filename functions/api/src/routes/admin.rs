//! `/v1/admin/*`: operators' routes (admin users only). The dead-letter queue can be
//! listed and sent back to the job queues, and a recovery sweep run at once instead of
//! waiting for the schedule.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use cynode_domain::wire::{DeadLetterList, RedriveReport, SweepReport};

use crate::error::ApiResult;
use crate::extract::Authenticated;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/dead-letters", get(dead_letters))
        .route("/v1/admin/dead-letters/redrive", post(redrive))
        .route("/v1/admin/sweep", post(sweep))
}

async fn dead_letters(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<DeadLetterList>> {
    Ok(Json(state.recovery.dead_letters(&user).await?))
}

async fn redrive(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<RedriveReport>> {
    Ok(Json(state.recovery.redrive(&user).await?))
}

async fn sweep(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<SweepReport>> {
    cynode_domain::service::auth::require_admin(&user)?;
    Ok(Json(state.recovery.sweep().await?))
}
