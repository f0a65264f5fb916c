//! `POST /v1/responses`: OpenAI's Responses API, stateless. The body is read as the chat
//! completion it means (`cynode_domain::chat::responses`), which becomes a task like any
//! completion (or, for a hosted model, goes through the egress); the answer comes back as a `response` object, or streamed as the API's
//! typed events (`response.created`, `response.output_text.delta`, function-call argument
//! deltas, …, `response.completed` with usage). Errors are in OpenAI's shape (the chat
//! router's layer).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use cynode_domain::chat::check_completion;
use cynode_domain::chat::responses::chat_request_of;
use cynode_domain::limits::MAX_TASK_BODY_BYTES;
use cynode_domain::service::EgressGrant;
use cynode_domain::wire::{
    ChatAnswer, ChatCompletionRequest, InferenceUsage, TaskResult, ToolCall,
};
use cynode_domain::{Error, ErrorCode};

use super::answer_stream::{self, Framing, Outcome};
use super::chat::{answer_of, check_model, checked_and_guarded, wait_for_answer};
use crate::egress::openai::usage_of;
use crate::error::ApiResult;
use crate::extract::{JsonBody, ModelCaller};
use crate::state::AppState;

/// Chat's names for the fields a Responses client calls otherwise.
fn responses_param(error: Error) -> Error {
    let renamed = match error.param.as_deref() {
        Some("response_format") => Some("text.format"),
        Some("max_completion_tokens") => Some("max_output_tokens"),
        Some("messages") => Some("input"),
        _ => None,
    };
    match renamed {
        Some(param) => error.with_param(param),
        None => error,
    }
}

pub async fn create(
    State(state): State<AppState>,
    ModelCaller(user): ModelCaller,
    JsonBody(body): JsonBody<Value, MAX_TASK_BODY_BYTES>,
) -> ApiResult<Response> {
    let request = chat_request_of(&body).map_err(responses_param)?;
    let completion = check_completion(request.clone()).map_err(responses_param)?;
    // A hosted model's id goes to the egress; anything else is a node's task.
    if let Some(grant) = state.egress().grant(&user, &request.model).await? {
        return hosted(&state, grant, request, body).await;
    }
    let guard = checked_and_guarded(
        &state,
        &user,
        completion.stream,
        check_model(&state, &completion),
    )
    .await?;
    let task = state.tasks().create_completion(&user, &completion).await?;
    tracing::Span::current().record("task_id", task.task_id.as_str());
    let shape = Shape {
        id: format!("resp_{}", task.task_id),
        created: task.created_at.unix_timestamp(),
        model: completion.model_id().to_owned(),
        request: body,
    };
    if let Some(guard) = guard {
        let framing = ResponsesFraming {
            shape,
            sequence: 0,
            text: String::new(),
            message_open: false,
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
    let text = answer_of(&result)?;
    let output = output_items(&shape.id, &text, &tool_calls(&result));
    let cut = result
        .answer
        .as_ref()
        .is_some_and(|answer| answer.finish_reason == "length");
    Ok(Json(shape.finished(cut, result.usage, output)).into_response())
}

/// A Responses request of a hosted model: the chat completion it means goes through the
/// egress for a whole answer, which comes back reshaped, or (`stream`) as the API's
/// events, sent together once the answer is in.
async fn hosted(
    state: &AppState,
    grant: EgressGrant,
    request: ChatCompletionRequest,
    body: Value,
) -> ApiResult<Response> {
    let stream = request.stream;
    let mut chat = serde_json::to_value(&request)
        .map_err(|err| Error::internal(format!("encoding the chat request: {err}")))?;
    if let Value::Object(fields) = &mut chat {
        fields.retain(|_, value| !value.is_null());
    }
    let answer = super::hosted::chat_answer(state, &grant, chat).await?;
    let choice = &answer["choices"][0];
    let text = choice["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let calls: Vec<ToolCall> =
        serde_json::from_value(choice["message"]["tool_calls"].clone()).unwrap_or_default();
    let finish_reason = choice["finish_reason"]
        .as_str()
        .unwrap_or("stop")
        .to_owned();
    let usage = usage_of(&answer);
    let shape = Shape {
        id: format!("resp_{}", answer["id"].as_str().unwrap_or("hosted")),
        created: answer["created"]
            .as_i64()
            .unwrap_or_else(|| cynode_domain::clock::Timestamp::now_utc().unix_timestamp()),
        model: grant.model_id.clone(),
        request: body,
    };
    if !stream {
        let output = output_items(&shape.id, &text, &calls);
        let cut = finish_reason == "length";
        return Ok(Json(shape.finished(cut, usage, output)).into_response());
    }
    let mut framing = ResponsesFraming {
        shape,
        sequence: 0,
        text: String::new(),
        message_open: false,
    };
    let mut events = framing.start();
    let answer = ChatAnswer {
        finish_reason,
        tool_calls: calls,
        logprobs: None,
    };
    events.extend(
        framing
            .finish(Outcome::Answered {
                text,
                answer,
                usage,
            })
            .await,
    );
    let mut response = Response::new(axum::body::Body::from(events.concat()));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/event-stream"),
    );
    Ok(response)
}

/// What every `response` object of one request repeats.
struct Shape {
    id: String,
    created: i64,
    model: String,
    request: Value,
}

impl Shape {
    fn response(&self, status: &str, output: Vec<Value>, usage: Option<InferenceUsage>) -> Value {
        let echo = |field: &str, default: Value| {
            self.request
                .get(field)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or(default)
        };
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.model,
            "output": output,
            "usage": usage.map(|u| usage_json(&u)),
            "error": null,
            "incomplete_details": null,
            "instructions": echo("instructions", Value::Null),
            "max_output_tokens": echo("max_output_tokens", Value::Null),
            "temperature": echo("temperature", json!(1.0)),
            "top_p": echo("top_p", json!(1.0)),
            "tools": echo("tools", json!([])),
            "tool_choice": echo("tool_choice", json!("auto")),
            "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
            "text": echo("text", json!({"format": {"type": "text"}})),
            "metadata": echo("metadata", json!({})),
            "store": false,
            "previous_response_id": null,
            "truncation": "disabled",
        })
    }
}

impl Shape {
    /// The response of an answer: `completed`, or `incomplete` when the model stopped at
    /// `max_output_tokens` (`cut`).
    fn finished(&self, cut: bool, usage: Option<InferenceUsage>, output: Vec<Value>) -> Value {
        let status = if cut { "incomplete" } else { "completed" };
        let mut response = self.response(status, output, Some(usage.unwrap_or_default()));
        if cut {
            response["incomplete_details"] = json!({"reason": "max_output_tokens"});
        }
        response
    }
}

fn usage_json(usage: &InferenceUsage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

fn message_id(response: &str) -> String {
    format!("msg_{}", response.trim_start_matches("resp_"))
}

fn message_item(response: &str, text: &str, status: &str) -> Value {
    let content = match status {
        "completed" => json!([{"type": "output_text", "text": text, "annotations": []}]),
        _ => json!([]),
    };
    json!({"type": "message", "id": message_id(response), "status": status,
           "role": "assistant", "content": content})
}

fn call_item(index: usize, call: &ToolCall, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{index}_{}", call.id), "call_id": call.id,
           "name": call.function.name, "arguments": arguments, "status": status})
}

fn tool_calls(result: &TaskResult) -> Vec<ToolCall> {
    result
        .answer
        .clone()
        .map(|answer: ChatAnswer| answer.tool_calls)
        .unwrap_or_default()
}

/// The answer's output items: its text as a message (when there is text), then its calls.
fn output_items(response: &str, text: &str, calls: &[ToolCall]) -> Vec<Value> {
    let mut items = Vec::new();
    if !text.is_empty() {
        items.push(message_item(response, text, "completed"));
    }
    for (index, call) in calls.iter().enumerate() {
        items.push(call_item(
            index,
            call,
            &call.function.arguments,
            "completed",
        ));
    }
    items
}

/// The Responses API's events, each `event: <type>` with its JSON, numbered in order.
struct ResponsesFraming {
    shape: Shape,
    sequence: u64,
    /// The text streamed so far.
    text: String,
    message_open: bool,
}

impl ResponsesFraming {
    fn event(&mut self, kind: &str, mut body: Value) -> Bytes {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        Bytes::from(format!("event: {kind}\ndata: {body}\n\n"))
    }

    /// `response.created` and `response.in_progress`, once, before anything else.
    fn opening(&mut self) -> Vec<Bytes> {
        if self.sequence > 0 {
            return Vec::new();
        }
        let response = self.shape.response("in_progress", vec![], None);
        vec![
            self.event("response.created", json!({"response": response})),
            self.event("response.in_progress", json!({"response": response})),
        ]
    }

    fn open_message(&mut self) -> Vec<Bytes> {
        if self.message_open {
            return Vec::new();
        }
        self.message_open = true;
        let item = message_item(&self.shape.id, "", "in_progress");
        let item_id = message_id(&self.shape.id);
        vec![
            self.event(
                "response.output_item.added",
                json!({"output_index": 0, "item": item}),
            ),
            self.event(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                       "part": {"type": "output_text", "text": "", "annotations": []}}),
            ),
        ]
    }

    fn text_delta(&mut self, delta: &str) -> Vec<Bytes> {
        let mut events = self.opening();
        events.extend(self.open_message());
        self.text.push_str(delta);
        let item_id = message_id(&self.shape.id);
        events.push(self.event(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta, "logprobs": []}),
        ));
        events
    }

    fn close_message(&mut self) -> Vec<Bytes> {
        let item_id = message_id(&self.shape.id);
        let text = self.text.clone();
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        vec![
            self.event(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
            ),
            self.event(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part}),
            ),
            self.event(
                "response.output_item.done",
                json!({"output_index": 0, "item": message_item(&self.shape.id, &text, "completed")}),
            ),
        ]
    }

    fn call_events(&mut self, output_index: usize, index: usize, call: &ToolCall) -> Vec<Bytes> {
        const PIECE: usize = 32;
        let item = call_item(index, call, "", "in_progress");
        let item_id = item["id"].clone();
        let mut events = vec![self.event(
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        )];
        let arguments = &call.function.arguments;
        let mut start = 0;
        while start < arguments.len() {
            let mut end = (start + PIECE).min(arguments.len());
            while !arguments.is_char_boundary(end) {
                end += 1;
            }
            events.push(self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": output_index, "delta": &arguments[start..end]}),
            ));
            start = end;
        }
        events.push(self.event(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": output_index, "arguments": arguments}),
        ));
        let done = call_item(index, call, arguments, "completed");
        events.push(self.event(
            "response.output_item.done",
            json!({"output_index": output_index, "item": done}),
        ));
        events
    }
}

impl Framing for ResponsesFraming {
    fn start(&mut self) -> Vec<Bytes> {
        self.opening()
    }

    fn text(&mut self, text: &str) -> Vec<Bytes> {
        self.text_delta(text)
    }

    async fn finish(&mut self, outcome: Outcome) -> Vec<Bytes> {
        let mut events = self.opening();
        match outcome {
            Outcome::Answered {
                text,
                answer,
                usage,
            } => {
                // The agent's answer arrives whole, at the end.
                if !self.message_open && !text.is_empty() {
                    events.extend(self.text_delta(&text));
                }
                let mut output = Vec::new();
                if self.message_open {
                    events.extend(self.close_message());
                    output.push(message_item(&self.shape.id, &self.text, "completed"));
                }
                for (index, call) in answer.tool_calls.iter().enumerate() {
                    events.extend(self.call_events(output.len(), index, call));
                    output.push(call_item(
                        index,
                        call,
                        &call.function.arguments,
                        "completed",
                    ));
                }
                let response =
                    self.shape
                        .response("completed", output, Some(usage.unwrap_or_default()));
                events.push(self.event("response.completed", json!({"response": response})));
            }
            Outcome::Failed(message) => {
                let mut response = self.shape.response("failed", vec![], None);
                response["error"] = json!({"code": ErrorCode::AnswerFailed, "message": message});
                events.push(self.event("response.failed", json!({"response": response})));
            }
        }
        events
    }

    fn error(&mut self, code: ErrorCode, message: &str) -> Vec<Bytes> {
        let mut events = self.opening();
        events.push(self.event(
            "error",
            json!({"code": code, "message": message, "param": null}),
        ));
        events
    }
}
