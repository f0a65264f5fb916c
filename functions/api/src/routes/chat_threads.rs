//! `/v1/chat` and `/v1/chat/threads*`: chat with threads, CyNode's own shape (errors in
//! CyNode's shape too, unlike the OpenAI routes beside it).
//!
//! A message is a completion task like any other (`cynode_domain::chat`); its exchange is
//! added to the thread once the answer is complete. `stream: true` answers with
//! server-sent events while the model writes, through the same cursor as the OpenAI
//! streams (`answer_stream.rs`), for clients that show the answer as it comes (the web
//! console):
//!
//! - `thread` — `{thread_id, task_id}`, first, so a client knows the thread at once
//! - `delta` — `{text}`, a piece of the answer
//! - `done` — the reply as the buffered request returns it (`{response, thread_id,
//!   task_id, usage?}`), sent after the exchange is stored in the thread
//! - `error` — `{code, message}`: the answer failed or the stream ended early (the task
//!   goes on; the thread gets no exchange)

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use cynode_domain::chat::Thread;
use cynode_domain::ids::TaskId;
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::service::Principal;
use cynode_domain::wire::{ChatReply, ChatRequest, ThreadList, ThreadView};
use cynode_domain::ErrorCode;

use super::answer_stream::{self, Framing, Outcome};
use super::chat::{answer_of, checked_and_guarded, wait_for_answer};
use crate::error::ApiResult;
use crate::extract::{Authenticated, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat", post(chat))
        .route("/v1/chat/threads", get(list_threads))
        .route(
            "/v1/chat/threads/{thread}",
            get(get_thread).delete(delete_thread),
        )
}

async fn chat(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    JsonBody(req): JsonBody<ChatRequest, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    let question = req.message.clone();
    let streamed = req.stream;
    let guard = checked_and_guarded(&state, &user, streamed, async { Ok(()) }).await?;
    let (thread, task) = state.chat().ask(&user, req).await?;
    tracing::Span::current().record("task_id", task.task_id.as_str());
    if let Some(guard) = guard {
        let framing = ThreadFraming {
            state: state.clone(),
            user: user.clone(),
            thread: Some(thread),
            task: task.task_id.clone(),
            question,
            streamed: String::new(),
        };
        return Ok(answer_stream::respond(
            state,
            user,
            task.task_id,
            framing,
            guard,
        ));
    }
    let result = wait_for_answer(&state, &user, &task.task_id).await?;
    let answer = answer_of(&result)?;
    let thread = state
        .chat()
        .record(&user, thread, &question, &answer)
        .await?;
    Ok(Json(ChatReply {
        response: answer,
        thread_id: thread.id,
        task_id: task.task_id,
        usage: result.usage,
    })
    .into_response())
}

/// A thread's streamed answer: CyNode's named events; the exchange is stored before
/// `done`.
struct ThreadFraming {
    state: AppState,
    user: Principal,
    /// Taken when the exchange is stored.
    thread: Option<Thread>,
    task: TaskId,
    question: String,
    /// What was streamed so far: the answer, when the node said how it ended.
    streamed: String,
}

fn event(name: &str, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn error_event(code: ErrorCode, message: &str) -> Vec<Bytes> {
    vec![event("error", &json!({"code": code, "message": message}))]
}

impl Framing for ThreadFraming {
    fn start(&mut self) -> Vec<Bytes> {
        let thread_id = self.thread.as_ref().map(|t| t.id.clone());
        vec![event(
            "thread",
            &json!({"thread_id": thread_id, "task_id": self.task}),
        )]
    }

    fn text(&mut self, text: &str) -> Vec<Bytes> {
        self.streamed.push_str(text);
        vec![event("delta", &json!({ "text": text }))]
    }

    async fn finish(&mut self, outcome: Outcome) -> Vec<Bytes> {
        let (text, usage) = match outcome {
            Outcome::Answered { text, usage, .. } => (text, usage),
            Outcome::Failed(message) => return error_event(ErrorCode::AnswerFailed, &message),
        };
        let mut events = Vec::new();
        // An answer that was not streamed (the agent's) comes whole with the result; the
        // result's text is also the one to keep when a retried attempt streamed again.
        let answer = match text.is_empty() {
            true => self.streamed.trim_end().to_owned(),
            false => {
                if self.streamed.is_empty() {
                    events.push(event("delta", &json!({ "text": text })));
                }
                text
            }
        };
        let Some(thread) = self.thread.take() else {
            return error_event(ErrorCode::AnswerFailed, "the answer ended twice");
        };
        match self
            .state
            .chat()
            .record(&self.user, thread, &self.question, &answer)
            .await
        {
            Ok(thread) => events.push(event(
                "done",
                &ChatReply {
                    response: answer,
                    thread_id: thread.id,
                    task_id: self.task.clone(),
                    usage,
                },
            )),
            Err(err) => events.extend(error_event(err.code, &err.message)),
        }
        events
    }

    fn error(&mut self, code: ErrorCode, message: &str) -> Vec<Bytes> {
        error_event(code, message)
    }
}

async fn list_threads(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<ThreadList>> {
    Ok(Json(state.chat().list(&user).await?))
}

async fn get_thread(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(thread): Path<String>,
) -> ApiResult<Json<ThreadView>> {
    Ok(Json(state.chat().get(&user, &thread).await?))
}

async fn delete_thread(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    Path(thread): Path<String>,
) -> ApiResult<StatusCode> {
    state.chat().delete(&user, &thread).await?;
    Ok(StatusCode::NO_CONTENT)
}
