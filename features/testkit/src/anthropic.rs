//! A contract server for Anthropic's Messages API (<https://docs.anthropic.com/en/api/messages>,
//! <https://docs.anthropic.com/en/docs/build-with-claude/streaming>), for the egress's
//! `anthropic` kind: no Anthropic is reachable here. It checks each request against the
//! documented shape and refuses what Anthropic would (400 `invalid_request_error`, 401
//! `authentication_error`), recording every request and its verdict; it answers a valid
//! one as documented, whole or as the documented stream of events.
//!
//! Checked: `POST <root>/v1/messages`; `x-api-key` with the expected key and no
//! `Authorization`; `anthropic-version: 2023-06-01`; a JSON body with only documented
//! top-level fields; `model` a non-empty string; `max_tokens` a positive integer;
//! `messages` a non-empty list of `user` and `assistant` turns starting with `user`, each
//! content a string or a list of known blocks (`text` with text, `image` with a source,
//! `tool_use` with id, name and an object input, `tool_result` with a tool_use_id that an
//! earlier `tool_use` made); `system` a string or text blocks; `temperature` 0 to 1;
//! `stop_sequences` strings; `tools` with names of `[a-zA-Z0-9_-]{1,64}` and an object
//! `input_schema`; `tool_choice` of a known type.
//!
//! Answers: with tools and no tool result yet, a `tool_use` of the first tool with the
//! input `{"city": "Paris"}`; after a tool result, `The tool said: <its content>`;
//! otherwise `Hello from the contract server.`

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::stub_http::StubRequest;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct MessagesRequest {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub status: u16,
    pub refusal: Option<String>,
}

#[derive(Debug)]
pub struct AnthropicContract {
    /// `http://127.0.0.1:<port>`, the API's root (the base URL to register).
    pub url: String,
    requests: Arc<Mutex<Vec<MessagesRequest>>>,
}

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
];

impl AnthropicContract {
    /// Listens on a free local port for calls with `key`.
    pub fn start(key: &str) -> std::io::Result<AnthropicContract> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let key = key.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, key) = (seen.clone(), key.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen, &key);
                });
            }
        });
        Ok(AnthropicContract { url, requests })
    }

    pub fn requests(&self) -> Vec<MessagesRequest> {
        self.requests.lock().expect("contract lock").clone()
    }
}

fn blocks_ok(content: &Value, tool_ids: &mut Vec<String>) -> Result<(), String> {
    let blocks = match content {
        Value::String(text) if !text.is_empty() => return Ok(()),
        Value::Array(blocks) if !blocks.is_empty() => blocks,
        _ => return Err("content must be a non-empty string or list of blocks".into()),
    };
    for block in blocks {
        match block["type"].as_str() {
            Some("text") if block["text"].is_string() => {}
            Some("image") if block["source"].is_object() => {}
            Some("tool_use")
                if block["id"].is_string()
                    && block["name"].is_string()
                    && block["input"].is_object() =>
            {
                tool_ids.push(block["id"].as_str().unwrap_or_default().to_owned());
            }
            Some("tool_result") => {
                let id = block["tool_use_id"].as_str().unwrap_or_default();
                if !tool_ids.iter().any(|known| known == id) {
                    return Err(format!("tool_result for unknown tool_use_id '{id}'"));
                }
            }
            _ => return Err(format!("invalid content block: {block}")),
        }
    }
    Ok(())
}

/// Why Anthropic would refuse `body`, if it would.
fn refusal(body: &Value) -> Option<String> {
    let object = body.as_object()?;
    if let Some(extra) = object.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Some(format!("{extra}: Extra inputs are not permitted"));
    }
    if body["model"].as_str().is_none_or(|m| m.is_empty()) {
        return Some("model: Field required".into());
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        return Some("max_tokens: Field required (a positive integer)".into());
    }
    let messages = body["messages"].as_array().filter(|m| !m.is_empty());
    let Some(messages) = messages else {
        return Some("messages: at least one message is required".into());
    };
    let mut tool_ids = Vec::new();
    for (at, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if !["user", "assistant"].contains(&role) {
            return Some(format!(
                "messages.{at}.role: Input should be 'user' or 'assistant'"
            ));
        }
        if at == 0 && role != "user" {
            return Some("messages: first message must use the \"user\" role".into());
        }
        if let Err(why) = blocks_ok(&message["content"], &mut tool_ids) {
            return Some(format!("messages.{at}.content: {why}"));
        }
    }
    match &body["system"] {
        Value::Null | Value::String(_) => {}
        Value::Array(blocks) if blocks.iter().all(|b| b["type"] == "text") => {}
        _ => return Some("system: Input should be a string or text blocks".into()),
    }
    if let Some(t) = body.get("temperature") {
        if !t.as_f64().is_some_and(|t| (0.0..=1.0).contains(&t)) {
            return Some("temperature: Input should be between 0 and 1".into());
        }
    }
    if let Some(stops) = body.get("stop_sequences") {
        if !stops
            .as_array()
            .is_some_and(|s| s.iter().all(Value::is_string))
        {
            return Some("stop_sequences: Input should be a list of strings".into());
        }
    }
    for tool in body["tools"].as_array().into_iter().flatten() {
        let name = tool["name"].as_str().unwrap_or_default();
        let good_name = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !good_name || tool["input_schema"]["type"] != "object" {
            return Some(format!("tools: invalid tool {tool}"));
        }
    }
    if let Some(choice) = body.get("tool_choice") {
        if !["auto", "any", "tool", "none"].contains(&choice["type"].as_str().unwrap_or_default()) {
            return Some("tool_choice: unknown type".into());
        }
    }
    None
}

/// The answer's content blocks for a valid request.
fn content_for(body: &Value) -> (Vec<Value>, &'static str) {
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    let tool_result = last["content"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["type"] == "tool_result")
        .map(|b| match &b["content"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
    if let Some(result) = tool_result {
        let text = format!("The tool said: {result}");
        return (vec![json!({"type": "text", "text": text})], "end_turn");
    }
    if let Some(tool) = body["tools"].as_array().and_then(|t| t.first()) {
        let call = json!({"type": "tool_use", "id": "toolu_01contract", "name": tool["name"],
            "input": {"city": "Paris"}});
        return (vec![call], "tool_use");
    }
    let text = json!({"type": "text", "text": "Hello from the contract server."});
    (vec![text], "end_turn")
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<MessagesRequest>>, key: &str) -> std::io::Result<()> {
    let request = StubRequest::read(&stream)?;
    let (method, path, headers) = (&request.method, request.path.clone(), &request.headers);
    let header = |name: &str| request.header(name);
    let body = request.json();

    let (status, kind, why) = if method != "POST" || path != "/v1/messages" {
        (
            404,
            "not_found_error",
            Some(format!("no route {method} {path}")),
        )
    } else if header("authorization").is_some() {
        (
            401,
            "authentication_error",
            Some("send the key as x-api-key, not Authorization".into()),
        )
    } else if header("x-api-key").as_deref() != Some(key) {
        (
            401,
            "authentication_error",
            Some("invalid x-api-key".into()),
        )
    } else if header("anthropic-version").as_deref() != Some("2023-06-01") {
        (
            400,
            "invalid_request_error",
            Some("anthropic-version: header is required".into()),
        )
    } else if let Some(why) = refusal(&body) {
        (400, "invalid_request_error", Some(why))
    } else {
        (200, "", None)
    };
    seen.lock().expect("contract lock").push(MessagesRequest {
        path,
        headers: headers.clone(),
        body: body.clone(),
        status,
        refusal: why.clone(),
    });
    let mut out = stream;
    if let Some(message) = why {
        let error = json!({"type": "error", "error": {"type": kind, "message": message}});
        return respond(&mut out, status, "application/json", &error.to_string());
    }
    let (content, stop_reason) = content_for(&body);
    if body["stream"] != json!(true) {
        let message = json!({"id": "msg_01contract", "type": "message", "role": "assistant",
            "model": body["model"], "content": content, "stop_reason": stop_reason,
            "stop_sequence": null, "usage": {"input_tokens": 21, "output_tokens": 9}});
        return respond(&mut out, 200, "application/json", &message.to_string());
    }
    let mut events = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_01contract",
            "type": "message", "role": "assistant", "model": body["model"], "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 21, "output_tokens": 1}}}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    for (index, block) in content.iter().enumerate() {
        if block["type"] == "text" {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start",
                "index": index, "content_block": {"type": "text", "text": ""}}),
            ));
            let text = block["text"].as_str().unwrap_or_default();
            for piece in text.split_inclusive(' ') {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta",
                    "index": index, "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
        } else {
            events.push((
                "content_block_start",
                json!({"type": "content_block_start",
                "index": index, "content_block": {"type": "tool_use", "id": block["id"],
                "name": block["name"], "input": {}}}),
            ));
            let input = block["input"].to_string();
            let (a, b) = input.split_at(input.len() / 2);
            for piece in [a, b] {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta",
                    "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
        }
        events.push((
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push((
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": 9}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    for (name, data) in events {
        write!(out, "event: {name}\ndata: {data}\n\n")?;
        out.flush()?;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

fn respond(out: &mut TcpStream, status: u16, kind: &str, text: &str) -> std::io::Result<()> {
    crate::stub_http::respond(out, status, kind, &[], text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_refuses_what_anthropic_would() {
        let good = json!({"model": "m", "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(refusal(&good), None);
        let mut bad = good.clone();
        bad["n"] = json!(2);
        assert!(refusal(&bad).unwrap().contains("Extra inputs"));
        let mut bad = good.clone();
        bad["messages"] = json!([{"role": "system", "content": "x"}]);
        assert!(refusal(&bad).is_some());
        let mut bad = good.clone();
        bad["messages"] =
            json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]);
        assert!(refusal(&bad).unwrap().contains("unknown tool_use_id"));
        let mut bad = good;
        bad["temperature"] = json!(1.5);
        assert!(refusal(&bad).is_some());
    }
}
