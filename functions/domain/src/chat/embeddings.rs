//! Embeddings (`POST /v1/embeddings`, Ollama's `/api/embed`): a vector for each input
//! text, made by a model some node serves. Like a completion it is a task, so ownership,
//! the queue, leases and token usage are the task's; its job calls the model server's
//! `/v1/embeddings` and returns the vectors as exact `f32`s (`wire::EmbeddingsOutput`).
//!
//! A request holds at most [`MAX_EMBEDDING_INPUTS`] texts (a result carries 256 KiB of
//! vectors: 80 of a 576-dimension model's, 15 of a 4096-dimension one's; a node refuses
//! more than fits, naming the limit). Token-id inputs and `dimensions` are refused.

use serde_json::Value;

use super::{invalid_param as invalid, unsupported_param as unsupported, Completion};
use crate::error::{Error, Result};
use crate::limits::MAX_PROMPT_BYTES;
use crate::task::{check_model_name, TaskInput};
use crate::wire::AGENT_MODEL;
use crate::ErrorCode;

/// Most texts one request may embed.
pub const MAX_EMBEDDING_INPUTS: usize = 128;

/// How vectors go back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingEncoding {
    /// Lists of numbers.
    Float,
    /// The base64 of each vector's little-endian `f32`s.
    Base64,
}

/// The texts of `input` (OpenAI's and Ollama's: a string or a list of strings).
pub fn inputs_of(input: Option<&Value>) -> Result<Vec<String>> {
    let texts = match input {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .map(|item| item.as_str().unwrap_or_default().to_owned())
            .collect(),
        Some(Value::Array(_)) => {
            return Err(unsupported(
                "input",
                "token ids differ between the models nodes serve; send text",
            ))
        }
        None | Some(Value::Null) => return Err(invalid("input", "input is required")),
        Some(_) => {
            return Err(invalid(
                "input",
                "input must be a string or a list of strings",
            ))
        }
    };
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(invalid(
            "input",
            format!("input holds 1-{MAX_EMBEDDING_INPUTS} texts"),
        ));
    }
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(invalid("input", format!("input[{i}] must not be empty")));
    }
    let size: usize = texts.iter().map(String::len).sum();
    if size > MAX_PROMPT_BYTES {
        return Err(Error::validation(
            ErrorCode::InputTooLarge,
            format!("the inputs are {size} bytes; the limit is {MAX_PROMPT_BYTES}"),
        )
        .with_param("input"));
    }
    Ok(texts)
}

/// The embeddings task for `model` and `texts`; the agent makes none.
pub fn embeddings_of(model: Option<&Value>, texts: Vec<String>) -> Result<Completion> {
    let name = model.and_then(Value::as_str).unwrap_or_default();
    let model = check_model_name(name)?;
    if model == AGENT_MODEL {
        return Err(Error::validation(
            ErrorCode::UnsupportedValue,
            "the agent (cynodeai.pm) makes no embeddings; name a model from GET /v1/models",
        )
        .with_param("model"));
    }
    Ok(Completion {
        model: Some(model),
        input: TaskInput::Embeddings { input: texts },
        stream: false,
        include_usage: false,
    })
}

/// Checks `POST /v1/embeddings`.
pub fn check_embeddings(body: &Value) -> Result<(Completion, EmbeddingEncoding)> {
    let Some(fields) = body.as_object() else {
        return Err(invalid("input", "the body must be a JSON object"));
    };
    if fields.get("dimensions").is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            "dimensions",
            "vectors have the model's own size here",
        ));
    }
    let encoding = match fields.get("encoding_format") {
        None | Some(Value::Null) => EmbeddingEncoding::Float,
        Some(v) if v == "float" => EmbeddingEncoding::Float,
        Some(v) if v == "base64" => EmbeddingEncoding::Base64,
        Some(_) => {
            return Err(invalid(
                "encoding_format",
                "encoding_format is float or base64",
            ))
        }
    };
    if fields
        .get("user")
        .is_some_and(|u| !u.is_null() && !u.is_string())
    {
        return Err(invalid("user", "user must be a string"));
    }
    let texts = inputs_of(fields.get("input"))?;
    Ok((embeddings_of(fields.get("model"), texts)?, encoding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_or_a_list_of_strings_is_embedded_by_a_model() {
        let (one, encoding) =
            check_embeddings(&json!({"model": "smollm2:135m", "input": "hello"})).unwrap();
        assert_eq!(encoding, EmbeddingEncoding::Float);
        assert_eq!(
            one.input,
            TaskInput::Embeddings {
                input: vec!["hello".into()]
            }
        );
        assert!(!one.stream);
        let (many, encoding) = check_embeddings(
            &json!({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}),
        )
        .unwrap();
        assert_eq!(encoding, EmbeddingEncoding::Base64);
        assert_eq!(
            many.input,
            TaskInput::Embeddings {
                input: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_field() {
        let too_many: Vec<String> = (0..=MAX_EMBEDDING_INPUTS).map(|i| i.to_string()).collect();
        for (body, param, code) in [
            (json!({"model": "m"}), "input", ErrorCode::InvalidBody),
            (
                json!({"model": "m", "input": []}),
                "input",
                ErrorCode::InvalidBody,
            ),
            (
                json!({"model": "m", "input": ["a", ""]}),
                "input",
                ErrorCode::InvalidBody,
            ),
            (
                json!({"model": "m", "input": too_many}),
                "input",
                ErrorCode::InvalidBody,
            ),
            (
                json!({"model": "m", "input": [[1, 2]]}),
                "input",
                ErrorCode::UnsupportedParameter,
            ),
            (
                json!({"model": "m", "input": 5}),
                "input",
                ErrorCode::InvalidBody,
            ),
            (
                json!({"model": "m", "input": "x", "encoding_format": "hex"}),
                "encoding_format",
                ErrorCode::InvalidBody,
            ),
            (
                json!({"model": "m", "input": "x", "dimensions": 64}),
                "dimensions",
                ErrorCode::UnsupportedParameter,
            ),
            (
                json!({"model": AGENT_MODEL, "input": "x"}),
                "model",
                ErrorCode::UnsupportedValue,
            ),
        ] {
            let err = check_embeddings(&body).unwrap_err();
            assert_eq!(
                (err.code, err.param.as_deref()),
                (code, Some(param)),
                "{body}"
            );
        }
        let err = check_embeddings(&json!({"input": "x"})).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidModel);
    }
}
