//! `GET /v1/usage`: the caller's model tokens by day and model (`?days=N`, 30 by
//! default); admins add `?user=<handle>` for another user's.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::wire::UsageReport;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/usage", get(usage))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    days: Option<u32>,
    user: Option<String>,
}

async fn usage(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(query): QueryParams<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    Ok(Json(
        state
            .usage()
            .report(&user, query.days, query.user.as_deref())
            .await?,
    ))
}
