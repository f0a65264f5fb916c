//! Tool calls answered by any model server: the node shapes the model's answer itself.
//!
//! Model servers differ in how (and whether) they honour `tools`: llama-server needs its
//! Jinja mode and a template that knows tools, and even then a small model may answer
//! prose when `tool_choice` says `required`. Every server nodes run does honour a JSON
//! schema as `response_format`, so the node turns the tools into one: the answer must be
//! `{"content": "..."}` or `{"tool_calls": [{"name": ..., "arguments": {...}}]}`, with
//! each call's arguments held to that tool's parameter schema and only the choices
//! `tool_choice` allows. The tools are described to the model in a system message, the
//! conversation's earlier calls and results are written back in the same JSON, and the
//! answer is read back into OpenAI's `tool_calls`. What the client sees is OpenAI's
//! shape; what the model sees is a plain conversation.

use serde_json::{json, Map, Value};

use cynode_protocol::wire::{ChatMessage, ChatOptions, FunctionCall, ToolCall, ToolChoice};

/// What the model is sent for a completion with tools.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub messages: Vec<Value>,
    pub response_format: Value,
}

/// How one completion's answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    /// `tool_calls`, or the model's own reason (`stop`, `length`).
    pub finish_reason: String,
}

/// The tools the model may call under `tool_choice`.
fn allowed(options: &ChatOptions) -> Vec<&Value> {
    options
        .tools
        .iter()
        .filter(|tool| match &options.tool_choice {
            Some(ToolChoice::Function(name)) => tool["function"]["name"] == name.as_str(),
            _ => true,
        })
        .collect()
}

/// A tool's parameter schema as the answer must follow it: an object schema that says
/// nothing of other properties is closed, so that a small model cannot wander off into
/// keys the tool does not take.
fn arguments_schema(tool: &Value) -> Value {
    let mut schema = tool["function"]["parameters"].clone();
    if let Some(object) = schema.as_object_mut() {
        if object.get("type") == Some(&json!("object"))
            && !object.contains_key("additionalProperties")
        {
            object.insert("additionalProperties".into(), Value::Bool(false));
            object.entry("properties").or_insert_with(|| json!({}));
        }
    }
    schema
}

/// The JSON schema the model's answer must follow.
pub fn answer_schema(options: &ChatOptions) -> Value {
    let calls: Vec<Value> = allowed(options)
        .into_iter()
        .map(|tool| {
            json!({
                "type": "object",
                "properties": {
                    "name": {"const": tool["function"]["name"]},
                    "arguments": arguments_schema(tool),
                },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    // One call per tool at most: small models otherwise repeat a call until cut off.
    let most = if options.one_tool_call {
        1
    } else {
        calls.len().max(1)
    };
    let with_calls = json!({
        "type": "object",
        "properties": {"tool_calls": {
            "type": "array", "minItems": 1, "maxItems": most,
            "items": if calls.len() == 1 { calls[0].clone() } else { json!({"anyOf": calls}) },
        }},
        "required": ["tool_calls"],
        "additionalProperties": false,
    });
    match options.tool_choice {
        Some(ToolChoice::Required) | Some(ToolChoice::Function(_)) => with_calls,
        _ => json!({"anyOf": [
            {"type": "object", "properties": {"content": {"type": "string"}},
             "required": ["content"], "additionalProperties": false},
            with_calls,
        ]}),
    }
}

/// The system message that tells the model what it may call and how to answer.
fn instructions(options: &ChatOptions) -> String {
    let tools: Vec<Value> = allowed(options)
        .into_iter()
        .map(|tool| {
            let f = &tool["function"];
            let mut line = Map::new();
            line.insert("name".into(), f["name"].clone());
            if !f["description"].is_null() {
                line.insert("description".into(), f["description"].clone());
            }
            line.insert("parameters".into(), f["parameters"].clone());
            Value::Object(line)
        })
        .collect();
    let how = match options.tool_choice {
        Some(ToolChoice::Required) | Some(ToolChoice::Function(_)) => {
            "Answer only with JSON: {\"tool_calls\": [{\"name\": <function>, \"arguments\": {...}}]}."
        }
        _ => {
            "If a function helps, answer only with JSON: {\"tool_calls\": [{\"name\": <function>, \"arguments\": {...}}]}. Otherwise answer with JSON: {\"content\": <your answer>}."
        }
    };
    format!(
        "You can call these functions:\n{}\n{how} A function's result comes back to you in a later message.",
        serde_json::to_string_pretty(&tools).unwrap_or_default()
    )
}

/// A message of the conversation as the model is sent it: earlier calls in the answer's
/// own JSON, tool results as text the model can read whatever its chat template.
fn plain(message: &ChatMessage) -> Value {
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                let arguments = serde_json::from_str::<Value>(&call.function.arguments)
                    .unwrap_or_else(|_| Value::String(call.function.arguments.clone()));
                json!({"name": call.function.name, "arguments": arguments})
            })
            .collect();
        return json!({"role": "assistant", "content": json!({"tool_calls": calls}).to_string()});
    }
    if message.role == "tool" {
        let id = message.tool_call_id.as_deref().unwrap_or("?");
        return json!({"role": "user", "content": format!("Result of the function call {id}:\n{}", message.content)});
    }
    json!({"role": message.role, "content": message.content})
}

/// The conversation and the answer's schema for a completion with tools.
pub fn shape(messages: &[ChatMessage], options: &ChatOptions) -> Shaped {
    let mut sent = vec![json!({"role": "system", "content": instructions(options)})];
    sent.extend(messages.iter().map(plain));
    Shaped {
        messages: sent,
        response_format: json!({"type": "json_schema", "json_schema": {
            "name": "answer", "strict": true, "schema": answer_schema(options)}}),
    }
}

/// A plain conversation as the model server takes it (no tools in play): earlier calls
/// and results still have to be readable.
pub fn plain_messages(messages: &[ChatMessage]) -> Vec<Value> {
    messages.iter().map(plain).collect()
}

/// The part of a cut `{"content": "...` answer that arrived, as text.
fn cut_content(text: &str) -> Option<String> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start();
    let rest = rest
        .strip_prefix("\"content\"")?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    // Close the string where it was cut (dropping a half escape) and read it as JSON.
    let mut body = rest.to_owned();
    while !body.is_empty() {
        if let Ok(Value::String(words)) = serde_json::from_str(&format!("\"{body}\"")) {
            return Some(words);
        }
        body.pop();
    }
    Some(String::new())
}

/// Reads the model's JSON answer back: its content, or its calls with ids
/// `{call_prefix}_{n}`. `model_finish` is the model server's own finish reason.
pub fn read_answer(text: &str, call_prefix: &str, model_finish: &str) -> Answered {
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    let Some(answer) = parsed else {
        // Cut off (max_tokens) or malformed: keep the words of a worded answer.
        return Answered {
            content: cut_content(text).unwrap_or_default(),
            tool_calls: vec![],
            finish_reason: if model_finish == "stop" {
                "stop".into()
            } else {
                model_finish.into()
            },
        };
    };
    let calls: Vec<ToolCall> = answer["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|call| {
            let name = call["name"].as_str()?;
            Some((name.to_owned(), call["arguments"].clone()))
        })
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall {
            id: format!("{call_prefix}_{i}"),
            kind: "function".into(),
            function: FunctionCall {
                name,
                arguments: arguments.to_string(),
            },
        })
        .collect();
    if !calls.is_empty() {
        return Answered {
            content: String::new(),
            tool_calls: calls,
            finish_reason: "tool_calls".into(),
        };
    }
    Answered {
        content: answer["content"].as_str().unwrap_or_default().to_owned(),
        tool_calls: vec![],
        finish_reason: model_finish.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(choice: ToolChoice, one: bool) -> ChatOptions {
        ChatOptions {
            tools: vec![
                json!({"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
                json!({"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}),
            ],
            tool_choice: Some(choice),
            one_tool_call: one,
            ..ChatOptions::default()
        }
    }

    #[test]
    fn the_schema_allows_only_what_tool_choice_allows() {
        let required = answer_schema(&options(ToolChoice::Required, false));
        assert_eq!(required["required"], json!(["tool_calls"]));
        assert_eq!(required["properties"]["tool_calls"]["maxItems"], 2);
        let named = answer_schema(&options(ToolChoice::Function("now".into()), true));
        let item = &named["properties"]["tool_calls"]["items"];
        assert_eq!(item["properties"]["name"]["const"], "now");
        assert_eq!(
            item["properties"]["arguments"]["additionalProperties"],
            false
        );
        assert_eq!(named["properties"]["tool_calls"]["maxItems"], 1);
        let auto = answer_schema(&options(ToolChoice::Auto, false));
        assert_eq!(auto["anyOf"][0]["required"], json!(["content"]));
    }

    #[test]
    fn earlier_calls_and_results_are_written_for_the_model() {
        let mut call = ChatMessage::text("assistant", "");
        call.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
            },
        }];
        let mut result = ChatMessage::text("tool", "18C and sunny");
        result.tool_call_id = Some("call_1".into());
        let shaped = shape(
            &[ChatMessage::text("user", "Weather in Paris?"), call, result],
            &options(ToolChoice::Auto, false),
        );
        assert_eq!(shaped.messages[0]["role"], "system");
        assert!(shaped.messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("get_weather"));
        assert_eq!(
            shaped.messages[2]["content"],
            "{\"tool_calls\":[{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"}]}"
        );
        assert_eq!(shaped.messages[3]["role"], "user");
        assert!(shaped.messages[3]["content"]
            .as_str()
            .unwrap()
            .contains("18C and sunny"));
        assert_eq!(shaped.response_format["json_schema"]["strict"], true);
    }

    #[test]
    fn answers_are_read_back_as_calls_or_content() {
        let calls = read_answer(
            r#"{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "arguments": {}}]}"#,
            "call_t1",
            "stop",
        );
        assert_eq!(calls.finish_reason, "tool_calls");
        assert_eq!(calls.tool_calls[0].id, "call_t1_0");
        assert_eq!(
            calls.tool_calls[0].function.arguments,
            r#"{"city":"Paris"}"#
        );
        assert_eq!(calls.tool_calls[1].function.name, "now");
        let words = read_answer(r#"{"content": "It is sunny."}"#, "c", "stop");
        assert_eq!(
            (words.content.as_str(), words.finish_reason.as_str()),
            ("It is sunny.", "stop")
        );
        let cut = read_answer(r#"{"content": "It is sunny and wa"#, "c", "length");
        assert_eq!(
            (cut.content.as_str(), cut.finish_reason.as_str()),
            ("It is sunny and wa", "length")
        );
        let cut_escape = read_answer(r#"{"content": "a \"quote\" and \u00"#, "c", "length");
        assert_eq!(cut_escape.content, "a \"quote\" and ");
        let cut_call = read_answer(r#"{"tool_calls": [{"name": "now", "argu"#, "c", "length");
        assert!(cut_call.tool_calls.is_empty() && cut_call.content.is_empty());
        assert_eq!(cut_call.finish_reason, "length");
    }
}
