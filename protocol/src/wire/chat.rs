//! Models and chat: OpenAI-compatible requests, CyNode's own chat, threads.

use serde::{Deserialize, Serialize};

use super::InferenceUsage;
use crate::clock::Timestamp;
use crate::ids::{TaskId, ThreadId};

/// The model id of CyNode's own agent: a chat with it is answered by the prompt agent in
/// a sandbox pod (which may run commands there); any other id goes straight to a model
/// that some node serves.
pub const AGENT_MODEL: &str = "cynodeai.pm";

/// One chat message (OpenAI's shape; only text content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
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

/// `POST /v1/chat/completions`: the fields CyNode uses. Other OpenAI fields are accepted
/// and ignored, as OpenAI-compatible servers do.
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
