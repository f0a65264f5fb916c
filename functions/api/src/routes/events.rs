//! `GET /v1/events/tasks/{task}`: a task's state changes as server-sent events, for
//! any client following a task or planned work live (`cynork task watch` polls instead).
//!
//! Served by the streaming function (API Gateway HTTP APIs buffer responses). Nothing is
//! kept between requests: the stream polls the task and its runs and sends what changed
//! since its last look (the loop is [`crate::stream`]'s). Events are
//! `cynode_protocol::wire::TaskEvent`s (`event:` name, JSON `data:`):
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

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use cynode_domain::job::Job;
use cynode_domain::service::plans::run_view;
use cynode_domain::service::Principal;
use cynode_domain::status::JobStatus;
use cynode_domain::task::Task;

use crate::error::ApiResult;
use crate::extract::Authenticated;
use crate::state::AppState;
use crate::stream::{self, Polled, Source, StreamEnd, StreamGuard};
use cynode_domain::wire::{
    EndEvent, StreamErrorEvent, SubtaskStateEvent, TaskEvent, TaskStatusEvent,
};
use cynode_domain::ErrorCode;

const POLL: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events/tasks/{task}", get(events))
}

/// Every fact a watcher sees, keyed so that a change of one is one event, and sorted so
/// that the task comes first, then its subtasks, then its runs.
fn facts(task: &Task, jobs: &[Job]) -> BTreeMap<String, TaskEvent> {
    let mut facts = BTreeMap::new();
    let mut status = TaskStatusEvent {
        task_id: task.id.clone(),
        status: task.status,
        planner_attempts: None,
        planner_error: None,
    };
    if let Some(plan) = &task.plan {
        status.planner_attempts = Some(plan.planner_attempts);
        status.planner_error = plan.planner_error.clone();
        for s in &plan.subtasks {
            facts.insert(
                format!("1 subtask {:04}", s.number),
                TaskEvent::SubtaskState(SubtaskStateEvent {
                    number: s.number,
                    title: s.title.clone(),
                    state: s.state,
                    attempts: s.attempts,
                    reason: s.reason.clone(),
                    pull_request: s.pull_request.clone(),
                }),
            );
        }
    }
    facts.insert("0 task".into(), TaskEvent::TaskStatus(status));
    for job in jobs {
        let view = run_view(job);
        let event = match job.status {
            JobStatus::Queued => TaskEvent::AgentQueued(view),
            JobStatus::Running => TaskEvent::AgentStarted(view),
            _ => TaskEvent::AgentFinished(view),
        };
        facts.insert(format!("2 run {}", job.id), event);
    }
    facts
}

/// How a task stream the guard stopped says goodbye (this one's and the live log's).
pub(crate) fn goodbye(end: StreamEnd) -> Vec<Bytes> {
    let event = match end {
        StreamEnd::Reconnect => TaskEvent::Reconnect(Default::default()),
        StreamEnd::SignedOut => TaskEvent::Error(StreamErrorEvent {
            code: ErrorCode::TokenRevoked,
            message: "the session has ended; log in again".into(),
        }),
    };
    vec![frame(&event)]
}

fn frame(event: &TaskEvent) -> Bytes {
    Bytes::from(event.to_sse())
}

/// A task being watched: each poll reads it and its runs and sends what changed.
struct Watch {
    state: AppState,
    user: Principal,
    task: String,
    seen: BTreeMap<String, TaskEvent>,
}

impl Source for Watch {
    async fn poll(&mut self) -> Polled {
        let (task, jobs) = match self.state.plans().snapshot(&self.user, &self.task).await {
            Ok(found) => found,
            Err(err) => {
                return Polled::Done(vec![frame(&TaskEvent::Error(StreamErrorEvent {
                    code: err.code,
                    message: err.message,
                }))])
            }
        };
        let now = facts(&task, &jobs);
        let mut out = Vec::new();
        for (key, fact) in &now {
            if self.seen.get(key) != Some(fact) {
                out.push(frame(fact));
            }
        }
        self.seen = now;
        if task.status.is_terminal() {
            out.push(frame(&TaskEvent::End(EndEvent {
                status: task.status,
            })));
            return Polled::Done(out);
        }
        Polled::Send(out)
    }

    fn wait(&mut self) -> Duration {
        POLL
    }

    fn ended(&mut self, end: StreamEnd) -> Vec<Bytes> {
        goodbye(end)
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
    };
    Ok(stream::respond(watch, guard))
}
