//! The `anthropic` kind: Anthropic's Messages API
//! (<https://docs.anthropic.com/en/api/messages>) spoken for OpenAI clients, both ways.
//!
//! - A chat completion request becomes a Messages request: system and developer messages
//!   become `system`; user parts, assistant text and `tool_calls` become content blocks
//!   (`text`, `image`, `tool_use`); `tool` messages become `tool_result` blocks of a user
//!   turn; turns of one role in a row are merged; tools, `tool_choice`, stops, sampling and
//!   `max_tokens` (which Anthropic requires) are carried over. What cannot be said is
//!   refused with the field named, before any call.
//! - An answer becomes a `chat.completion`: text, `tool_calls` from `tool_use` blocks, the
//!   finish reason and the usage.
//! - A stream's events (`message_start`, `content_block_*`, `message_delta`,
//!   `message_stop`, `ping`, `error`) become `chat.completion.chunk`s as they arrive
//!   ([`StreamTranslator`]).

use std::collections::HashMap;

use cynode_domain::wire::InferenceUsage;
use serde_json::{json, Map, Value};

/// The API version every request names (`anthropic-version`).
pub const VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; OpenAI clients often send none.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Where the Messages API is, from a base URL that is the API's root or its `/v1`.
pub fn messages_url(base_url: &str) -> String {
    match base_url.ends_with("/v1") {
        true => format!("{base_url}/messages"),
        false => format!("{base_url}/v1/messages"),
    }
}

/// Why a request cannot be said in the Messages API: the field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsayable {
    pub param: String,
    pub message: String,
}

fn unsayable(param: &str, message: impl Into<String>) -> Unsayable {
    Unsayable {
        param: param.to_owned(),
        message: message.into(),
    }
}

/// A message's `content` as text: a string, or the text of its text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A user message's content as blocks: text, and images (a `data:` URL inline, else by URL).
fn user_blocks(content: &Value, at: usize) -> Result<Vec<Value>, Unsayable> {
    let parts = match content {
        Value::String(text) => return Ok(vec![json!({"type": "text", "text": text})]),
        Value::Array(parts) => parts,
        _ => {
            return Err(unsayable(
                &format!("messages[{at}].content"),
                "must be a string or a list of parts",
            ))
        }
    };
    let mut blocks = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => blocks.push(json!({"type": "text", "text": part["text"]})),
            Some("image_url") => {
                let url = part
                    .pointer("/image_url/url")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let inline = url
                    .strip_prefix("data:")
                    .and_then(|rest| rest.split_once(";base64,"));
                blocks.push(match inline {
                    Some((media_type, data)) => json!({"type": "image", "source":
                        {"type": "base64", "media_type": media_type, "data": data}}),
                    None => json!({"type": "image", "source": {"type": "url", "url": url}}),
                });
            }
            other => {
                return Err(unsayable(
                    &format!("messages[{at}].content"),
                    format!(
                        "a part of type {} cannot be sent to an anthropic provider",
                        other.unwrap_or("(none)")
                    ),
                ))
            }
        }
    }
    Ok(blocks)
}

/// An assistant message's content as blocks: its text, then its tool calls.
fn assistant_blocks(message: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    let text = text_of(&message["content"]);
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let arguments = call.pointer("/function/arguments").and_then(Value::as_str);
        let input = arguments
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        blocks.push(json!({"type": "tool_use", "id": call["id"],
            "name": call.pointer("/function/name"), "input": input}));
    }
    blocks
}

/// Appends `blocks` as a `role` turn, merged into the last turn when it has that role.
fn push_turn(turns: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if let Some(last) = turns.last_mut().filter(|t| t["role"] == role) {
        if let Some(content) = last["content"].as_array_mut() {
            content.extend(blocks);
            return;
        }
    }
    turns.push(json!({"role": role, "content": blocks}));
}

/// The system text and the turns of a chat request's messages.
fn turns_of(body: &Value) -> Result<(Vec<String>, Vec<Value>), Unsayable> {
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| unsayable("messages", "must be a non-empty list"))?;
    let mut system = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    for (at, message) in messages.iter().enumerate() {
        match message["role"].as_str().unwrap_or_default() {
            "system" | "developer" => system.push(text_of(&message["content"])),
            "user" => push_turn(&mut turns, "user", user_blocks(&message["content"], at)?),
            "assistant" => push_turn(&mut turns, "assistant", assistant_blocks(message)),
            "tool" => {
                let result = json!({"type": "tool_result",
                    "tool_use_id": message["tool_call_id"],
                    "content": text_of(&message["content"])});
                push_turn(&mut turns, "user", vec![result]);
            }
            other => {
                return Err(unsayable(
                    &format!("messages[{at}].role"),
                    format!("role '{other}' cannot be sent to an anthropic provider"),
                ))
            }
        }
    }
    if turns.first().is_none_or(|t| t["role"] != "user") {
        return Err(unsayable(
            "messages",
            "an anthropic provider needs a user message first, after any system messages",
        ));
    }
    Ok((system, turns))
}

/// The request's tools and tool choice, in Anthropic's words.
fn add_tools(body: &Value, out: &mut Map<String, Value>) {
    if let Some(tools) = body["tools"].as_array().filter(|t| !t.is_empty()) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let function = &tool["function"];
                let mut out = json!({"name": function["name"],
                    "input_schema": function.get("parameters").filter(|p| p.is_object())
                        .cloned().unwrap_or_else(|| json!({"type": "object"}))});
                if let Some(description) = function.get("description").filter(|d| d.is_string()) {
                    out["description"] = description.clone();
                }
                out
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
        let mut choice = match body.get("tool_choice") {
            Some(Value::String(choice)) if choice == "required" => json!({"type": "any"}),
            Some(Value::String(choice)) if choice == "none" => json!({"type": "none"}),
            Some(Value::Object(choice)) => json!({"type": "tool",
                "name": choice.get("function").and_then(|f| f.get("name"))}),
            _ => json!({"type": "auto"}),
        };
        if body.get("parallel_tool_calls") == Some(&json!(false)) && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        out.insert("tool_choice".into(), choice);
    }
}

/// The Messages request for an OpenAI chat completion request, for the provider's `model`.
pub fn request(body: &Value, model: &str) -> Result<Value, Unsayable> {
    if body
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n != 1)
    {
        return Err(unsayable(
            "n",
            "an anthropic provider answers one choice (n = 1)",
        ));
    }
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err(unsayable(
            "logprobs",
            "an anthropic provider reports no logprobs",
        ));
    }
    let kind = body
        .pointer("/response_format/type")
        .and_then(Value::as_str);
    if kind.is_some_and(|k| k != "text") {
        return Err(unsayable(
            "response_format",
            "an anthropic provider takes no response_format: ask for JSON in the prompt, or use a tool",
        ));
    }
    let (system, turns) = turns_of(body)?;
    let max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("max_tokens".into(), json!(max_tokens));
    out.insert("messages".into(), Value::Array(turns));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    if let Some(temperature) = body.get("temperature").and_then(Value::as_f64) {
        // OpenAI's range is 0 to 2; Anthropic's 0 to 1.
        out.insert("temperature".into(), json!(temperature.clamp(0.0, 1.0)));
    }
    if let Some(top_p) = body.get("top_p").filter(|v| v.is_number()) {
        out.insert("top_p".into(), top_p.clone());
    }
    match body.get("stop") {
        Some(Value::String(stop)) => {
            out.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) if !stops.is_empty() => {
            out.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    add_tools(body, &mut out);
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), json!(true));
    }
    if let Some(user) = body.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(out))
}

/// OpenAI's finish reason for Anthropic's stop reason.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Input tokens, the cached ones included.
fn input_tokens(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|name| usage.get(*name).and_then(Value::as_u64))
    .sum()
}

/// OpenAI's `usage` (the one the gateway writes for node models).
fn usage_json(prompt: u64, completion: u64) -> Value {
    crate::routes::chat::usage_json(&InferenceUsage {
        calls: 1,
        prompt_tokens: prompt,
        completion_tokens: completion,
        ..InferenceUsage::default()
    })
}

/// A Messages answer as a `chat.completion` under `model_id`.
pub fn answer(message: &Value, model_id: &str, created: i64) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in message["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(json!({"id": block["id"], "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()}})),
            _ => {}
        }
    }
    let mut reply = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if text.is_empty() {
            reply["content"] = Value::Null;
        }
        reply["tool_calls"] = Value::Array(calls);
    }
    let usage = &message["usage"];
    json!({
        "id": format!("chatcmpl-{}", message["id"].as_str().unwrap_or_default()),
        "object": "chat.completion",
        "created": created,
        "model": model_id,
        "choices": [{"index": 0, "message": reply, "logprobs": null,
            "finish_reason": finish_reason(message["stop_reason"].as_str().unwrap_or_default())}],
        "usage": usage_json(input_tokens(usage),
            usage.get("output_tokens").and_then(Value::as_u64).unwrap_or(0)),
    })
}

/// What one stream event becomes.
#[derive(Debug, Default, PartialEq)]
pub struct Translated {
    /// `chat.completion.chunk`s (the last one of a finished answer carries only usage).
    pub chunks: Vec<Value>,
    /// The answer is whole: `[DONE]` follows.
    pub done: bool,
    /// The provider's error message, which ends the stream.
    pub error: Option<String>,
}

/// Turns a Messages stream's events into chat completion chunks, one event at a time.
pub struct StreamTranslator {
    id: String,
    model_id: String,
    created: i64,
    input_tokens: u64,
    output_tokens: u64,
    finish: &'static str,
    /// Tool calls by the content block index that carries them.
    tools: HashMap<u64, usize>,
}

impl StreamTranslator {
    pub fn new(model_id: &str, created: i64) -> Self {
        Self {
            id: String::new(),
            model_id: model_id.to_owned(),
            created,
            input_tokens: 0,
            output_tokens: 0,
            finish: "stop",
            tools: HashMap::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": format!("chatcmpl-{}", self.id), "object": "chat.completion.chunk",
            "created": self.created, "model": self.model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// One event's data (its `type` names the event).
    pub fn event(&mut self, data: &Value) -> Translated {
        let mut out = Translated::default();
        match data["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let message = &data["message"];
                self.id = message["id"].as_str().unwrap_or_default().to_owned();
                self.input_tokens = input_tokens(&message["usage"]);
                self.output_tokens = message
                    .pointer("/usage/output_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                out.chunks
                    .push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let block = &data["content_block"];
                if block["type"] == "tool_use" {
                    let index = self.tools.len();
                    let block_index = data["index"].as_u64().unwrap_or_default();
                    self.tools.insert(block_index, index);
                    out.chunks.push(self.chunk(
                        json!({"tool_calls": [{"index": index, "id": block["id"], "type": "function",
                            "function": {"name": block["name"], "arguments": ""}}]}),
                        None,
                    ));
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        out.chunks
                            .push(self.chunk(json!({"content": delta["text"]}), None));
                    }
                    Some("input_json_delta") => {
                        let block_index = data["index"].as_u64().unwrap_or_default();
                        if let Some(index) = self.tools.get(&block_index) {
                            out.chunks.push(self.chunk(
                                json!({"tool_calls": [{"index": index,
                                    "function": {"arguments": delta["partial_json"]}}]}),
                                None,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finish = finish_reason(reason);
                }
                if let Some(tokens) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.output_tokens = tokens;
                }
            }
            "message_stop" => {
                out.chunks.push(self.chunk(json!({}), Some(self.finish)));
                let mut usage = self.chunk(json!({}), None);
                usage["choices"] = json!([]);
                usage["usage"] = usage_json(self.input_tokens, self.output_tokens);
                out.chunks.push(usage);
                out.done = true;
            }
            "error" => {
                out.error = Some(
                    data.pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or("the provider's stream failed")
                        .to_owned(),
                );
            }
            // `ping`, `content_block_stop`, and events added since.
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_request_becomes_a_messages_request() {
        let body = json!({
            "model": "acme/claude-x", "temperature": 1.5, "stop": "END", "user": "u1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                    "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "user", "content": "And tomorrow?"}
            ],
            "tools": [{"type": "function", "function": {"name": "weather",
                "description": "Weather now", "parameters": {"type": "object",
                "properties": {"city": {"type": "string"}}}}}],
            "tool_choice": "required", "parallel_tool_calls": false
        });
        let out = request(&body, "claude-x").unwrap();
        assert_eq!(out["model"], "claude-x");
        assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(out["system"], "Be brief.");
        assert_eq!(out["temperature"], 1.0);
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(out["metadata"], json!({"user_id": "u1"}));
        let turns = out["messages"].as_array().unwrap();
        let roles: Vec<&str> = turns.iter().map(|t| t["role"].as_str().unwrap()).collect();
        // The tool result and the next question merge into one user turn.
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(
            turns[0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            turns[1]["content"][0],
            json!({"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}})
        );
        assert_eq!(
            turns[2]["content"][0],
            json!({"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"})
        );
        assert_eq!(
            turns[2]["content"][1],
            json!({"type": "text", "text": "And tomorrow?"})
        );
        assert_eq!(
            out["tools"][0]["input_schema"]["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(
            out["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
        assert!(out.get("stream").is_none());
    }

    #[test]
    fn what_cannot_be_said_is_refused_with_its_field() {
        let ask = |extra: Value| {
            let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            request(&body, "m").map(|_| ()).map_err(|e| e.param)
        };
        assert_eq!(ask(json!({"n": 2})), Err("n".into()));
        assert_eq!(ask(json!({"logprobs": true})), Err("logprobs".into()));
        assert_eq!(
            ask(json!({"response_format": {"type": "json_object"}})),
            Err("response_format".into())
        );
        assert_eq!(
            ask(json!({"messages": [{"role": "assistant", "content": "hi"}]})),
            Err("messages".into())
        );
        assert_eq!(ask(json!({"messages": []})), Err("messages".into()));
        assert_eq!(ask(json!({"max_tokens": 5})), Ok(()));
    }

    #[test]
    fn an_answer_becomes_a_chat_completion() {
        let message = json!({"id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7}});
        let out = answer(&message, "acme/claude-x", 42);
        assert_eq!(out["model"], "acme/claude-x");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        let call = &out["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "weather");
        assert_eq!(
            serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
            json!({"city": "Paris"})
        );
        assert_eq!(out["usage"], usage_json(15, 7));
    }

    #[test]
    fn a_stream_of_events_becomes_chunks() {
        let mut t = StreamTranslator::new("acme/claude-x", 1);
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        ];
        let chunks: Vec<Value> = events.iter().flat_map(|e| t.event(e).chunks).collect();
        let text: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect();
        assert_eq!(text, "Hello");
        let arguments: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                    .and_then(Value::as_str)
            })
            .collect();
        assert_eq!(arguments, "{\"city\": \"Paris\"}");
        assert!(chunks
            .iter()
            .all(|c| c["model"] == "acme/claude-x" && c["id"] == "chatcmpl-msg_1"));
        let end = t.event(&json!({"type": "message_stop"}));
        assert!(end.done);
        assert_eq!(end.chunks[0]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(end.chunks[1]["usage"], usage_json(12, 9));
        let failed = t.event(&json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
        assert_eq!(failed.error.as_deref(), Some("Overloaded"));
    }

    #[test]
    fn the_messages_url_follows_the_base_url() {
        assert_eq!(
            messages_url("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            messages_url("https://gw.example/anthropic/v1"),
            "https://gw.example/anthropic/v1/messages"
        );
    }
}
