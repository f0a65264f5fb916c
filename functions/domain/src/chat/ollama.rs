//! Ollama's `/api/chat`, `/api/generate` and `/api/embed`, read as the chat completion,
//! legacy completion or embeddings they mean, so Ollama clients reach the same checks
//! and the same path to a node as OpenAI ones.
//!
//! `messages` (with `tool_calls` whose arguments are objects, and `tool` answers),
//! `tools`, `format` (`"json"` or a JSON schema), `options` (`temperature`, `top_p`,
//! `seed`, `num_predict`, `stop`, the penalties) and `stream` (true unless false). Other
//! options tune the model server (`num_ctx`, `num_gpu`…) and are the node's business;
//! they are ignored, as Ollama ignores options it does not know. Images are refused.

use serde_json::{json, Map, Value};

use super::embeddings::{embeddings_of, inputs_of};
use super::text_completions::check_text_completion;
use super::Completion;
use super::{invalid_param as invalid, unsupported_param as unsupported};
use crate::error::{Error, Result};
use crate::task::{check_model_name, TaskInput};
use crate::wire::ChatCompletionRequest;
use crate::ErrorCode;

/// The chat completion an Ollama chat request means.
pub fn chat_request_of(body: &Value) -> Result<ChatCompletionRequest> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("messages", "the body must be a JSON object"));
    };
    let mut chat = Map::new();
    chat.insert(
        "messages".into(),
        Value::Array(messages(fields.get("messages"))?),
    );
    if let Some(tools) = fields.get("tools").filter(|v| !v.is_null()) {
        chat.insert("tools".into(), tools.clone());
    }
    chat_form(fields, chat)
}

/// `model`, `stream` (true unless false), `format` and `options` of an Ollama request
/// added to its chat form `chat`, then read as a chat completion request.
fn chat_form(
    fields: &Map<String, Value>,
    mut chat: Map<String, Value>,
) -> Result<ChatCompletionRequest> {
    chat.insert(
        "model".into(),
        fields.get("model").cloned().unwrap_or(Value::Null),
    );
    let stream = fields
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    match fields.get("format") {
        None | Some(Value::Null) => {}
        Some(Value::String(format)) if format == "json" => {
            chat.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(schema @ Value::Object(_)) => {
            chat.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {"name": "format", "schema": schema, "strict": true}}),
            );
        }
        Some(_) => return Err(invalid("format", "format is \"json\" or a JSON schema")),
    }
    if let Some(options) = fields.get("options").and_then(Value::as_object) {
        for (from, to) in [
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("num_predict", "max_completion_tokens"),
            ("stop", "stop"),
            ("presence_penalty", "presence_penalty"),
            ("frequency_penalty", "frequency_penalty"),
        ] {
            if let Some(value) = options.get(from).filter(|v| !v.is_null()) {
                chat.insert(to.into(), value.clone());
            }
        }
    }
    serde_json::from_value(Value::Object(chat))
        .map_err(|err| invalid("messages", format!("request body: {err}")))
}

/// What an Ollama `/api/generate` request means.
#[derive(Debug)]
pub enum Generate {
    /// No prompt: Ollama loads the model and answers at once (clients use it to warm a
    /// model up); here the model only has to be served.
    Load { model: String },
    /// The prompt (after `system`, if given) as a chat, in the model's own template.
    Chat(Box<ChatCompletionRequest>),
    /// `raw: true`: the prompt as it is, no template (a legacy text completion).
    Raw(Completion),
}

/// Fields of `/api/generate` that no node serves: refused unless absent, null or empty.
const GENERATE_REFUSED: &[(&str, &str)] = &[
    ("images", "images are not supported"),
    ("suffix", "fill-in-the-middle is not served here"),
    ("template", "each model's own template is used"),
    (
        "context",
        "context is not kept between requests; use /api/chat with the history",
    ),
];

/// Reads Ollama's `/api/generate`.
pub fn generate_request_of(body: &Value) -> Result<Generate> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("prompt", "the body must be a JSON object"));
    };
    for (name, why) in GENERATE_REFUSED {
        if fields
            .get(*name)
            .is_some_and(|v| !v.is_null() && v != "" && v != &json!([]))
        {
            return Err(unsupported(name, why));
        }
    }
    let prompt = match fields.get("prompt") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(prompt)) => prompt.clone(),
        Some(_) => return Err(invalid("prompt", "prompt must be a string")),
    };
    if prompt.is_empty() {
        let name = fields
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(Generate::Load {
            model: check_model_name(name)?,
        });
    }
    if fields.get("raw") == Some(&Value::Bool(true)) {
        return raw_completion(fields, prompt).map(Generate::Raw);
    }
    let mut messages = Vec::new();
    if let Some(system) = fields.get("system").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": prompt}));
    let mut chat = Map::new();
    chat.insert("messages".into(), Value::Array(messages));
    chat_form(fields, chat).map(|req| Generate::Chat(Box::new(req)))
}

/// A raw generate as the legacy completion it is; without `num_predict` it runs to the
/// model's end, as Ollama's does.
fn raw_completion(fields: &Map<String, Value>, prompt: String) -> Result<Completion> {
    if fields.get("format").is_some_and(|v| !v.is_null()) {
        return Err(Error::validation(
            ErrorCode::UnsupportedValue,
            "format cannot be combined with raw: a raw prompt has no template to shape",
        )
        .with_param("format"));
    }
    let mut none = Map::new();
    none.insert("messages".into(), json!([]));
    let asked = chat_form(fields, none)?;
    let mut legacy = json!({"model": asked.model, "prompt": prompt, "stream": asked.stream,
                            "stream_options": asked.stream_options, "temperature": asked.temperature,
                            "max_tokens": asked.max_completion_tokens, "top_p": asked.top_p,
                            "seed": asked.seed, "stop": asked.stop,
                            "presence_penalty": asked.presence_penalty,
                            "frequency_penalty": asked.frequency_penalty});
    legacy
        .as_object_mut()
        .expect("an object")
        .retain(|_, v| !v.is_null());
    let mut completion = check_text_completion(&legacy)?;
    if let TaskInput::Completion { max_tokens, .. } = &mut completion.input {
        *max_tokens = asked.max_completion_tokens;
    }
    Ok(completion)
}

/// Reads Ollama's `/api/embed` (`input`: a string or a list) and its older
/// `/api/embeddings` (`prompt`: one string).
pub fn embed_request_of(body: &Value) -> Result<Completion> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("input", "the body must be a JSON object"));
    };
    if fields.get("dimensions").is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            "dimensions",
            "vectors have the model's own size here",
        ));
    }
    let texts = match fields.get("input") {
        Some(input) => inputs_of(Some(input))?,
        None => inputs_of(fields.get("prompt")).map_err(|err| err.with_param("prompt"))?,
    };
    embeddings_of(fields.get("model"), texts)
}

fn messages(messages: Option<&Value>) -> Result<Vec<Value>> {
    let Some(messages) = messages.and_then(Value::as_array) else {
        return Err(invalid("messages", "messages must be a list"));
    };
    let mut chat = Vec::new();
    // Ids for the calls of the history, which Ollama's messages do not carry: a tool's
    // answer goes to the oldest call not yet answered.
    let mut unanswered: std::collections::VecDeque<String> = Default::default();
    for (index, message) in messages.iter().enumerate() {
        let param = format!("messages[{index}]");
        if message
            .get("images")
            .is_some_and(|v| !v.is_null() && v != &json!([]))
        {
            return Err(Error::validation(
                ErrorCode::UnsupportedValue,
                format!("{param}: images are not supported"),
            )
            .with_param(param));
        }
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let content = message
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match role {
            "system" | "user" => chat.push(json!({"role": role, "content": content})),
            "assistant" => {
                let mut out = json!({"role": "assistant", "content": content});
                if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|call| {
                            let id = format!("call_{}_{}", index, unanswered.len());
                            unanswered.push_back(id.clone());
                            let function = &call["function"];
                            let arguments = match &function["arguments"] {
                                Value::String(text) => text.clone(),
                                other => other.to_string(),
                            };
                            json!({"id": id, "type": "function",
                                   "function": {"name": function["name"], "arguments": arguments}})
                        })
                        .collect();
                    if !calls.is_empty() {
                        out["tool_calls"] = Value::Array(calls);
                    }
                }
                chat.push(out);
            }
            "tool" => {
                let Some(id) = unanswered.pop_front() else {
                    return Err(invalid(
                        &param,
                        "a tool message answers a call of an earlier assistant message",
                    ));
                };
                chat.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            _ => {
                return Err(invalid(
                    &param,
                    "a message's role is system, user, assistant or tool",
                ))
            }
        }
    }
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::check_completion;

    #[test]
    fn options_format_and_a_tool_round_trip_become_their_chat_forms() {
        let req = chat_request_of(&json!({
            "model": "smollm2:135m",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "weather", "arguments": {"city": "Paris"}}}]},
                {"role": "tool", "content": "sunny", "tool_name": "weather"}
            ],
            "options": {"temperature": 0, "seed": 3, "num_predict": 40, "num_ctx": 4096},
        }))
        .unwrap();
        assert!(req.stream, "Ollama streams unless told not to");
        assert_eq!(req.max_completion_tokens, Some(40));
        let call = &req.messages[1]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
        assert_eq!(req.messages[2]["tool_call_id"], call["id"]);
        check_completion(req).unwrap();

        let shaped = chat_request_of(&json!({"model": "m", "stream": false, "format": "json",
            "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap();
        assert!(!shaped.stream);
        assert_eq!(shaped.response_format, Some(json!({"type": "json_object"})));
    }

    #[test]
    fn images_and_unknown_roles_are_refused_naming_the_message() {
        for (message, code) in [
            (
                json!({"role": "user", "content": "x", "images": ["aGk="]}),
                ErrorCode::UnsupportedValue,
            ),
            (
                json!({"role": "wizard", "content": "x"}),
                ErrorCode::InvalidBody,
            ),
            (
                json!({"role": "tool", "content": "x"}),
                ErrorCode::InvalidBody,
            ),
        ] {
            let err = chat_request_of(&json!({"model": "m", "messages": [message]})).unwrap_err();
            assert_eq!(
                (err.code, err.param.as_deref()),
                (code, Some("messages[0]"))
            );
        }
    }

    #[test]
    fn generate_is_a_chat_a_raw_completion_or_a_load() {
        let Generate::Chat(chat) = generate_request_of(&json!({
            "model": "m", "prompt": "Why is the sky blue?", "system": "Be brief.",
            "stream": false, "format": "json", "options": {"num_predict": 30}
        }))
        .unwrap() else {
            panic!("a chat");
        };
        assert_eq!(chat.messages.len(), 2);
        assert_eq!(chat.messages[0]["role"], "system");
        assert_eq!(chat.messages[1]["content"], "Why is the sky blue?");
        assert!(!chat.stream);
        assert_eq!(chat.max_completion_tokens, Some(30));
        check_completion(*chat).unwrap();

        let Generate::Raw(raw) =
            generate_request_of(&json!({"model": "m", "prompt": "1, 2, 3,", "raw": true})).unwrap()
        else {
            panic!("a raw completion");
        };
        assert!(raw.stream);
        assert!(matches!(
            raw.input,
            TaskInput::Completion { ref prompt, max_tokens: None, .. } if prompt == "1, 2, 3,"
        ));
        assert!(matches!(
            generate_request_of(&json!({"model": "m"})).unwrap(),
            Generate::Load { ref model } if model == "m"
        ));
    }

    #[test]
    fn generate_refuses_what_no_node_serves_and_embed_reads_input_or_prompt() {
        for (body, param) in [
            (
                json!({"model": "m", "prompt": "x", "images": ["aGk="]}),
                "images",
            ),
            (
                json!({"model": "m", "prompt": "x", "suffix": "y"}),
                "suffix",
            ),
            (
                json!({"model": "m", "prompt": "x", "context": [1, 2]}),
                "context",
            ),
            (
                json!({"model": "m", "prompt": "x", "raw": true, "format": "json"}),
                "format",
            ),
        ] {
            let err = generate_request_of(&body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}");
        }
        let both = embed_request_of(&json!({"model": "m", "input": ["a", "b"]})).unwrap();
        assert!(matches!(both.input, TaskInput::Embeddings { ref input } if input.len() == 2));
        let old = embed_request_of(&json!({"model": "m", "prompt": "a"})).unwrap();
        assert!(matches!(old.input, TaskInput::Embeddings { ref input } if input == &["a"]));
        let err = embed_request_of(&json!({"model": "m"})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("prompt"));
    }
}
