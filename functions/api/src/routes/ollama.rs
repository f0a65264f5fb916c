//! Ollama's API at the gateway, so Ollama clients (the `ollama` libraries, Open WebUI)
//! use the deployment as one big Ollama: `/api/chat` and `/api/generate` (NDJSON
//! streaming by default), `/api/embed` (and the older `/api/embeddings`), `/api/tags`,
//! `/api/show`, `/api/version`. Each is read as the chat completion, legacy completion or
//! embeddings it means (`cynode_domain::chat::ollama`) and takes the same path to a node.
//! Pulling, creating, copying, pushing and deleting models are the nodes' operators'
//! business: 403. Errors are Ollama's shape, `{"error": "<message>"}`, with the same
//! status.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use cynode_domain::chat::ollama::{
    chat_request_of, embed_request_of, generate_request_of, Generate,
};
use cynode_domain::chat::{check_completion, Completion};
use cynode_domain::clock::{rfc3339, Timestamp};
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::service::Principal;
use cynode_domain::wire::{ChatAnswer, InferenceUsage, ToolCall, AGENT_MODEL};
use cynode_domain::{Error, ErrorCode};

use super::answer_stream::{self, Framing, Outcome};
use super::chat::{answer_of, checked_and_guarded, wait_for_answer};
use super::embeddings::{self, Vector};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ModelCaller};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/version", get(version))
        .route("/api/tags", get(tags))
        .route("/api/show", post(show))
        .route("/api/chat", post(chat))
        .route("/api/generate", post(generate))
        .route("/api/embed", post(embed))
        .route("/api/embeddings", post(embed))
        .route("/api/pull", post(admin_only))
        .route("/api/push", post(admin_only))
        .route("/api/create", post(admin_only))
        .route("/api/copy", post(admin_only))
        .route("/api/delete", axum::routing::delete(admin_only))
        .layer(middleware::from_fn(ollama_errors))
}

/// Rewrites CyNode's error body into Ollama's, keeping the status.
async fn ollama_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let cynode: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = cynode["error"]["message"]
        .as_str()
        .unwrap_or("request failed");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json!({"error": message}).to_string()))
}

async fn version(ModelCaller(_user): ModelCaller) -> Json<Value> {
    Json(json!({"version": env!("CARGO_PKG_VERSION")}))
}

fn details() -> Value {
    json!({"format": "gguf", "family": "", "families": null, "parameter_size": "", "quantization_level": ""})
}

async fn models(state: &AppState) -> ApiResult<Vec<String>> {
    let mut ids = vec![AGENT_MODEL.to_owned()];
    ids.extend(state.nodes().available_models().await?);
    Ok(ids)
}

async fn tags(
    State(state): State<AppState>,
    ModelCaller(_user): ModelCaller,
) -> ApiResult<Json<Value>> {
    let now = rfc3339(Timestamp::now_utc());
    let models: Vec<Value> = models(&state)
        .await?
        .into_iter()
        .map(|id| json!({"name": id, "model": id, "modified_at": now, "size": 0, "digest": "", "details": details()}))
        .collect();
    Ok(Json(json!({"models": models})))
}

/// The model is the agent or one some node serves now; else Ollama's 404.
async fn served(state: &AppState, name: &str) -> ApiResult<()> {
    if models(state).await?.iter().any(|id| id == name) {
        return Ok(());
    }
    Err(Error::not_found(
        ErrorCode::ModelNotFound,
        format!("model '{name}' not found: no node serves it; GET /api/tags lists them"),
    )
    .into())
}

async fn show(
    State(state): State<AppState>,
    ModelCaller(_user): ModelCaller,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let name = body
        .get("model")
        .or_else(|| body.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    served(&state, name).await?;
    Ok(Json(json!({
        "modelfile": "", "parameters": "", "template": "", "details": details(),
        "model_info": {}, "capabilities": ["completion", "tools"],
        "modified_at": rfc3339(Timestamp::now_utc()),
    })))
}

async fn admin_only(ModelCaller(_user): ModelCaller) -> ApiError {
    ApiError::request(
        StatusCode::FORBIDDEN,
        ErrorCode::AdminRequired,
        "models are managed on the nodes, not through the gateway: pull, create, copy, push and delete are refused",
    )
}

async fn chat(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    let completion = chat_request_of(&body).and_then(check_completion)?;
    answer(state, user, completion, Shape::Chat).await
}

async fn generate(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    let completion = match generate_request_of(&body)? {
        Generate::Load { model } => {
            served(&state, &model).await?;
            let mut done = line(Shape::Generate, &model, "", true);
            done["done_reason"] = json!("load");
            return Ok(Json(done).into_response());
        }
        Generate::Chat(req) => check_completion(*req)?,
        Generate::Raw(completion) => completion,
    };
    answer(state, user, completion, Shape::Generate).await
}

/// `/api/embed` (`embeddings`: a list of vectors) and the older `/api/embeddings`
/// (`embedding`: one vector).
async fn embed(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    request: axum::extract::OriginalUri,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Json<Value>> {
    let completion = embed_request_of(&body)?;
    served(&state, completion.model_id()).await?;
    let started = std::time::Instant::now();
    let (vectors, usage) = embeddings::embed(&state, &user, &completion).await?;
    let vectors = vectors
        .iter()
        .map(|v| embeddings::floats(v).map(Vector::Float))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::request(
                StatusCode::BAD_GATEWAY,
                ErrorCode::AnswerFailed,
                "the node's answer holds a vector that is not f32s",
            )
        })?;
    if request.path().ends_with("/embeddings") {
        let first = vectors.into_iter().next();
        return Ok(Json(json!({"embedding": first})));
    }
    Ok(Json(json!({
        "model": completion.model_id(),
        "embeddings": vectors,
        "total_duration": started.elapsed().as_nanos() as u64,
        "load_duration": 0,
        "prompt_eval_count": usage.prompt_tokens,
    })))
}

/// A chat or a generate: the task, then its answer streamed as NDJSON or whole.
async fn answer(
    state: AppState,
    user: Principal,
    completion: Completion,
    shape: Shape,
) -> ApiResult<Response> {
    let guard = checked_and_guarded(
        &state,
        &user,
        completion.stream,
        served(&state, completion.model_id()),
    )
    .await?;
    let task = state.tasks().create_completion(&user, &completion).await?;
    tracing::Span::current().record("task_id", task.task_id.as_str());
    let model = completion.model_id().to_owned();
    if let Some(guard) = guard {
        let framing = OllamaFraming {
            shape,
            model,
            started: std::time::Instant::now(),
            sent: false,
        };
        let mut response = answer_stream::respond(state, user, task.task_id, framing, guard);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        return Ok(response);
    }
    let started = std::time::Instant::now();
    let result = wait_for_answer(&state, &user, &task.task_id).await?;
    let text = answer_of(&result)?;
    let ended = (&result.answer.clone().unwrap_or_default(), result.usage);
    Ok(Json(last_line(shape, &model, &text, ended, started)).into_response())
}

/// Which of Ollama's answers a line belongs to.
#[derive(Clone, Copy)]
enum Shape {
    /// `/api/chat`: `message`.
    Chat,
    /// `/api/generate`: `response`.
    Generate,
}

fn line(shape: Shape, model: &str, content: &str, done: bool) -> Value {
    let mut line =
        json!({"model": model, "created_at": rfc3339(Timestamp::now_utc()), "done": done});
    match shape {
        Shape::Chat => line["message"] = json!({"role": "assistant", "content": content}),
        Shape::Generate => line["response"] = json!(content),
    }
    line
}

/// Ollama's tool calls: arguments as an object.
fn ollama_calls(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|call| {
            let arguments: Value =
                serde_json::from_str(&call.function.arguments).unwrap_or(json!({}));
            json!({"function": {"name": call.function.name, "arguments": arguments}})
        })
        .collect()
}

/// The closing line: the message (with its calls), why it ended, and the token counts.
fn last_line(
    shape: Shape,
    model: &str,
    content: &str,
    (answer, usage): (&ChatAnswer, Option<InferenceUsage>),
    started: std::time::Instant,
) -> Value {
    let usage = usage.unwrap_or_default();
    let mut last = line(shape, model, content, true);
    if !answer.tool_calls.is_empty() {
        last["message"]["tool_calls"] = ollama_calls(&answer.tool_calls);
    }
    last["done_reason"] = json!(match answer.finish_reason.as_str() {
        "length" => "length",
        _ => "stop",
    });
    last["total_duration"] = json!(started.elapsed().as_nanos() as u64);
    last["load_duration"] = json!(0);
    last["prompt_eval_count"] = json!(usage.prompt_tokens);
    last["prompt_eval_duration"] = json!(0);
    last["eval_count"] = json!(usage.completion_tokens);
    last["eval_duration"] = json!(0);
    last
}

/// Ollama's stream: one JSON object a line, the last with `done: true` and the counts.
struct OllamaFraming {
    shape: Shape,
    model: String,
    started: std::time::Instant,
    sent: bool,
}

fn ndjson(value: &Value) -> Bytes {
    Bytes::from(format!("{value}\n"))
}

impl Framing for OllamaFraming {
    fn text(&mut self, text: &str) -> Vec<Bytes> {
        self.sent = true;
        vec![ndjson(&line(self.shape, &self.model, text, false))]
    }

    async fn finish(&mut self, outcome: Outcome) -> Vec<Bytes> {
        match outcome {
            Outcome::Answered {
                text,
                answer,
                usage,
            } => {
                // The agent's answer arrives whole: it goes in the closing line.
                let content = if self.sent { "" } else { text.as_str() };
                vec![ndjson(&last_line(
                    self.shape,
                    &self.model,
                    content,
                    (&answer, usage),
                    self.started,
                ))]
            }
            Outcome::Failed(message) => vec![ndjson(&json!({"error": message}))],
        }
    }

    fn error(&mut self, _code: ErrorCode, message: &str) -> Vec<Bytes> {
        vec![ndjson(&json!({"error": message}))]
    }
}
