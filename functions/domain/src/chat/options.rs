//! What a completion asks beyond its conversation: sampling, tools, structured output.
//!
//! OpenAI clients send many optional fields, and a server that drops one silently gives
//! the client an answer it did not ask for (prose where JSON was required, text where a
//! tool call was). So each field OpenAI documents is either checked here and passed on
//! to the node, or refused with a 400 that names it (`param`). `docs/openai.md` lists
//! which is which.

use serde_json::{Map, Value};

use super::{invalid_param as invalid, unsupported_param as unsupported};
use crate::error::{Error, Result};
use crate::wire::{ChatCompletionRequest, ChatMessage, ChatOptions, ToolCall, ToolChoice};
use crate::ErrorCode;

/// Most tools one request may offer (OpenAI's own limit).
pub const MAX_TOOLS: usize = 128;
/// Most `stop` sequences (OpenAI's own limit).
const MAX_STOPS: usize = 4;
/// Most alternatives per token in `top_logprobs` (OpenAI's own limit).
const MAX_TOP_LOGPROBS: u64 = 20;

/// A number within `range`, or a 400 naming the field.
fn number_in(param: &str, value: &Value, range: std::ops::RangeInclusive<f64>) -> Result<Value> {
    match value.as_f64() {
        Some(n) if range.contains(&n) => Ok(value.clone()),
        _ => Err(invalid(
            param,
            format!(
                "{param} must be a number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// A tool's function name as OpenAI allows it: 1-64 of `a-zA-Z0-9_-`.
fn check_function_name(param: &str, name: Option<&str>) -> Result<String> {
    match name {
        Some(name)
            if (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(name.to_owned())
        }
        _ => Err(invalid(
            param,
            format!("{param} must be 1-64 letters, digits, '_' or '-'"),
        )),
    }
}

/// One function tool, normalised to `{"type": "function", "function": {name,
/// description?, parameters, strict?}}`.
fn check_tool(i: usize, tool: &Value) -> Result<Value> {
    if tool["type"] != "function" {
        return Err(Error::validation(
            ErrorCode::UnsupportedValue,
            format!("tools[{i}].type must be 'function' (the only kind of tool served here)"),
        )
        .with_param(format!("tools[{i}].type")));
    }
    let function = &tool["function"];
    let name = check_function_name(
        &format!("tools[{i}].function.name"),
        function["name"].as_str(),
    )?;
    let mut normal = Map::new();
    normal.insert("name".into(), Value::String(name));
    match &function["description"] {
        Value::Null => {}
        Value::String(text) => {
            normal.insert("description".into(), Value::String(text.clone()));
        }
        _ => {
            return Err(invalid(
                &format!("tools[{i}].function.description"),
                "a tool's description must be a string",
            ))
        }
    }
    let parameters = match &function["parameters"] {
        // No parameters: a function that takes none.
        Value::Null => serde_json::json!({"type": "object", "properties": {}}),
        Value::Object(schema) => Value::Object(schema.clone()),
        _ => {
            return Err(invalid(
                &format!("tools[{i}].function.parameters"),
                "a tool's parameters must be a JSON schema object",
            ))
        }
    };
    normal.insert("parameters".into(), parameters);
    if let Some(strict) = function.get("strict").filter(|v| !v.is_null()) {
        let strict = strict.as_bool().ok_or_else(|| {
            invalid(
                &format!("tools[{i}].function.strict"),
                "strict must be true or false",
            )
        })?;
        normal.insert("strict".into(), Value::Bool(strict));
    }
    Ok(serde_json::json!({"type": "function", "function": normal}))
}

fn tool_names(tools: &[Value]) -> Vec<&str> {
    tools
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect()
}

fn check_tools(req: &ChatCompletionRequest) -> Result<(Vec<Value>, Option<ToolChoice>)> {
    let tools = match &req.tools {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(tools)) if tools.len() <= MAX_TOOLS => tools
            .iter()
            .enumerate()
            .map(|(i, tool)| check_tool(i, tool))
            .collect::<Result<Vec<_>>>()?,
        Some(_) => {
            return Err(invalid(
                "tools",
                format!("tools must be a list of at most {MAX_TOOLS} function tools"),
            ))
        }
    };
    let names = tool_names(&tools);
    if let Some(dup) = names
        .iter()
        .enumerate()
        .find(|(i, name)| names[..*i].contains(name))
    {
        return Err(invalid("tools", format!("two tools are named '{}'", dup.1)));
    }
    let choice = match &req.tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::String(word)) => match word.as_str() {
            "none" => return Ok((vec![], None)),
            "auto" => Some(ToolChoice::Auto),
            "required" => Some(ToolChoice::Required),
            _ => {
                return Err(invalid(
                    "tool_choice",
                    "tool_choice must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                ))
            }
        },
        Some(named) if named["type"] == "function" => {
            let name = named["function"]["name"].as_str().unwrap_or_default();
            if !names.contains(&name) {
                return Err(invalid(
                    "tool_choice",
                    format!("tool_choice names '{name}', which is not among the tools"),
                ));
            }
            Some(ToolChoice::Function(name.to_owned()))
        }
        Some(_) => {
            return Err(invalid(
                "tool_choice",
                "tool_choice must be 'none', 'auto', 'required' or a named function",
            ))
        }
    };
    if choice.is_some() && tools.is_empty() {
        return Err(invalid(
            "tool_choice",
            "tool_choice needs tools to choose from",
        ));
    }
    Ok((tools, choice))
}

fn check_response_format(format: Option<&Value>) -> Result<Option<Value>> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(serde_json::json!({"type": "json_object"}))),
        Some("json_schema") => {
            let spec = &format["json_schema"];
            let name =
                check_function_name("response_format.json_schema.name", spec["name"].as_str())?;
            let Some(schema) = spec["schema"].as_object() else {
                return Err(invalid(
                    "response_format.json_schema.schema",
                    "response_format.json_schema.schema must be a JSON schema object",
                ));
            };
            let mut normal = serde_json::json!({"name": name, "schema": schema});
            if let Some(strict) = spec["strict"].as_bool() {
                normal["strict"] = Value::Bool(strict);
            }
            Ok(Some(
                serde_json::json!({"type": "json_schema", "json_schema": normal}),
            ))
        }
        _ => Err(invalid(
            "response_format",
            "response_format.type must be 'text', 'json_object' or 'json_schema'",
        )),
    }
}

/// The sampling fields, checked, as the model server takes them.
fn check_sampling(req: &ChatCompletionRequest) -> Result<Map<String, Value>> {
    let mut sampling = Map::new();
    let mut put = |name: &str, value: Value| {
        sampling.insert(name.to_owned(), value);
    };
    if let Some(v) = req.top_p.as_ref().filter(|v| !v.is_null()) {
        put("top_p", number_in("top_p", v, 0.0..=1.0)?);
    }
    for (name, value) in [
        ("presence_penalty", &req.presence_penalty),
        ("frequency_penalty", &req.frequency_penalty),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_null()) {
            put(name, number_in(name, v, -2.0..=2.0)?);
        }
    }
    if let Some(v) = req.seed.as_ref().filter(|v| !v.is_null()) {
        if v.as_i64().is_none() && v.as_u64().is_none() {
            return Err(invalid("seed", "seed must be an integer"));
        }
        put("seed", v.clone());
    }
    match req.stop.as_ref() {
        None | Some(Value::Null) => {}
        Some(Value::String(one)) => put("stop", Value::Array(vec![Value::String(one.clone())])),
        Some(Value::Array(many))
            if many.len() <= MAX_STOPS
                && many
                    .iter()
                    .all(|s| s.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            if !many.is_empty() {
                put("stop", Value::Array(many.clone()));
            }
        }
        Some(_) => {
            return Err(invalid(
                "stop",
                format!("stop must be a string or a list of at most {MAX_STOPS} non-empty strings"),
            ))
        }
    }
    let logprobs = match req.logprobs.as_ref() {
        None | Some(Value::Null) => false,
        Some(Value::Bool(on)) => *on,
        Some(_) => return Err(invalid("logprobs", "logprobs must be true or false")),
    };
    if logprobs {
        put("logprobs", Value::Bool(true));
    }
    if let Some(v) = req.top_logprobs.as_ref().filter(|v| !v.is_null()) {
        match v.as_u64() {
            Some(n) if n <= MAX_TOP_LOGPROBS && logprobs => put("top_logprobs", v.clone()),
            Some(n) if n <= MAX_TOP_LOGPROBS => {
                return Err(invalid("top_logprobs", "top_logprobs needs logprobs: true"))
            }
            _ => {
                return Err(invalid(
                    "top_logprobs",
                    format!("top_logprobs must be 0-{MAX_TOP_LOGPROBS}"),
                ))
            }
        }
    }
    Ok(sampling)
}

/// Refuses the OpenAI fields no node can honour, and `n` other than 1.
fn refuse_unsupported(req: &ChatCompletionRequest) -> Result<()> {
    let refused = [
        (
            "logit_bias",
            &req.logit_bias,
            "token ids differ between the models nodes serve",
        ),
        ("functions", &req.functions, "use tools"),
        ("function_call", &req.function_call, "use tool_choice"),
        ("audio", &req.audio, "the models served here answer in text"),
        (
            "modalities",
            &req.modalities,
            "the models served here answer in text",
        ),
        (
            "prediction",
            &req.prediction,
            "predicted outputs are not served here",
        ),
        (
            "web_search_options",
            &req.web_search_options,
            "no web search is served here",
        ),
    ];
    for (param, value, why) in refused {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(unsupported(param, why));
        }
    }
    match req.n.as_ref() {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(n) if n.as_u64().is_some() => {
            return Err(Error::validation(
                ErrorCode::UnsupportedValue,
                "n must be 1: each completion is one answer (send several requests for several)",
            )
            .with_param("n"))
        }
        Some(_) => return Err(invalid("n", "n must be an integer")),
    }
    if req
        .user
        .as_ref()
        .is_some_and(|u| !u.is_null() && !u.is_string())
    {
        return Err(invalid("user", "user must be a string"));
    }
    match &req.parallel_tool_calls {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Ok(()),
        Some(_) => Err(invalid(
            "parallel_tool_calls",
            "parallel_tool_calls must be true or false",
        )),
    }
}

/// Checks everything but the messages; `agent` when `cynodeai.pm` answers (it runs its
/// own tools in its sandbox and answers in prose, so tools, formats and log
/// probabilities are refused for it).
pub fn check_options(req: &ChatCompletionRequest, agent: bool) -> Result<ChatOptions> {
    refuse_unsupported(req)?;
    let sampling = check_sampling(req)?;
    let (tools, tool_choice) = check_tools(req)?;
    let response_format = check_response_format(req.response_format.as_ref())?;
    if !tools.is_empty() && response_format.is_some() {
        return Err(Error::validation(
            ErrorCode::UnsupportedValue,
            "response_format cannot be combined with tools here: the tools' own schemas shape the answer",
        )
        .with_param("response_format"));
    }
    if agent {
        let asked = [
            ("tools", !tools.is_empty()),
            ("response_format", response_format.is_some()),
            ("logprobs", sampling.contains_key("logprobs")),
        ];
        if let Some((param, _)) = asked.iter().find(|(_, asked)| *asked) {
            return Err(unsupported(
                param,
                "the agent (cynodeai.pm) runs its own tools in its sandbox and answers in prose; name a model from GET /v1/models",
            ));
        }
    }
    Ok(ChatOptions {
        sampling,
        tool_choice: tool_choice.or_else(|| (!tools.is_empty()).then_some(ToolChoice::Auto)),
        tools,
        one_tool_call: req.parallel_tool_calls == Some(Value::Bool(false)),
        response_format,
    })
}

/// One message as OpenAI clients send it: `content` a string, a list of parts (the text
/// ones count) or null (an assistant's tool calls); the assistant's `tool_calls`; a tool
/// result's `tool_call_id`.
pub fn check_message(i: usize, raw: &Value) -> Result<ChatMessage> {
    const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];
    let role = raw["role"].as_str().unwrap_or_default();
    if !ROLES.contains(&role) {
        return Err(invalid(
            &format!("messages[{i}].role"),
            format!("messages[{i}].role must be one of {}", ROLES.join(", ")),
        ));
    }
    let content = match &raw["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        _ => {
            return Err(invalid(
                &format!("messages[{i}].content"),
                format!("messages[{i}].content must be a string or a list of text parts"),
            ))
        }
    };
    // The model servers nodes run know system, not OpenAI's newer developer role.
    let mut message = ChatMessage::text(if role == "developer" { "system" } else { role }, content);
    if role == "assistant" {
        if let Some(calls) = raw.get("tool_calls").filter(|c| !c.is_null()) {
            message.tool_calls = serde_json::from_value::<Vec<ToolCall>>(calls.clone())
                .map_err(|_| {
                    invalid(
                        &format!("messages[{i}].tool_calls"),
                        format!("messages[{i}].tool_calls must be a list of {{id, type, function: {{name, arguments}}}}"),
                    )
                })?;
        }
    }
    if role == "tool" {
        let id = raw["tool_call_id"].as_str().filter(|id| !id.is_empty());
        message.tool_call_id = Some(
            id.ok_or_else(|| {
                invalid(
                    &format!("messages[{i}].tool_call_id"),
                    format!("messages[{i}] is a tool result: it needs the tool_call_id it answers"),
                )
            })?
            .to_owned(),
        );
    }
    if let Some(name) = raw["name"].as_str() {
        message.name = Some(name.to_owned());
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(extra: Value) -> ChatCompletionRequest {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(body).unwrap()
    }

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn sampling_fields_pass_through_checked() {
        let options = check_options(
            &request(json!({"top_p": 0.5, "seed": 7, "stop": "END", "presence_penalty": -1,
                "frequency_penalty": 0.5, "logprobs": true, "top_logprobs": 2, "n": 1, "user": "u1"})),
            false,
        )
        .unwrap();
        assert_eq!(
            Value::Object(options.sampling.clone()),
            json!({"top_p": 0.5, "seed": 7, "stop": ["END"], "presence_penalty": -1,
                   "frequency_penalty": 0.5, "logprobs": true, "top_logprobs": 2})
        );
        assert!(options.logprobs() && options.tools.is_empty());
    }

    #[test]
    fn tools_are_normalised_and_choices_checked() {
        let options = check_options(
            &request(json!({"tools": [weather()], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "parallel_tool_calls": false})),
            false,
        )
        .unwrap();
        assert_eq!(options.tools.len(), 1);
        assert_eq!(
            options.tool_choice,
            Some(ToolChoice::Function("get_weather".into()))
        );
        assert!(options.one_tool_call);
        let auto = check_options(&request(json!({"tools": [weather()]})), false).unwrap();
        assert_eq!(auto.tool_choice, Some(ToolChoice::Auto));
        let none = check_options(
            &request(json!({"tools": [weather()], "tool_choice": "none"})),
            false,
        )
        .unwrap();
        assert!(
            none.is_empty(),
            "tool_choice none drops the tools: {none:?}"
        );
        let bare = json!({"type": "function", "function": {"name": "now"}});
        let no_params = check_options(&request(json!({"tools": [bare]})), false).unwrap();
        assert_eq!(
            no_params.tools[0]["function"]["parameters"]["type"],
            "object"
        );
    }

    #[test]
    fn formats_are_checked() {
        let schema = json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true,
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}});
        let options = check_options(&request(json!({"response_format": schema})), false).unwrap();
        assert_eq!(
            options.response_format.unwrap()["json_schema"]["strict"],
            true
        );
        let text = check_options(
            &request(json!({"response_format": {"type": "text"}})),
            false,
        )
        .unwrap();
        assert!(text.is_empty());
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let refused =
            |extra: Value, agent: bool| check_options(&request(extra), agent).unwrap_err();
        let cases = [
            (json!({"n": 2}), false, ErrorCode::UnsupportedValue, "n"),
            (json!({"n": "two"}), false, ErrorCode::InvalidBody, "n"),
            (
                json!({"logit_bias": {"50256": -100}}),
                false,
                ErrorCode::UnsupportedParameter,
                "logit_bias",
            ),
            (
                json!({"functions": []}),
                false,
                ErrorCode::UnsupportedParameter,
                "functions",
            ),
            (json!({"top_p": 3}), false, ErrorCode::InvalidBody, "top_p"),
            (json!({"seed": 1.5}), false, ErrorCode::InvalidBody, "seed"),
            (
                json!({"stop": ["a", "b", "c", "d", "e"]}),
                false,
                ErrorCode::InvalidBody,
                "stop",
            ),
            (
                json!({"top_logprobs": 2}),
                false,
                ErrorCode::InvalidBody,
                "top_logprobs",
            ),
            (
                json!({"tool_choice": "required"}),
                false,
                ErrorCode::InvalidBody,
                "tool_choice",
            ),
            (
                json!({"tools": [weather()], "tool_choice": {"type": "function", "function": {"name": "other"}}}),
                false,
                ErrorCode::InvalidBody,
                "tool_choice",
            ),
            (
                json!({"tools": [{"type": "code_interpreter"}]}),
                false,
                ErrorCode::UnsupportedValue,
                "tools[0].type",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]}),
                false,
                ErrorCode::InvalidBody,
                "tools[0].function.name",
            ),
            (
                json!({"tools": [weather(), weather()]}),
                false,
                ErrorCode::InvalidBody,
                "tools",
            ),
            (
                json!({"response_format": {"type": "yaml"}}),
                false,
                ErrorCode::InvalidBody,
                "response_format",
            ),
            (
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}),
                false,
                ErrorCode::InvalidBody,
                "response_format.json_schema.schema",
            ),
            (
                json!({"tools": [weather()], "response_format": {"type": "json_object"}}),
                false,
                ErrorCode::UnsupportedValue,
                "response_format",
            ),
            (
                json!({"tools": [weather()]}),
                true,
                ErrorCode::UnsupportedParameter,
                "tools",
            ),
            (
                json!({"response_format": {"type": "json_object"}}),
                true,
                ErrorCode::UnsupportedParameter,
                "response_format",
            ),
            (
                json!({"logprobs": true}),
                true,
                ErrorCode::UnsupportedParameter,
                "logprobs",
            ),
        ];
        for (extra, agent, code, param) in cases {
            let err = refused(extra.clone(), agent);
            assert_eq!(
                (err.code, err.param.as_deref()),
                (code, Some(param)),
                "{extra}: {err}"
            );
        }
        // The agent takes plain sampling fields.
        assert!(check_options(&request(json!({"seed": 1})), true).is_ok());
    }

    #[test]
    fn tool_use_messages_are_read() {
        let call = json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]});
        let message = check_message(1, &call).unwrap();
        assert_eq!(message.tool_calls[0].function.name, "get_weather");
        assert_eq!(message.content, "");
        let result = check_message(
            2,
            &json!({"role": "tool", "tool_call_id": "call_1", "content": "18C"}),
        )
        .unwrap();
        assert_eq!(result.tool_call_id.as_deref(), Some("call_1"));
        let err = check_message(2, &json!({"role": "tool", "content": "18C"})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages[2].tool_call_id"));
        let err =
            check_message(1, &json!({"role": "assistant", "tool_calls": [{"id": 1}]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages[1].tool_calls"));
        assert_eq!(
            check_message(0, &json!({"role": "developer", "content": "be brief"}))
                .unwrap()
                .role,
            "system"
        );
    }
}
