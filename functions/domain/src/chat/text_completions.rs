//! OpenAI's legacy `POST /v1/completions`: a prompt continued as it is, with no chat
//! template, by a model some node serves. Code-completion plugins and older scripts use
//! it. The body is checked as the chat completion it resembles (so sampling fields get
//! the same checks and the same 400s), then kept as a [`TaskInput::Completion`], which
//! the node sends to its model server's own `/v1/completions`.
//!
//! One prompt per request (`n` = 1, `best_of` = 1); `echo`, `suffix` and the legacy
//! `logprobs` are refused naming the field. `max_tokens` defaults to 16, as OpenAI's does.

use serde_json::{json, Map, Value};

use super::{
    check_completion, invalid_param as invalid, unsupported_param as unsupported, Completion,
};
use crate::error::{Error, Result};
use crate::task::TaskInput;
use crate::wire::{ChatCompletionRequest, AGENT_MODEL};
use crate::ErrorCode;

/// OpenAI's default `max_tokens` for a legacy completion.
pub const DEFAULT_MAX_TOKENS: u32 = 16;

/// Fields passed on as their chat forms are checked.
const SAMPLING: &[&str] = &[
    "stream",
    "stream_options",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "user",
    "logit_bias",
];

/// The one prompt of a request: a string, or a list holding one string.
fn prompt_of(prompt: Option<&Value>) -> Result<String> {
    let text = match prompt {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_owned()
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            return Err(Error::validation(
                ErrorCode::UnsupportedValue,
                "prompt: one prompt per request (send several requests for several)",
            )
            .with_param("prompt"))
        }
        Some(Value::Array(_)) => {
            return Err(unsupported(
                "prompt",
                "token ids differ between the models nodes serve; send text",
            ))
        }
        None | Some(Value::Null) => return Err(invalid("prompt", "prompt is required")),
        Some(_) => return Err(invalid("prompt", "prompt must be a string")),
    };
    if text.is_empty() {
        return Err(invalid("prompt", "prompt must not be empty"));
    }
    Ok(text)
}

/// The chat form of the body, for the shared checks of model, size and sampling.
fn chat_form(fields: &Map<String, Value>, prompt: &str) -> Result<ChatCompletionRequest> {
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        fields.get("model").cloned().unwrap_or(Value::Null),
    );
    chat.insert(
        "messages".into(),
        json!([{"role": "user", "content": prompt}]),
    );
    for name in SAMPLING {
        if let Some(value) = fields.get(*name).filter(|v| !v.is_null()) {
            chat.insert((*name).into(), value.clone());
        }
    }
    serde_json::from_value(Value::Object(chat))
        .map_err(|err| invalid("prompt", format!("request body: {err}")))
}

/// Checks `POST /v1/completions`.
pub fn check_text_completion(body: &Value) -> Result<Completion> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("prompt", "the body must be a JSON object"));
    };
    if fields.get("echo") == Some(&Value::Bool(true)) {
        return Err(unsupported(
            "echo",
            "the answer holds only the new text; prepend the prompt yourself",
        ));
    }
    if fields
        .get("suffix")
        .is_some_and(|v| !v.is_null() && v != "")
    {
        return Err(unsupported(
            "suffix",
            "fill-in-the-middle is not served here",
        ));
    }
    match fields.get("best_of") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => {
            return Err(Error::validation(
                ErrorCode::UnsupportedValue,
                "best_of must be 1: each completion is one answer",
            )
            .with_param("best_of"))
        }
    }
    if fields.get("logprobs").is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            "logprobs",
            "use /v1/chat/completions with logprobs: true",
        ));
    }
    if fields.get("model").and_then(Value::as_str) == Some(AGENT_MODEL) {
        return Err(Error::validation(
            ErrorCode::UnsupportedValue,
            "the agent (cynodeai.pm) answers conversations: use /v1/chat/completions, or name a model from GET /v1/models",
        )
        .with_param("model"));
    }
    let prompt = prompt_of(fields.get("prompt"))?;
    let checked = check_completion(chat_form(fields, &prompt)?)?;
    let TaskInput::Chat {
        max_tokens,
        temperature,
        options,
        ..
    } = checked.input
    else {
        unreachable!("check_completion makes a chat input");
    };
    Ok(Completion {
        input: TaskInput::Completion {
            prompt,
            max_tokens: max_tokens.or(Some(DEFAULT_MAX_TOKENS)),
            temperature,
            options,
        },
        ..checked
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_keeps_its_text_and_sampling_and_gets_openais_default_length() {
        let checked = check_text_completion(&json!({
            "model": "smollm2:135m", "prompt": ["def add(a, b):"], "stream": true,
            "temperature": 0, "seed": 7, "stop": "\n\n", "user": "u1",
        }))
        .unwrap();
        assert_eq!(checked.model.as_deref(), Some("smollm2:135m"));
        assert!(checked.stream);
        let TaskInput::Completion {
            prompt,
            max_tokens,
            options,
            ..
        } = checked.input
        else {
            panic!("a completion input");
        };
        assert_eq!(prompt, "def add(a, b):");
        assert_eq!(max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert_eq!(options.sampling["seed"], 7);
        assert_eq!(options.sampling["stop"], json!(["\n\n"]));
        assert!(options.tools.is_empty() && options.response_format.is_none());
    }

    #[test]
    fn what_cannot_be_served_is_refused_naming_the_field() {
        let refused = |body: Value| check_text_completion(&body).unwrap_err();
        for (body, param, code) in [
            (
                json!({"model": "m", "prompt": "x", "echo": true}),
                "echo",
                ErrorCode::UnsupportedParameter,
            ),
            (
                json!({"model": "m", "prompt": "x", "suffix": "y"}),
                "suffix",
                ErrorCode::UnsupportedParameter,
            ),
            (
                json!({"model": "m", "prompt": "x", "best_of": 3}),
                "best_of",
                ErrorCode::UnsupportedValue,
            ),
            (
                json!({"model": "m", "prompt": "x", "logprobs": 2}),
                "logprobs",
                ErrorCode::UnsupportedParameter,
            ),
            (
                json!({"model": "m", "prompt": ["a", "b"]}),
                "prompt",
                ErrorCode::UnsupportedValue,
            ),
            (
                json!({"model": "m", "prompt": [1, 2]}),
                "prompt",
                ErrorCode::UnsupportedParameter,
            ),
            (
                json!({"model": "m", "prompt": ""}),
                "prompt",
                ErrorCode::InvalidBody,
            ),
            (json!({"model": "m"}), "prompt", ErrorCode::InvalidBody),
            (
                json!({"model": "m", "prompt": "x", "n": 2}),
                "n",
                ErrorCode::UnsupportedValue,
            ),
            (
                json!({"model": "m", "prompt": "x", "top_p": 3}),
                "top_p",
                ErrorCode::InvalidBody,
            ),
            (
                json!({"model": AGENT_MODEL, "prompt": "x"}),
                "model",
                ErrorCode::UnsupportedValue,
            ),
        ] {
            let err = refused(body.clone());
            assert_eq!(
                (err.code, err.param.as_deref()),
                (code, Some(param)),
                "{body}"
            );
        }
    }
}
