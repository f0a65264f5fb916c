//! OpenAI's Responses API, stateless: a `POST /v1/responses` body read as the chat
//! completion it means, so it takes the same checks and the same path to a node.
//!
//! `input` (a string, or items: messages, `function_call`s and their
//! `function_call_output`s) and `instructions` become the conversation; function `tools`,
//! `tool_choice`, `text.format` and `max_output_tokens` become their chat forms. What
//! needs stored state (`store: true`, `previous_response_id`, `conversation`) or a tool
//! CyNode does not run (web search, file search, computer use…) is refused with a 400
//! naming the field.

use serde_json::{json, Map, Value};

use super::{invalid_param as invalid, unsupported_param as unsupported};
use crate::error::{Error, Result};
use crate::wire::ChatCompletionRequest;
use crate::ErrorCode;

/// Fields that need stored state, and fields no node serves: refused unless absent,
/// null or empty, so a client never silently gets less than it asked for. Other fields
/// are read below or ignored, as other OpenAI-compatible servers do.
const NEEDS_STATE: &[&str] = &["previous_response_id", "conversation"];
const NOT_SERVED: &[&str] = &[
    "background",
    "prompt",
    "reasoning",
    "max_tool_calls",
    "top_logprobs",
];

/// The chat completion a Responses request means.
pub fn chat_request_of(body: &Value) -> Result<ChatCompletionRequest> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("input", "the body must be a JSON object"));
    };
    for name in NEEDS_STATE {
        if fields.get(*name).is_some_and(|v| !v.is_null()) {
            return Err(unsupported(
                name,
                "CyNode's Responses API is stateless; send the whole conversation as input items",
            ));
        }
    }
    if fields.get("store") == Some(&Value::Bool(true)) {
        return Err(unsupported(
            "store",
            "CyNode keeps no responses to fetch later (leave store out, or false); every answer is a task, GET /v1/tasks/{id}/result",
        ));
    }
    for name in NOT_SERVED {
        let value = fields.get(*name);
        let harmless = match value {
            None | Some(Value::Null) => true,
            Some(Value::Array(items)) => items.is_empty(),
            Some(_) => false,
        };
        if !harmless {
            return Err(unsupported(
                name,
                "no node's model server offers it through CyNode",
            ));
        }
    }
    if fields
        .get("truncation")
        .is_some_and(|v| !v.is_null() && v != "disabled")
    {
        return Err(unsupported("truncation", "only 'disabled' is served"));
    }
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        fields.get("model").cloned().unwrap_or(Value::Null),
    );
    chat.insert("messages".into(), Value::Array(messages(fields)?));
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("max_output_tokens", "max_completion_tokens"),
        ("user", "user"),
    ] {
        if let Some(value) = fields.get(from).filter(|v| !v.is_null()) {
            chat.insert(to.into(), value.clone());
        }
    }
    if fields.get("stream") == Some(&Value::Bool(true)) {
        chat.insert("stream".into(), Value::Bool(true));
        // The closing `response.completed` event carries the usage.
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(tools) = fields.get("tools").filter(|v| !v.is_null()) {
        chat.insert("tools".into(), chat_tools(tools)?);
    }
    if let Some(choice) = fields.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), chat_tool_choice(choice)?);
    }
    if let Some(format) = fields
        .get("text")
        .and_then(|text| text.get("format"))
        .filter(|v| !v.is_null())
    {
        if let Some(format) = response_format(format)? {
            chat.insert("response_format".into(), format);
        }
    }
    serde_json::from_value(Value::Object(chat))
        .map_err(|err| invalid("input", format!("request body: {err}")))
}

/// `instructions` as the system message, then `input`.
fn messages(fields: &Map<String, Value>) -> Result<Vec<Value>> {
    let mut messages = Vec::new();
    match fields.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.push(json!({"role": "system", "content": text})),
        Some(_) => return Err(invalid("instructions", "instructions must be a string")),
    }
    match fields.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                add_item(&mut messages, item, index)?;
            }
        }
        None | Some(Value::Null) => return Err(invalid("input", "input is required")),
        Some(_) => {
            return Err(invalid(
                "input",
                "input must be a string or a list of items",
            ))
        }
    }
    if messages.iter().all(|m| m["role"] == "system") {
        return Err(invalid("input", "input must hold at least one message"));
    }
    Ok(messages)
}

fn add_item(messages: &mut Vec<Value>, item: &Value, index: usize) -> Result<()> {
    let param = format!("input[{index}]");
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = match item.get("role").and_then(Value::as_str) {
                Some("developer") | Some("system") => "system",
                Some("user") => "user",
                Some("assistant") => "assistant",
                _ => return Err(invalid(&param, "a message's role is user, assistant, system or developer")),
            };
            messages.push(json!({"role": role, "content": item_text(item.get("content"), &param)?}));
        }
        "function_call" => {
            let field = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&param, format!("a function_call item needs '{name}'")))
            };
            let call = json!({"id": field("call_id")?, "type": "function",
                "function": {"name": field("name")?, "arguments": field("arguments")?}});
            // Calls of one turn are one assistant message, as chat completions have them.
            match messages.last_mut() {
                Some(last) if last["role"] == "assistant" && last["tool_calls"].is_array() => {
                    last["tool_calls"].as_array_mut().expect("an array").push(call);
                }
                _ => messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        "function_call_output" => {
            let call_id = item.get("call_id").and_then(Value::as_str).ok_or_else(|| {
                invalid(&param, "a function_call_output item needs 'call_id'")
            })?;
            let output = match item.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => item_text(Some(other), &param)?,
                None => return Err(invalid(&param, "a function_call_output item needs 'output'")),
            };
            messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
        }
        other => {
            return Err(Error::validation(
                ErrorCode::UnsupportedValue,
                format!("{param}: items of type '{other}' are not supported (messages, function_call and function_call_output are)"),
            )
            .with_param(param))
        }
    }
    Ok(())
}

/// A message's content: a string, or text parts (`input_text`, `output_text`).
fn item_text(content: Option<&Value>, param: &str) -> Result<String> {
    match content {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text" | "text") => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some(other) => {
                        return Err(Error::validation(
                            ErrorCode::UnsupportedValue,
                            format!("{param}: content parts of type '{other}' are not supported (text parts are)"),
                        )
                        .with_param(param))
                    }
                    None => return Err(invalid(param, "a content part needs a 'type'")),
                }
            }
            Ok(text)
        }
        _ => Err(invalid(
            param,
            "a message's content is a string or a list of text parts",
        )),
    }
}

/// Function tools in chat's form; other tool types are refused.
fn chat_tools(tools: &Value) -> Result<Value> {
    let Some(tools) = tools.as_array() else {
        return Err(invalid("tools", "tools must be a list"));
    };
    let mut chat = Vec::new();
    for tool in tools {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {
                let mut function = Map::new();
                for field in ["name", "description", "parameters", "strict"] {
                    if let Some(value) = tool.get(field).filter(|v| !v.is_null()) {
                        function.insert(field.into(), value.clone());
                    }
                }
                chat.push(json!({"type": "function", "function": function}));
            }
            other => {
                return Err(Error::validation(
                    ErrorCode::UnsupportedValue,
                    format!(
                        "tools of type '{}' are not supported: CyNode runs function tools, which your code calls",
                        other.unwrap_or("(none)")
                    ),
                )
                .with_param("tools"))
            }
        }
    }
    Ok(Value::Array(chat))
}

fn chat_tool_choice(choice: &Value) -> Result<Value> {
    match choice {
        Value::String(_) => Ok(choice.clone()),
        Value::Object(named) if named.get("type") == Some(&json!("function")) => {
            let name = named.get("name").cloned().unwrap_or(Value::Null);
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(Error::validation(
            ErrorCode::UnsupportedValue,
            "tool_choice is 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": …}",
        )
        .with_param("tool_choice")),
    }
}

/// `text.format` as chat's `response_format` (`None` for plain text).
fn response_format(format: &Value) -> Result<Option<Value>> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for field in ["name", "description", "schema", "strict"] {
                if let Some(value) = format.get(field).filter(|v| !v.is_null()) {
                    schema.insert(field.into(), value.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(Error::validation(
            ErrorCode::UnsupportedValue,
            "text.format's type is text, json_object or json_schema",
        )
        .with_param("text.format")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::check_completion;

    #[test]
    fn a_string_input_with_instructions_is_a_system_and_a_user_message() {
        let req = chat_request_of(&json!({
            "model": "smollm2:135m", "instructions": "Be brief.", "input": "Hi",
            "max_output_tokens": 20, "stream": true
        }))
        .unwrap();
        assert_eq!(
            req.messages,
            [
                json!({"role": "system", "content": "Be brief."}),
                json!({"role": "user", "content": "Hi"})
            ]
        );
        assert_eq!(req.max_completion_tokens, Some(20));
        assert!(req.stream && req.stream_options.unwrap().include_usage);
    }

    #[test]
    fn a_tool_round_trip_in_items_becomes_chat_messages_and_passes_the_chat_checks() {
        let body = json!({
            "model": "smollm2:135m",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": "{\"city\":\"Lyon\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                {"type": "function_call_output", "call_id": "call_2", "output": "rain"}
            ],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object",
                "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}],
            "tool_choice": {"type": "function", "name": "weather"}
        });
        let req = chat_request_of(&body).unwrap();
        assert_eq!(req.messages.len(), 4);
        assert_eq!(req.messages[1]["tool_calls"].as_array().unwrap().len(), 2);
        assert_eq!(
            req.messages[3],
            json!({"role": "tool", "tool_call_id": "call_2", "content": "rain"})
        );
        assert_eq!(
            req.tools.as_ref().unwrap()[0]["function"]["name"],
            "weather"
        );
        assert_eq!(
            req.tool_choice.as_ref().unwrap()["function"]["name"],
            "weather"
        );
        check_completion(req).unwrap();

        let shaped = chat_request_of(&json!({"model": "m", "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}}}))
        .unwrap();
        assert_eq!(
            shaped.response_format.as_ref().unwrap(),
            &json!({"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}})
        );
        check_completion(shaped).unwrap();
    }

    #[test]
    fn what_needs_state_or_tools_cynode_does_not_run_is_refused_naming_the_field() {
        let base = || json!({"model": "m", "input": "hi"});
        for (field, value, code, param) in [
            (
                "store",
                json!(true),
                ErrorCode::UnsupportedParameter,
                "store",
            ),
            (
                "previous_response_id",
                json!("resp_1"),
                ErrorCode::UnsupportedParameter,
                "previous_response_id",
            ),
            (
                "reasoning",
                json!({"effort": "high"}),
                ErrorCode::UnsupportedParameter,
                "reasoning",
            ),
            (
                "tools",
                json!([{"type": "web_search"}]),
                ErrorCode::UnsupportedValue,
                "tools",
            ),
            (
                "text",
                json!({"format": {"type": "xml"}}),
                ErrorCode::UnsupportedValue,
                "text.format",
            ),
            (
                "input",
                json!([{"type": "input_image", "image_url": "x"}]),
                ErrorCode::UnsupportedValue,
                "input[0]",
            ),
            ("input", json!(42), ErrorCode::InvalidBody, "input"),
        ] {
            let mut body = base();
            body[field] = value;
            let err = chat_request_of(&body).unwrap_err();
            assert_eq!(
                (err.code, err.param.as_deref()),
                (code, Some(param)),
                "{field}"
            );
        }
        let mut fine = base();
        fine["store"] = json!(false);
        fine["include"] = json!(["reasoning.encrypted_content"]);
        fine["metadata"] = json!({"k": "v"});
        assert!(chat_request_of(&fine).is_ok());
    }
}
