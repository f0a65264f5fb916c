//! Ollama's `/api/chat`, read as the chat completion it means, so Ollama clients reach
//! the same checks and the same path to a node as OpenAI ones.
//!
//! `messages` (with `tool_calls` whose arguments are objects, and `tool` answers),
//! `tools`, `format` (`"json"` or a JSON schema), `options` (`temperature`, `top_p`,
//! `seed`, `num_predict`, `stop`, the penalties) and `stream` (true unless false). Other
//! options tune the model server (`num_ctx`, `num_gpu`…) and are the node's business;
//! they are ignored, as Ollama ignores options it does not know. Images are refused.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::wire::ChatCompletionRequest;
use crate::ErrorCode;

fn invalid(param: &str, message: impl Into<String>) -> Error {
    Error::validation(ErrorCode::InvalidBody, message).with_param(param)
}

/// The chat completion an Ollama chat request means.
pub fn chat_request_of(body: &Value) -> Result<ChatCompletionRequest> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("messages", "the body must be a JSON object"));
    };
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        fields.get("model").cloned().unwrap_or(Value::Null),
    );
    chat.insert(
        "messages".into(),
        Value::Array(messages(fields.get("messages"))?),
    );
    let stream = fields
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(tools) = fields.get("tools").filter(|v| !v.is_null()) {
        chat.insert("tools".into(), tools.clone());
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
}
