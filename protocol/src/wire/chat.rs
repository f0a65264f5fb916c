//! Models and chat: OpenAI-compatible requests, CyNode's own chat, threads.

use serde::{Deserialize, Serialize};

use super::InferenceUsage;
use crate::clock::Timestamp;
use crate::ids::{TaskId, ThreadId};

/// The model id of CyNode's own agent: a chat with it is answered by the prompt agent in
/// a sandbox pod (which may run commands there); any other id goes straight to a model
/// that some node serves.
pub const AGENT_MODEL: &str = "cynodeai.pm";

/// One chat message (OpenAI's shape): text content, and for tool use the assistant's
/// `tool_calls` or a `tool` message's `tool_call_id`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// A plain text message.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.to_owned(),
            content: content.into(),
            tool_calls: vec![],
            tool_call_id: None,
            name: None,
        }
    }
}

/// A function call the model asked for (OpenAI's `tool_calls[]` item).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments as a JSON text, as OpenAI sends them.
    pub arguments: String,
}

/// What a completion asks of the model beyond the conversation, checked by the gateway
/// and passed through by the node (see `docs/openai.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatOptions {
    /// Sampling fields passed to the model server as given: `stop`, `top_p`, `seed`,
    /// `presence_penalty`, `frequency_penalty`, `logprobs`, `top_logprobs`.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub sampling: serde_json::Map<String, serde_json::Value>,
    /// Function tools in OpenAI's shape (`{"type": "function", "function": {...}}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
    /// How the model may use them: `auto` (the default with tools), `required`, or one
    /// named function. `none` is kept out: the tools are then dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// `parallel_tool_calls: false`: at most one call per answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_tool_call: bool,
    /// `{"type": "json_object"}` or `{"type": "json_schema", "json_schema": {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

impl ChatOptions {
    pub fn is_empty(&self) -> bool {
        self == &ChatOptions::default()
    }

    /// Asked for token log probabilities.
    pub fn logprobs(&self) -> bool {
        self.sampling.get("logprobs") == Some(&serde_json::Value::Bool(true))
    }
}

/// `tool_choice`, checked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    Required,
    Function(String),
}

/// How a model's answer ended and what it held beyond its text (which is the job's
/// stdout): OpenAI's `finish_reason`, the tool calls, the token log probabilities.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatAnswer {
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// OpenAI's `logprobs` object (`{"content": [...]}`), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<serde_json::Value>,
}

/// How a streamed answer ended, carried by its last chunk so that a stream can close as
/// soon as it reads it instead of waiting for the job's result. Only answers of text
/// alone carry it (tool calls and log probabilities come with the result).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AnswerEnd {
    /// `stop` or `length`, as the model reported.
    pub finish_reason: String,
    pub usage: super::InferenceUsage,
}

/// A job that calls one of the model server's routes other than chat, directly (no
/// sandbox, as for a chat with a model): a legacy text completion or embeddings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum DirectCall {
    /// `/v1/completions`: the prompt as it is, no chat template; the text streams back as a
    /// chat's does.
    Completions { prompt: String },
    /// `/v1/embeddings`: one vector per input, in the job's stdout as [`EmbeddingsOutput`].
    Embeddings { input: Vec<String> },
}

/// What an embeddings job's stdout holds: one vector per input, in order, each as the
/// base64 of its little-endian `f32`s (a third of the bytes of decimal text, and exact).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmbeddingsOutput {
    pub embeddings: Vec<String>,
}

/// A sampling temperature in hundredths (0-200), so that requests stay comparable.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Temperature(pub u16);

impl Temperature {
    pub fn from_f64(value: f64) -> Option<Self> {
        (0.0..=2.0)
            .contains(&value)
            .then(|| Temperature((value * 100.0).round() as u16))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

/// `POST /v1/chat/completions`. Fields OpenAI documents but CyNode cannot honour are
/// refused by the gateway's check (see `docs/openai.md`); fields OpenAI does not document
/// are ignored, as OpenAI-compatible servers do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    /// Messages as OpenAI clients send them: `content` a string or a list of text parts.
    pub messages: Vec<serde_json::Value>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<serde_json::Value>,
    #[serde(default)]
    pub stop: Option<serde_json::Value>,
    #[serde(default)]
    pub seed: Option<serde_json::Value>,
    #[serde(default)]
    pub presence_penalty: Option<serde_json::Value>,
    #[serde(default)]
    pub frequency_penalty: Option<serde_json::Value>,
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
    #[serde(default)]
    pub top_logprobs: Option<serde_json::Value>,
    #[serde(default)]
    pub n: Option<serde_json::Value>,
    #[serde(default)]
    pub user: Option<serde_json::Value>,
    #[serde(default)]
    pub tools: Option<serde_json::Value>,
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<serde_json::Value>,
    #[serde(default)]
    pub response_format: Option<serde_json::Value>,
    /// OpenAI fields CyNode refuses rather than drops silently.
    #[serde(default)]
    pub logit_bias: Option<serde_json::Value>,
    #[serde(default)]
    pub functions: Option<serde_json::Value>,
    #[serde(default)]
    pub function_call: Option<serde_json::Value>,
    #[serde(default)]
    pub audio: Option<serde_json::Value>,
    #[serde(default)]
    pub modalities: Option<serde_json::Value>,
    #[serde(default)]
    pub prediction: Option<serde_json::Value>,
    #[serde(default)]
    pub web_search_options: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /v1/chat`: one message, continuing a thread when `thread_id` is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<ThreadId>,
    /// Default: the agent ([`AGENT_MODEL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Answer as server-sent events while the model writes (`thread`, `delta`, `done`,
    /// `error`) instead of one JSON body at the end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatReply {
    pub response: String,
    pub thread_id: ThreadId,
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InferenceUsage>,
}

/// A chat thread: its messages, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadView {
    pub thread_id: ThreadId,
    pub title: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ChatMessage>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThreadList {
    pub threads: Vec<ThreadView>,
}
