//! An embeddings job: the node asks its model server's OpenAI-compatible
//! `/v1/embeddings` for one vector per input and returns them as the job's stdout
//! ([`EmbeddingsOutput`]: each vector the base64 of its little-endian `f32`s, exact and a
//! third of decimal text's size). Like a chat with a model it runs no sandbox: only
//! numbers come back and nothing is executed. Vectors that would not fit in a result
//! fail the job with a reason naming the limit, never a cut list.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use cynode_protocol::limits::{truncate_utf8, MAX_STREAM_BYTES};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{EmbeddingsOutput, InferenceUsage, Truncated};

use crate::sandbox::{RawStreams, SandboxOutcome};

/// The vectors of the model server's answer, in input order, as base64 `f32`s.
fn vectors_of(answer: &Value, inputs: usize) -> Result<Vec<String>, String> {
    let data = answer["data"]
        .as_array()
        .ok_or("the model server's answer has no data")?;
    let mut vectors = vec![None; inputs];
    for (position, item) in data.iter().enumerate() {
        let index = item["index"].as_u64().map_or(position, |i| i as usize);
        let numbers = item["embedding"]
            .as_array()
            .ok_or("the model server's answer holds an item without an embedding")?;
        let mut bytes = Vec::with_capacity(numbers.len() * 4);
        for number in numbers {
            let value = number
                .as_f64()
                .ok_or("the model server's answer holds an embedding that is not numbers")?;
            bytes.extend_from_slice(&(value as f32).to_le_bytes());
        }
        let slot = vectors
            .get_mut(index)
            .ok_or("the model server answered for an input it was not sent")?;
        *slot = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| format!("the model server sent no vector for input {i}")))
        .collect()
}

async fn ask(
    http: &reqwest::Client,
    url: &str,
    model: &str,
    input: &[String],
    usage: &mut InferenceUsage,
) -> Result<String, String> {
    let response = http
        .post(url)
        .json(&json!({"model": model, "input": input, "encoding_format": "float"}))
        .send()
        .await
        .map_err(|err| format!("the model server is unreachable: {}", err.without_url()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("the answer broke off: {}", err.without_url()))?;
    if !status.is_success() {
        return Err(format!(
            "the model server answered {status}: {}",
            truncate_utf8(&String::from_utf8_lossy(&body), 500).0
        ));
    }
    let answer: Value = serde_json::from_slice(&body)
        .map_err(|err| format!("the model server's answer is not JSON: {err}"))?;
    usage.prompt_tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
    let output = EmbeddingsOutput {
        embeddings: vectors_of(&answer, input.len())?,
    };
    let text = serde_json::to_string(&output).map_err(|err| err.to_string())?;
    if text.len() > MAX_STREAM_BYTES {
        return Err(format!(
            "the {} vectors are {} bytes, over the {} KiB one answer carries; send fewer inputs per request",
            input.len(),
            text.len(),
            MAX_STREAM_BYTES / 1024
        ));
    }
    Ok(text)
}

/// Embeds `input` with `model` at `endpoint`.
pub async fn embed(
    http: &reqwest::Client,
    endpoint: &str,
    model: &str,
    input: &[String],
    timeout: Duration,
    stop: CancellationToken,
) -> (SandboxOutcome, InferenceUsage) {
    let started_at = time::OffsetDateTime::now_utc();
    let url = format!("{}/v1/embeddings", endpoint.trim_end_matches('/'));
    let mut usage = InferenceUsage {
        calls: 1,
        ..InferenceUsage::default()
    };
    let run = ask(http, &url, model, input, &mut usage);
    let (status, stdout, error) = tokio::select! {
        ran = tokio::time::timeout(timeout, run) => match ran {
            Ok(Ok(text)) => (JobOutcome::Completed, text, None),
            Ok(Err(error)) => (JobOutcome::Failed, String::new(), Some(error)),
            Err(_) => (JobOutcome::Timeout, String::new(), Some(format!("timed out after {}s", timeout.as_secs()))),
        },
        _ = stop.cancelled() => (JobOutcome::Canceled, String::new(), Some("canceled".to_owned())),
    };
    (
        SandboxOutcome {
            status,
            exit_code: (status == JobOutcome::Completed).then_some(0),
            failed_command: None,
            error,
            stdout,
            stderr: String::new(),
            truncated: Truncated::default(),
            raw: RawStreams::default(),
            started_at,
            ended_at: time::OffsetDateTime::now_utc(),
        },
        usage,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_in_input_order_as_exact_floats() {
        let answer = json!({"data": [
            {"index": 1, "embedding": [0.5, -1.0]},
            {"index": 0, "embedding": [0.25, 2.0]},
        ]});
        let vectors = vectors_of(&answer, 2).unwrap();
        let decode = |text: &str| -> Vec<f32> {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
                .chunks(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        assert_eq!(decode(&vectors[0]), vec![0.25, 2.0]);
        assert_eq!(decode(&vectors[1]), vec![0.5, -1.0]);
    }

    #[test]
    fn a_missing_or_unasked_vector_is_an_error() {
        let one = json!({"data": [{"index": 0, "embedding": [1.0]}]});
        assert!(vectors_of(&one, 2).unwrap_err().contains("input 1"));
        let stray = json!({"data": [{"index": 3, "embedding": [1.0]}]});
        assert!(vectors_of(&stray, 1).unwrap_err().contains("not sent"));
        let words = json!({"data": [{"index": 0, "embedding": ["x"]}]});
        assert!(vectors_of(&words, 1).is_err());
    }
}
