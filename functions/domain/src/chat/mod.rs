//! Chat: OpenAI-style completion requests checked into a task's input, and threads (a
//! user's conversations with `/v1/chat`), with the rules that bound them.
//!
//! Legacy text completions (`text_completions`) and embeddings (`embeddings`) take the
//! same path to a node, as direct calls of its model server.
//!
//! A completion is a task like any other (so ownership, queueing, leases, results and
//! token usage are the task's): its input is the conversation, its job goes on the
//! inference queue, and a node answers it with the model named, or with the agent.

use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{ThreadId, UserId};
use crate::limits::{truncate_utf8, MAX_PROMPT_BYTES};
use crate::task::{check_model_name, TaskInput};
use crate::wire::{
    ChatCompletionRequest, ChatMessage, ChatOptions, Temperature, ThreadView, AGENT_MODEL,
};

pub mod embeddings;
pub mod ollama;
mod options;
pub mod responses;
pub mod text_completions;
pub use options::{check_message, check_options, MAX_TOOLS};

/// Most tokens one completion may ask for.
pub const MAX_COMPLETION_TOKENS: u32 = 32_768;
/// A thread keeps its newest messages within this many bytes (a DynamoDB item is 400 KB).
pub const MAX_THREAD_BYTES: usize = 256 * 1024;
/// Characters of the first message kept as a thread's title.
const TITLE_CHARS: usize = 60;

/// A checked completion request: who answers it and what they are asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `None`: the agent answers.
    pub model: Option<String>,
    pub input: TaskInput,
    pub stream: bool,
    pub include_usage: bool,
}

impl Completion {
    /// The model id as clients named it.
    pub fn model_id(&self) -> &str {
        self.model.as_deref().unwrap_or(AGENT_MODEL)
    }

    /// What the completion asks beyond its conversation.
    pub fn options(&self) -> Option<&ChatOptions> {
        match &self.input {
            TaskInput::Chat { options, .. } => Some(options),
            _ => None,
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::validation(ErrorCode::InvalidBody, message)
}

/// A 400 for a field whose value is wrong, naming it.
pub(crate) fn invalid_param(param: &str, message: impl Into<String>) -> Error {
    Error::validation(ErrorCode::InvalidBody, message).with_param(param)
}

/// A 400 for a field CyNode does not serve, naming it and saying why.
pub(crate) fn unsupported_param(param: &str, why: &str) -> Error {
    Error::validation(
        ErrorCode::UnsupportedParameter,
        format!("{param} is not supported: {why}"),
    )
    .with_param(param)
}

/// Checks `POST /v1/chat/completions`.
pub fn check_completion(req: ChatCompletionRequest) -> Result<Completion> {
    let model = check_model_name(&req.model)?;
    if req.messages.is_empty() {
        return Err(invalid("messages must not be empty").with_param("messages"));
    }
    let messages = req
        .messages
        .iter()
        .enumerate()
        .map(|(i, raw)| check_message(i, raw))
        .collect::<Result<Vec<_>>>()?;
    let options = check_options(&req, model == AGENT_MODEL)?;
    let size: usize = messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.tool_calls
                    .iter()
                    .map(|c| c.function.arguments.len())
                    .sum::<usize>()
        })
        .sum::<usize>()
        + options
            .tools
            .iter()
            .map(|t| t.to_string().len())
            .sum::<usize>();
    if size > MAX_PROMPT_BYTES {
        return Err(Error::validation(
            ErrorCode::InputTooLarge,
            format!("the messages and tools are {size} bytes; the limit is {MAX_PROMPT_BYTES}"),
        )
        .with_param("messages"));
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if max_tokens.is_some_and(|n| n == 0 || n > MAX_COMPLETION_TOKENS) {
        return Err(
            invalid(format!("max_tokens must be 1-{MAX_COMPLETION_TOKENS}"))
                .with_param("max_tokens"),
        );
    }
    let temperature = req
        .temperature
        .map(|t| {
            Temperature::from_f64(t)
                .ok_or_else(|| invalid("temperature must be 0-2").with_param("temperature"))
        })
        .transpose()?;
    Ok(Completion {
        model: (model != AGENT_MODEL).then_some(model),
        input: TaskInput::Chat {
            messages,
            max_tokens,
            temperature,
            options,
        },
        stream: req.stream,
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    })
}

/// One conversation of a user's with `/v1/chat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub id: ThreadId,
    pub owner: UserId,
    pub title: String,
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Thread {
    pub fn new(owner: UserId, model: String, first: &str, now: Timestamp) -> Thread {
        let title: String = first.chars().take(TITLE_CHARS).collect();
        Thread {
            id: ThreadId::generate(),
            owner,
            title: title.trim().to_owned(),
            model,
            messages: vec![],
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The thread with the exchange appended, its oldest messages dropped to stay within
    /// [`MAX_THREAD_BYTES`], stamped and versioned for a conditional write.
    pub fn with_exchange(&self, question: &str, answer: &str, now: Timestamp) -> Thread {
        let mut messages = self.messages.clone();
        messages.push(ChatMessage::text("user", question));
        messages.push(ChatMessage::text(
            "assistant",
            truncate_utf8(answer, MAX_THREAD_BYTES / 2).0,
        ));
        while messages.len() > 2
            && messages.iter().map(|m| m.content.len()).sum::<usize>() > MAX_THREAD_BYTES
        {
            messages.drain(..2);
        }
        Thread {
            messages,
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The conversation to send: the history, then the new question.
    pub fn conversation(&self, question: &str) -> Vec<ChatMessage> {
        let mut messages = self.messages.clone();
        messages.push(ChatMessage::text("user", question));
        messages
    }

    pub fn view(&self, with_messages: bool) -> ThreadView {
        ThreadView {
            thread_id: self.id.clone(),
            title: self.title.clone(),
            model: self.model.clone(),
            messages: if with_messages {
                self.messages.clone()
            } else {
                vec![]
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn request(body: serde_json::Value) -> ChatCompletionRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn completions_name_a_model_or_the_agent_and_keep_text_parts() {
        let checked = check_completion(request(json!({
            "model": "smollm2:135m", "stream": true, "stream_options": {"include_usage": true},
            "temperature": 0.7, "max_tokens": 16, "user": "ignored",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        })))
        .unwrap();
        assert_eq!(checked.model.as_deref(), Some("smollm2:135m"));
        assert!(checked.stream && checked.include_usage);
        let TaskInput::Chat {
            messages,
            max_tokens,
            temperature,
            ..
        } = &checked.input
        else {
            panic!("a chat input");
        };
        assert_eq!(messages[1].content, "hi");
        assert_eq!(
            (*max_tokens, *temperature),
            (Some(16), Some(Temperature(70)))
        );
        let agent = check_completion(request(json!({
            "model": AGENT_MODEL, "messages": [{"role": "user", "content": "x"}]
        })))
        .unwrap();
        assert_eq!(
            (agent.model.as_deref(), agent.model_id()),
            (None, AGENT_MODEL)
        );
    }

    #[test]
    fn bad_completions_are_refused_with_reasons() {
        let bad = |body: serde_json::Value| check_completion(request(body)).unwrap_err();
        assert!(bad(json!({"model": "m", "messages": []}))
            .message
            .contains("empty"));
        assert!(
            bad(json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}))
                .message
                .contains("role")
        );
        assert!(
            bad(json!({"model": "m", "messages": [{"role": "user", "content": 5}]}))
                .message
                .contains("content")
        );
        assert!(bad(
            json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]})
        )
        .message
        .contains("max_tokens"));
        assert!(bad(
            json!({"model": "m", "temperature": 9, "messages": [{"role": "user", "content": "x"}]})
        )
        .message
        .contains("temperature"));
        assert_eq!(
            bad(json!({"model": "", "messages": [{"role": "user", "content": "x"}]})).code,
            "invalid_model"
        );
    }

    #[test]
    fn threads_keep_their_newest_messages_within_bounds() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let thread = Thread::new(UserId::generate(), "m".into(), "What is Rust, really?", now);
        assert_eq!(thread.title, "What is Rust, really?");
        let one = thread.with_exchange("q1", "a1", now);
        assert_eq!(one.version, 1);
        assert_eq!(one.conversation("q2").len(), 3);
        let big = "x".repeat(MAX_THREAD_BYTES / 2);
        let full = one
            .with_exchange("q2", &big, now)
            .with_exchange("q3", &big, now);
        assert!(full.messages.iter().map(|m| m.content.len()).sum::<usize>() <= MAX_THREAD_BYTES);
        assert_eq!(
            full.messages.last().unwrap().content.len(),
            MAX_THREAD_BYTES / 2
        );
        assert_ne!(
            full.messages[0].content, "q1",
            "the oldest exchange was dropped"
        );
    }
}
