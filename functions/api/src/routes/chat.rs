//! `/v1/chat/completions` and `/v1/models`: the OpenAI-compatible API (the Responses
//! API's handler is `responses.rs`, legacy completions' `text_completions.rs` and
//! embeddings' `embeddings.rs`, all under the same error layer; answers stream through
//! `answer_stream.rs`). Chat with threads, `/v1/chat*`, is `chat_threads.rs`.
//!
//! A completion of a hosted model (`<provider>/<model>`) goes out through the egress
//! (`hosted.rs`). Any other completion is a task (see `cynode_domain::chat`): this function creates it, then
//! holds the client's connection while a node answers. Streamed answers travel as the
//! node produced them: the node posts chunks through signed callbacks, they are stored in
//! DynamoDB, and the invocation holding the connection reads new ones and writes them out
//! as server-sent events (`docs/streaming.md`). Nothing is kept in memory between
//! requests, so any number of gateway instances serve the same streams.
//!
//! The OpenAI routes answer errors in OpenAI's shape (`{"error": {"message", "type",
//! "param", "code"}}`).

use cynode_domain::ErrorCode;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use cynode_domain::chat::{check_completion, Completion};
use cynode_domain::ids::TaskId;
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::service::tasks::COMPLETION_TIMEOUT_SECS;
use cynode_domain::service::Principal;
use cynode_domain::status::TaskStatus;
use cynode_domain::wire::{ChatAnswer, ChatCompletionRequest, TaskResult, ToolCall, AGENT_MODEL};
use cynode_domain::Error;

use crate::error::{ApiError, ApiResult};
use crate::extract::{from_json_value, JsonBody, ModelCaller};
use crate::state::AppState;
use crate::stream::StreamGuard;

use super::answer_stream::{self, Framing, Outcome, POLL_FAST, POLL_SLOW};

/// How long a request waits for its answer before giving up (the task goes on).
pub(crate) const ANSWER_WAIT: Duration = Duration::from_secs(COMPLETION_TIMEOUT_SECS + 30);

pub fn router() -> Router<AppState> {
    let openai = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(completions))
        .route("/v1/responses", post(super::responses::create))
        .route("/v1/completions", post(super::text_completions::create))
        .route("/v1/embeddings", post(super::embeddings::create))
        .layer(middleware::from_fn(openai_errors));
    openai.merge(super::chat_threads::router())
}

// ------------------------------------------------------------------ OpenAI API

/// Rewrites CyNode's error body into OpenAI's, keeping the status.
async fn openai_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let cynode: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let kind = match parts.status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        _ => "api_error",
    };
    let body = json!({"error": {
        "message": cynode["error"]["message"].as_str().unwrap_or("request failed"),
        "type": kind,
        "param": cynode["error"]["param"],
        "code": cynode["error"]["code"],
    }});
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

async fn models(
    State(state): State<AppState>,
    ModelCaller(_user): ModelCaller,
) -> ApiResult<Json<Value>> {
    let mut ids = vec![AGENT_MODEL.to_owned()];
    let (local, hosted) =
        tokio::join!(state.nodes().available_models(), state.egress().model_ids());
    ids.extend(local?);
    // Hosted models, `<provider>/<model>`, answered through the egress.
    ids.extend(hosted?);
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "cynode"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// The model must be the agent or one some node serves now.
pub(crate) async fn check_model(state: &AppState, completion: &Completion) -> ApiResult<()> {
    let Some(model) = &completion.model else {
        return Ok(());
    };
    if state.nodes().available_models().await?.contains(model) {
        return Ok(());
    }
    Err(Error::not_found(
        ErrorCode::ModelNotFound,
        format!(
            "the model '{model}' does not exist or no node serves it; GET /v1/models lists them"
        ),
    )
    .into())
}

/// Before a completion's task is created: `check` (that some node serves its model) and,
/// for a stream, a place in its user's quota of open streams (a stream takes its place
/// before any work is created for it). Both at once: they are reads on the way to the
/// first token.
pub(crate) async fn checked_and_guarded(
    state: &AppState,
    user: &Principal,
    stream: bool,
    check: impl std::future::Future<Output = ApiResult<()>>,
) -> ApiResult<Option<StreamGuard>> {
    let (checked, guard) = tokio::join!(check, async {
        match stream {
            true => StreamGuard::open(state, user).await.map(Some),
            false => Ok(None),
        }
    });
    checked?;
    guard
}

async fn completions(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    // A hosted model's id goes to the egress; anything else is a node's task.
    if let Some(model) = body.get("model").and_then(Value::as_str) {
        if let Some(grant) = state.egress().grant(&user, model).await? {
            return super::hosted::chat_completion(state, Some(user), grant, body).await;
        }
    }
    let req: ChatCompletionRequest = from_json_value(body)?;
    let completion = check_completion(req)?;
    let guard = checked_and_guarded(
        &state,
        &user,
        completion.stream,
        check_model(&state, &completion),
    )
    .await?;
    let task = state.tasks().create_completion(&user, &completion).await?;
    tracing::Span::current().record("task_id", task.task_id.as_str());
    let created = task.created_at.unix_timestamp();
    if let Some(guard) = guard {
        return Ok(stream_completion(
            state,
            user,
            task.task_id,
            completion,
            created,
            guard,
        ));
    }
    let result = wait_for_answer(&state, &user, &task.task_id).await?;
    let text = answer_of(&result)?;
    let usage = result.usage.unwrap_or_default();
    let ended = result.answer.unwrap_or_default();
    let mut message = json!({"role": "assistant", "content": text});
    if !ended.tool_calls.is_empty() {
        if text.is_empty() {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = json!(ended.tool_calls);
    }
    Ok(Json(json!({
        "id": format!("chatcmpl-{}", task.task_id),
        "object": "chat.completion",
        "created": created,
        "model": completion.model_id(),
        "choices": [{"index": 0, "message": message, "logprobs": ended.logprobs,
                     "finish_reason": finish_reason(&ended)}],
        "usage": usage_json(&usage),
    }))
    .into_response())
}

/// OpenAI's `finish_reason`: the node's, or `stop` for answers that carry none (the
/// agent's, or a node's from before answers carried one).
pub(crate) fn finish_reason(answer: &ChatAnswer) -> &str {
    match answer.finish_reason.as_str() {
        "" => "stop",
        reason => reason,
    }
}

/// A tool call as streamed deltas: its id and name first, then its arguments in pieces
/// (clients join them, as they do OpenAI's).
fn tool_call_deltas(index: usize, call: &ToolCall) -> Vec<Value> {
    const PIECE: usize = 32;
    let mut deltas = vec![
        json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
        "function": {"name": call.function.name, "arguments": ""}}]}),
    ];
    let arguments = &call.function.arguments;
    let mut start = 0;
    while start < arguments.len() {
        let mut end = (start + PIECE).min(arguments.len());
        while !arguments.is_char_boundary(end) {
            end += 1;
        }
        deltas.push(json!({"tool_calls": [{"index": index,
            "function": {"arguments": &arguments[start..end]}}]}));
        start = end;
    }
    deltas
}

pub(crate) fn usage_json(usage: &cynode_domain::wire::InferenceUsage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

/// How long a waiting request polls at most every [`QUICK_POLL_MAX`]: most answers (and
/// every embedding) end within it, and a back-off to 250 ms would add up to that much to
/// each of them.
const QUICK_WAIT: Duration = Duration::from_secs(10);
const QUICK_POLL_MAX: Duration = Duration::from_millis(50);

/// Polls until the task ends; the answer or why there is none.
pub(crate) async fn wait_for_answer(
    state: &AppState,
    user: &Principal,
    task: &TaskId,
) -> ApiResult<TaskResult> {
    let started = tokio::time::Instant::now();
    let deadline = started + ANSWER_WAIT;
    let mut poll = POLL_FAST;
    loop {
        let view = state.tasks().get(user, task.as_str()).await?;
        if view.status.is_terminal() {
            return Ok(state.tasks().result(user, task.as_str()).await?);
        }
        if tokio::time::Instant::now() + poll > deadline {
            return Err(ApiError::request(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::AnswerTimeout,
                format!("no node answered in time; task {task} goes on"),
            ));
        }
        tokio::time::sleep(poll).await;
        let most = match started.elapsed() < QUICK_WAIT {
            true => QUICK_POLL_MAX,
            false => POLL_SLOW,
        };
        poll = (poll * 2).min(most);
    }
}

/// The answer of a completed task; a failed one is a 502 with the node's reason.
pub(crate) fn answer_of(result: &TaskResult) -> ApiResult<String> {
    if result.status == TaskStatus::Completed {
        return Ok(result
            .stdout
            .clone()
            .unwrap_or_default()
            .trim_end()
            .to_owned());
    }
    let reason = result
        .jobs
        .last()
        .and_then(|job| job.error.clone())
        .unwrap_or_else(|| format!("the task ended {}", result.status));
    Err(ApiError::request(
        StatusCode::BAD_GATEWAY,
        ErrorCode::AnswerFailed,
        format!("task {}: {reason}", result.task_id),
    ))
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// An OpenAI-shaped error event, then the end of the stream.
pub(crate) fn error_frames(code: ErrorCode, message: &str) -> Vec<Bytes> {
    let error = json!({"error": {"message": message, "type": "api_error", "code": code}});
    vec![sse(&error), Bytes::from_static(b"data: [DONE]\n\n")]
}

/// Chat completions' events: `chat.completion.chunk`s, then `[DONE]`.
struct ChatFraming {
    task: TaskId,
    model: String,
    created: i64,
    include_usage: bool,
    /// The role goes with the first delta only.
    sent_role: bool,
}

impl ChatFraming {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": format!("chatcmpl-{}", self.task),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    /// `delta` with the role if it is the first.
    fn delta(&mut self, mut delta: Value) -> Value {
        if !self.sent_role {
            delta["role"] = json!("assistant");
            self.sent_role = true;
        }
        self.chunk(delta, None)
    }
}

impl Framing for ChatFraming {
    fn text(&mut self, text: &str) -> Vec<Bytes> {
        vec![sse(&self.delta(json!({"content": text})))]
    }

    /// Any answer that was not streamed (the agent's), tool calls, the finish reason,
    /// usage if asked, and `[DONE]`.
    async fn finish(&mut self, outcome: Outcome) -> Vec<Bytes> {
        let mut events = Vec::new();
        let mut usage = None;
        match outcome {
            Outcome::Answered {
                text,
                answer: ended,
                usage: used,
            } => {
                if !self.sent_role && !text.is_empty() {
                    events.push(sse(&self.delta(json!({"content": text}))));
                }
                for (index, call) in ended.tool_calls.iter().enumerate() {
                    for delta in tool_call_deltas(index, call) {
                        events.push(sse(&self.delta(delta)));
                    }
                }
                let mut last = self.chunk(json!({}), Some(finish_reason(&ended)));
                if let Some(logprobs) = &ended.logprobs {
                    last["choices"][0]["logprobs"] = logprobs.clone();
                }
                events.push(sse(&last));
                usage = used;
            }
            Outcome::Failed(message) => {
                events.push(sse(&json!({"error": {"message": message, "type": "api_error", "code": ErrorCode::AnswerFailed}})));
            }
        }
        if self.include_usage {
            let mut last = self.chunk(json!({}), None);
            last["choices"] = json!([]);
            last["usage"] = usage_json(&usage.unwrap_or_default());
            events.push(sse(&last));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        events
    }

    fn error(&mut self, code: ErrorCode, message: &str) -> Vec<Bytes> {
        error_frames(code, message)
    }
}

fn stream_completion(
    state: AppState,
    user: Principal,
    task: TaskId,
    completion: Completion,
    created: i64,
    guard: StreamGuard,
) -> Response {
    let framing = ChatFraming {
        task: task.clone(),
        model: completion.model_id().to_owned(),
        created,
        include_usage: completion.include_usage,
        sent_role: false,
    };
    answer_stream::respond(state, user, task, framing, guard)
}
