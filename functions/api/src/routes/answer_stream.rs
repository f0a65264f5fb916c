//! Following a completion's answer as the node streams it, for any OpenAI wire shape.
//!
//! The cursor reads the chunks the node posted since its last look (`docs/streaming.md`)
//! and hands each piece of text to a [`Framing`], which writes it in its API's events:
//! chat completions' `chat.completion.chunk`s, or the Responses API's typed events. When
//! the answer ends, the framing writes the closing events (tool calls, finish reason,
//! usage): from the last chunk, when it says how the answer ended (the node marks the
//! end of an answer of text alone), else from the task's result.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::response::Response;
use cynode_domain::ids::TaskId;
use cynode_domain::service::tasks::AnswerStream;
use cynode_domain::service::Principal;
use cynode_domain::wire::{ChatAnswer, InferenceUsage};
use cynode_domain::{Error, ErrorCode};

use super::chat::{answer_of, ANSWER_WAIT};
use crate::error::ApiError;
use crate::state::AppState;
use crate::stream::{self, Polled, Source, StreamEnd, StreamGuard};

/// Polling the store for progress: quickest while the first text is awaited (for up to
/// FIRST_TEXT_FAST: it decides the time to the first token), quick while text arrives and
/// for FAST_AFTER_TEXT after, slower while idle. Each poll is one read.
const POLL_FIRST: Duration = Duration::from_millis(10);
pub(crate) const POLL_FAST: Duration = Duration::from_millis(20);
pub(crate) const POLL_SLOW: Duration = Duration::from_millis(250);
const FIRST_TEXT_FAST: Duration = Duration::from_secs(5);
/// Polling stays quick for this long after the last text: a node sends text at least
/// every 40 ms while it flows, and its result lands right after its last text, so a
/// stream that backed off at once would answer its last words (and its end) late.
const FAST_AFTER_TEXT: Duration = Duration::from_millis(500);

/// How the task of a streamed answer ended.
pub(crate) enum Outcome {
    /// Completed: its answer text (what was not streamed included), how it ended and
    /// its tokens.
    Answered {
        text: String,
        answer: ChatAnswer,
        usage: Option<InferenceUsage>,
    },
    /// Failed, or unreadable: why.
    Failed(String),
}

/// Writes one API's events.
pub(crate) trait Framing: Send + Sync + 'static {
    /// Events that open the stream, sent at the first poll (none by default).
    fn start(&mut self) -> Vec<Bytes> {
        Vec::new()
    }
    /// A piece of the answer's text, as the node streamed it.
    fn text(&mut self, text: &str) -> Vec<Bytes>;
    /// The closing events, ending the body (after whatever the framing keeps of the
    /// answer is stored: a chat thread's exchange).
    fn finish(&mut self, outcome: Outcome) -> impl std::future::Future<Output = Vec<Bytes>> + Send;
    /// An error event that ends the body (the time limit, a revoked credential, a store
    /// failure).
    fn error(&mut self, code: ErrorCode, message: &str) -> Vec<Bytes>;
}

struct Cursor<F> {
    state: AppState,
    user: Principal,
    task: TaskId,
    stream: Option<AnswerStream>,
    attempt: u32,
    after: Option<u32>,
    got_text: bool,
    /// When text last arrived.
    last_text: Option<tokio::time::Instant>,
    opened: bool,
    started: tokio::time::Instant,
    poll: Duration,
    framing: F,
}

impl<F: Framing> Cursor<F> {
    /// New text, the end, or nothing yet.
    async fn look(&mut self) -> Result<Polled, Error> {
        if self.stream.is_none() {
            self.stream = Some(
                self.state
                    .tasks()
                    .open_stream(&self.user, &self.task)
                    .await?,
            );
        }
        let stream = self.stream.clone().expect("opened above");
        let state = self
            .state
            .tasks()
            .stream_state(&stream, self.attempt, self.after)
            .await?;
        if state.attempt != self.attempt {
            // A new attempt (the first claim, or a node died mid-answer) starts over.
            self.attempt = state.attempt;
            self.after = None;
        }
        let mut events = Vec::new();
        if !self.opened {
            self.opened = true;
            events.extend(self.framing.start());
        }
        for chunk in &state.chunks {
            self.after = Some(chunk.seq);
            if !chunk.text.is_empty() {
                self.got_text = true;
                self.last_text = Some(tokio::time::Instant::now());
                events.extend(self.framing.text(&chunk.text));
            }
            if let Some(end) = &chunk.end {
                // The node's last word on this answer: no need to wait for its result.
                events.extend(
                    self.framing
                        .finish(Outcome::Answered {
                            text: String::new(),
                            answer: ChatAnswer {
                                finish_reason: end.finish_reason.clone(),
                                ..ChatAnswer::default()
                            },
                            usage: Some(end.usage),
                        })
                        .await,
                );
                return Ok(Polled::Done(events));
            }
        }
        if state.finished {
            let outcome = self.outcome().await;
            events.extend(self.framing.finish(outcome).await);
            return Ok(Polled::Done(events));
        }
        if !events.is_empty() {
            self.poll = POLL_FAST;
            return Ok(Polled::Send(events));
        }
        if self.started.elapsed() > ANSWER_WAIT {
            return Ok(Polled::Done(
                self.framing
                    .error(ErrorCode::AnswerTimeout, "no node answered in time"),
            ));
        }
        Ok(Polled::Nothing)
    }

    async fn outcome(&self) -> Outcome {
        let result = match self
            .state
            .tasks()
            .result(&self.user, self.task.as_str())
            .await
        {
            Ok(result) => result,
            Err(err) => return Outcome::Failed(err.message),
        };
        match answer_of(&result) {
            Ok(text) => Outcome::Answered {
                text,
                answer: result.answer.unwrap_or_default(),
                usage: result.usage,
            },
            Err(ApiError::Request { message, .. }) => Outcome::Failed(message),
            Err(ApiError::Domain(err)) => Outcome::Failed(err.message),
        }
    }
}

impl<F: Framing> Source for Cursor<F> {
    async fn poll(&mut self) -> Polled {
        match self.look().await {
            Ok(polled) => polled,
            Err(err) => Polled::Done(self.framing.error(err.code, &err.message)),
        }
    }

    fn wait(&mut self) -> Duration {
        let awaiting_first = !self.got_text && self.started.elapsed() < FIRST_TEXT_FAST;
        if awaiting_first {
            return POLL_FIRST;
        }
        let wait = self.poll;
        let flowing = self
            .last_text
            .is_some_and(|at| at.elapsed() < FAST_AFTER_TEXT);
        if !flowing {
            self.poll = (self.poll * 2).min(POLL_SLOW);
        }
        wait
    }

    fn ended(&mut self, end: StreamEnd) -> Vec<Bytes> {
        match end {
            StreamEnd::Reconnect => self.framing.error(
                ErrorCode::StreamTimeLimit,
                &format!(
                    "the stream reached its time limit; the answer goes on as task {} (GET /v1/tasks/{}/result)",
                    self.task, self.task
                ),
            ),
            StreamEnd::SignedOut => self.framing.error(
                ErrorCode::TokenRevoked,
                "the session or API key behind this stream has ended",
            ),
        }
    }
}

/// The streamed response of `task`'s answer, written by `framing`; its task id rides in
/// the `x-cynode-task-id` header.
pub(crate) fn respond<F: Framing>(
    state: AppState,
    user: Principal,
    task: TaskId,
    framing: F,
    guard: StreamGuard,
) -> Response {
    let cursor = Cursor {
        state,
        user,
        task: task.clone(),
        stream: None,
        attempt: 0,
        after: None,
        got_text: false,
        last_text: None,
        opened: false,
        started: tokio::time::Instant::now(),
        poll: POLL_FAST,
        framing,
    };
    let mut response = stream::respond(cursor, guard);
    if let Ok(value) = HeaderValue::from_str(task.as_str()) {
        response.headers_mut().insert("x-cynode-task-id", value);
    }
    response
}
