//! `GET /v1/audit`: the audit trail, newest first (admins: every event, or one user's
//! with `user=`; anyone else: their own), filtered by `action` and `outcome`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cynode_domain::service::audit::AuditQuery;
use cynode_domain::wire::AuditList;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::extract::{Authenticated, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    user: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<AuditList>> {
    let query = AuditQuery {
        limit: params.limit.as_deref(),
        cursor: params.cursor.as_deref(),
        action: params.action.as_deref(),
        outcome: params.outcome.as_deref(),
        user: params.user.as_deref(),
    };
    Ok(Json(state.audit().list(&user, query).await?))
}
