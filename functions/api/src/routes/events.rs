//! `GET /v1/events/tasks/{task}`: a task's state changes as server-sent events, for
//! anyone following a task or planned work live.
//!
//! Served by the streaming function (API Gateway HTTP APIs buffer responses). Nothing is
//! kept between requests: the stream polls the task and its runs and sends what changed
//! since its last look. Events (`event:` name, JSON `data:`):
//!
//! - `task:status` — `{task_id, status, planner_attempts?, planner_error?}`
//! - `subtask:state` — `{number, title, state, attempts, reason?, pull_request?}`
//! - `agent:queued` / `agent:started` / `agent:finished` — a run (`RunView`)
//! - `end` — the task ended; `reconnect` — the stream's time is up (it ends before the
//!   function's timeout), connect again; `error` — `{code, message}`, e.g.
//!   `token_revoked` once the session behind the stream logged out.
//!
//! Each stream takes one of its user's places for open streams ([`StreamGuard`]).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use cynode_domain::job::Job;
use cynode_domain::service::plans::run_view;
use cynode_domain::service::Principal;
use cynode_domain::status::JobStatus;
use cynode_domain::task::Task;

use crate::error::ApiResult;
use crate::extract::Authenticated;
use crate::state::AppState;
use crate::stream_guard::{StreamEnd, StreamGuard, KEEP_ALIVE};

const POLL: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events/tasks/{task}", get(events))
}

/// Every fact a watcher sees, keyed so that a change of one is one event, and sorted so
/// that the task comes first, then its subtasks, then its runs.
fn facts(task: &Task, jobs: &[Job]) -> BTreeMap<String, (String, Value)> {
    let mut facts = BTreeMap::new();
    let mut status = json!({"task_id": task.id, "status": task.status});
    if let Some(plan) = &task.plan {
        status["planner_attempts"] = json!(plan.planner_attempts);
        if let Some(error) = &plan.planner_error {
            status["planner_error"] = json!(error);
        }
        for s in &plan.subtasks {
            facts.insert(
                format!("1 subtask {:04}", s.number),
                (
                    "subtask:state".to_owned(),
                    json!({"number": s.number, "title": s.title, "state": s.state, "attempts": s.attempts,
                           "reason": s.reason, "pull_request": s.pull_request}),
                ),
            );
        }
    }
    facts.insert("0 task".into(), ("task:status".into(), status));
    for job in jobs {
        let name = match job.status {
            JobStatus::Queued => "agent:queued",
            JobStatus::Running => "agent:started",
            _ => "agent:finished",
        };
        let view = serde_json::to_value(run_view(job)).unwrap_or_default();
        facts.insert(format!("2 run {}", job.id), (name.to_owned(), view));
    }
    facts
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

struct Watch {
    state: AppState,
    user: Principal,
    task: String,
    seen: BTreeMap<String, (String, Value)>,
    guard: StreamGuard,
    first: bool,
    done: bool,
}

impl Watch {
    async fn next(&mut self) -> String {
        loop {
            if !self.first {
                tokio::time::sleep(POLL).await;
            }
            self.first = false;
            let (task, jobs) = match self.state.plans().snapshot(&self.user, &self.task).await {
                Ok(found) => found,
                Err(err) => {
                    self.done = true;
                    return event("error", &json!({"code": err.code, "message": err.message}));
                }
            };
            let now = facts(&task, &jobs);
            let mut out = String::new();
            for (key, fact) in &now {
                if self.seen.get(key) != Some(fact) {
                    out.push_str(&event(&fact.0, &fact.1));
                }
            }
            self.seen = now;
            if task.status.is_terminal() {
                self.done = true;
                out.push_str(&event("end", &json!({"status": task.status})));
                return out;
            }
            match self.guard.check().await {
                Some(StreamEnd::Reconnect) => {
                    self.done = true;
                    out.push_str(&event("reconnect", &json!({})));
                    return out;
                }
                Some(StreamEnd::SignedOut) => {
                    self.done = true;
                    out.push_str(&event(
                        "error",
                        &json!({"code": "token_revoked", "message": "the session has ended; log in again"}),
                    ));
                    return out;
                }
                None => {}
            }
            if !out.is_empty() {
                self.guard.sent();
                return out;
            }
            if self.guard.quiet_too_long() {
                self.guard.sent();
                return KEEP_ALIVE.to_owned();
            }
        }
    }
}

async fn events(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
) -> ApiResult<Response> {
    // Refuse an unknown or foreign task, or one stream too many, with a plain error
    // before streaming.
    state.plans().snapshot(&user, &task).await?;
    let guard = StreamGuard::open(&state, &user).await?;
    let watch = Watch {
        state,
        user,
        task,
        seen: BTreeMap::new(),
        guard,
        first: true,
        done: false,
    };
    let body = futures_util::stream::unfold(watch, |mut watch| async move {
        if watch.done {
            return None;
        }
        let text = watch.next().await;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(text)), watch))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
