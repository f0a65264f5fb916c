//! `POST /v1/completions`, OpenAI's legacy text completions: the prompt continued as it
//! is by a model some node serves (checked in `cynode_domain::chat::text_completions`).
//! Like a chat completion it is a task answered by a node, streamed as `text_completion`
//! chunks through the shared cursor (`answer_stream.rs`), under the OpenAI error layer
//! of `chat.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use cynode_domain::chat::text_completions::check_text_completion;
use cynode_domain::ids::TaskId;
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::ErrorCode;

use super::answer_stream::{self, Framing, Outcome};
use super::chat::{
    answer_of, check_model, checked_and_guarded, error_frames, finish_reason, usage_json,
    wait_for_answer,
};
use crate::error::ApiResult;
use crate::extract::{JsonBody, ModelCaller};
use crate::state::AppState;

pub(super) async fn create(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    let completion = check_text_completion(&body)?;
    let guard = checked_and_guarded(
        &state,
        &user,
        completion.stream,
        check_model(&state, &completion),
    )
    .await?;
    let task = state.tasks().create_completion(&user, &completion).await?;
    tracing::Span::current().record("task_id", task.task_id.as_str());
    let framing = TextFraming {
        task: task.task_id.clone(),
        model: completion.model_id().to_owned(),
        created: task.created_at.unix_timestamp(),
        include_usage: completion.include_usage,
        sent: false,
    };
    if let Some(guard) = guard {
        return Ok(answer_stream::respond(
            state,
            user,
            task.task_id,
            framing,
            guard,
        ));
    }
    let result = wait_for_answer(&state, &user, &task.task_id).await?;
    answer_of(&result)?;
    // The text as the model wrote it: a continuation's whitespace is part of it.
    let text = result.stdout.clone().unwrap_or_default();
    let ended = result.answer.clone().unwrap_or_default();
    let mut body = framing.chunk(&text, Some(finish_reason(&ended)));
    body["usage"] = usage_json(&result.usage.unwrap_or_default());
    Ok(Json(body).into_response())
}

/// Legacy completions' events: `text_completion` chunks, then `[DONE]`.
struct TextFraming {
    task: TaskId,
    model: String,
    created: i64,
    include_usage: bool,
    sent: bool,
}

impl TextFraming {
    fn chunk(&self, text: &str, finish: Option<&str>) -> Value {
        json!({
            "id": format!("cmpl-{}", self.task),
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
        })
    }
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

impl Framing for TextFraming {
    fn text(&mut self, text: &str) -> Vec<Bytes> {
        self.sent = true;
        vec![sse(&self.chunk(text, None))]
    }

    async fn finish(&mut self, outcome: Outcome) -> Vec<Bytes> {
        let mut events = Vec::new();
        let mut usage = None;
        match outcome {
            Outcome::Answered {
                text,
                answer: ended,
                usage: used,
            } => {
                if !self.sent && !text.is_empty() {
                    events.push(sse(&self.chunk(&text, None)));
                }
                events.push(sse(&self.chunk("", Some(finish_reason(&ended)))));
                usage = used;
            }
            Outcome::Failed(message) => {
                events.push(sse(&json!({"error": {"message": message, "type": "api_error", "code": ErrorCode::AnswerFailed}})));
            }
        }
        if self.include_usage {
            let mut last = self.chunk("", None);
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
