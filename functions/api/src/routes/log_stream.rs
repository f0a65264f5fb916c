//! `GET /v1/tasks/{task}/logs/stream`: a task's live log as server-sent events, resumed
//! from `Last-Event-ID` (or `?cursor=`) after a reconnect.
//!
//! Served by the streaming function (API Gateway HTTP APIs buffer responses, so clients
//! use its function URL). It polls the live log every 250 ms and sends each line as it
//! arrives:
//!
//! - `log` — a `LogLine` (`{job_id, attempt, seq, stream, text}`); the last line of each
//!   chunk carries the chunk's cursor as its `id:`, so a reconnect with `Last-Event-ID`
//!   goes on after the last whole chunk the client saw (a chunk cut off mid-way comes
//!   again whole; nothing is skipped);
//! - `end` — the task ended and its whole log was sent; `reconnect` — the stream's time is
//!   up, connect again with `Last-Event-ID`; `error` — `{code, message}`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use cynode_domain::live_log::LogPosition;
use cynode_domain::service::Principal;
use cynode_domain::wire::{EndEvent, LiveLogs, LogLine, StreamErrorEvent, TaskEvent};

use crate::error::ApiResult;
use crate::extract::{Authenticated, QueryParams};
use crate::state::AppState;
use crate::stream::{self, Polled, Source, StreamEnd, StreamGuard};

const POLL: Duration = Duration::from_millis(250);

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/tasks/{task}/logs/stream", get(tail))
}

/// The SSE frames of one read: a `log` event a line, the last of each chunk with its id.
fn frames(page: &LiveLogs) -> Vec<Bytes> {
    let position = |line: &LogLine| (line.job_id.clone(), line.attempt, line.seq);
    page.lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let data = serde_json::to_string(line).unwrap_or_default();
            let last_of_chunk = page
                .lines
                .get(i + 1)
                .is_none_or(|next| position(next) != position(line));
            let id = if last_of_chunk {
                let (job, attempt, seq) = position(line);
                let cursor = LogPosition::cursor(Some(&LogPosition { job, attempt, seq }));
                format!("id: {cursor}\n")
            } else {
                String::new()
            };
            Bytes::from(format!("{id}event: log\ndata: {data}\n\n"))
        })
        .collect()
}

struct Tail {
    state: AppState,
    user: Principal,
    task: String,
    cursor: String,
    /// The read that checked the request, sent as the stream's first poll.
    first: Option<LiveLogs>,
}

impl Source for Tail {
    async fn poll(&mut self) -> Polled {
        let read = match self.first.take() {
            Some(page) => Ok(page),
            None => {
                self.state
                    .tasks()
                    .live_logs(&self.user, &self.task, &self.cursor)
                    .await
            }
        };
        let page = match read {
            Ok(page) => page,
            Err(err) => {
                let event = TaskEvent::Error(StreamErrorEvent {
                    code: err.code,
                    message: err.message,
                });
                return Polled::Done(vec![Bytes::from(event.to_sse())]);
            }
        };
        self.cursor = page.next_cursor.clone();
        let mut out = frames(&page);
        if page.lines.is_empty() && page.status.is_terminal() {
            let end = TaskEvent::End(EndEvent {
                status: page.status,
            });
            out.push(Bytes::from(end.to_sse()));
            return Polled::Done(out);
        }
        if out.is_empty() {
            Polled::Nothing
        } else {
            Polled::Send(out)
        }
    }

    fn wait(&mut self) -> Duration {
        POLL
    }

    fn ended(&mut self, end: StreamEnd) -> Vec<Bytes> {
        super::events::goodbye(end)
    }
}

#[derive(Debug, Deserialize)]
struct TailParams {
    cursor: Option<String>,
}

async fn tail(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(task): Path<String>,
    QueryParams(params): QueryParams<TailParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let resumed = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let cursor = resumed.or(params.cursor).unwrap_or_default();
    // An unknown or foreign task, a bad cursor, or one stream too many: a plain error
    // before streaming. That read is the stream's first.
    let first = state.tasks().live_logs(&user, &task, &cursor).await?;
    let guard = StreamGuard::open(&state, &user).await?;
    let tail = Tail {
        state,
        user,
        task,
        cursor,
        first: Some(first),
    };
    Ok(stream::respond(tail, guard))
}
