//! `POST /v1/embeddings`: vectors for texts, made by a hosted model through the egress
//! (`hosted.rs`), or by a model some node serves (checked in
//! `cynode_domain::chat::embeddings`). The request is a task whose job calls the node's
//! model server; this function waits for its result and writes the vectors as the client
//! asked (numbers, or base64 of little-endian `f32`s, as OpenAI's). Ollama's `/api/embed`
//! uses the same [`embed`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use cynode_domain::chat::embeddings::{check_embeddings, EmbeddingEncoding};
use cynode_domain::chat::Completion;
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::service::Principal;
use cynode_domain::wire::{EmbeddingsOutput, InferenceUsage};
use cynode_domain::ErrorCode;

use super::chat::{answer_of, check_model, wait_for_answer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ModelCaller};
use crate::state::AppState;

/// One vector as the client asked for it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct Answer {
    object: &'static str,
    data: Vec<Item>,
    model: String,
    usage: Usage,
}

/// A vector's numbers from the base64 of its little-endian `f32`s.
pub(crate) fn floats(base64_f32: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_f32)
        .ok()?;
    (bytes.len() % 4 == 0).then(|| {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

/// Runs the embeddings task (its model checked by the caller) and returns its vectors
/// (base64 `f32`s) and tokens.
pub(crate) async fn embed(
    state: &AppState,
    user: &Principal,
    completion: &Completion,
) -> ApiResult<(Vec<String>, InferenceUsage)> {
    let task = state.tasks().create_completion(user, completion).await?;
    tracing::Span::current().record("task_id", task.task_id.as_str());
    let result = wait_for_answer(state, user, &task.task_id).await?;
    let text = answer_of(&result)?;
    let output: EmbeddingsOutput = serde_json::from_str(&text).map_err(|_| {
        ApiError::request(
            StatusCode::BAD_GATEWAY,
            ErrorCode::AnswerFailed,
            format!("task {}: the node's answer holds no vectors", task.task_id),
        )
    })?;
    Ok((output.embeddings, result.usage.unwrap_or_default()))
}

pub(super) async fn create(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    // A hosted model's id goes to the egress; anything else is a node's task.
    if let Some(model) = body.get("model").and_then(Value::as_str) {
        if let Some(grant) = state.egress().grant(&user, model).await? {
            return super::hosted::embeddings(state, grant, body).await;
        }
    }
    let (completion, encoding) = check_embeddings(&body)?;
    check_model(&state, &completion).await?;
    let (vectors, usage) = embed(&state, &user, &completion).await?;
    let mut data = Vec::with_capacity(vectors.len());
    for (index, vector) in vectors.into_iter().enumerate() {
        let embedding = match encoding {
            EmbeddingEncoding::Base64 => Vector::Base64(vector),
            EmbeddingEncoding::Float => Vector::Float(floats(&vector).ok_or_else(|| {
                ApiError::request(
                    StatusCode::BAD_GATEWAY,
                    ErrorCode::AnswerFailed,
                    "the node's answer holds a vector that is not f32s",
                )
            })?),
        };
        data.push(Item {
            object: "embedding",
            index,
            embedding,
        });
    }
    let answer = Answer {
        object: "list",
        data,
        model: completion.model_id().to_owned(),
        usage: Usage {
            prompt_tokens: usage.prompt_tokens,
            total_tokens: usage.prompt_tokens,
        },
    };
    // Serialized as f32s, so each number keeps its shortest exact form.
    Ok(Json(answer).into_response())
}
