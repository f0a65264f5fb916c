//! A chat job answered by a model directly: the node sends the conversation to its
//! endpoint's OpenAI-compatible `/v1/chat/completions` with streaming on, and passes the
//! text on to the gateway as it arrives: the first text at once, then a chunk callback at
//! most every [`FLUSH_EVERY`], so storage writes stay bounded however fast tokens come. Only text
//! comes back from the model and nothing of it is executed, so no sandbox is involved.
//! The whole answer is also the job's result (its stdout), with the token usage.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use cynode_protocol::limits::{
    json_preview, truncate_utf8, MAX_RAW_OUTPUT_BYTES, MAX_STREAM_BYTES,
};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{ChatMessage, InferenceUsage, Temperature};

use super::usage::usage_from_tail;
use crate::sandbox::output::RawBytes;
use crate::sandbox::{RawStreams, SandboxOutcome};

/// How often gathered text is sent on.
pub const FLUSH_EVERY: Duration = Duration::from_millis(40);

/// What to ask.
pub struct DirectChat<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    pub max_tokens: Option<u32>,
    pub temperature: Option<Temperature>,
}

/// Where the text goes as it arrives: `seq`, `text`.
#[async_trait::async_trait]
pub trait ChunkSink: Send + Sync {
    async fn send(&self, seq: u32, text: String) -> Result<(), String>;
}

/// The text of one server-sent event line, and its usage when it reports one.
fn parse_event(line: &str) -> (Option<String>, Option<InferenceUsage>) {
    let Some(data) = line.strip_prefix("data:").map(str::trim) else {
        return (None, None);
    };
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        return (None, None);
    };
    let text = event["choices"][0]["delta"]["content"]
        .as_str()
        .map(str::to_owned);
    let usage = usage_from_tail(data.as_bytes());
    (text, usage)
}

/// Asks the model with `body` and sends its text to `sink` as it comes, collecting it in
/// `answer` and the tokens the server reports in `usage`.
async fn stream_answer(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    sink: &dyn ChunkSink,
    answer: &mut String,
    usage: &mut InferenceUsage,
) -> Result<(), String> {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|err| format!("the model server is unreachable: {}", err.without_url()))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(format!(
            "the model server answered {status}: {}",
            truncate_utf8(&text, 500).0
        ));
    }
    let mut stream = response.bytes_stream();
    let mut line = Vec::new();
    let mut pending = String::new();
    let mut seq = 0u32;
    let mut last_flush = tokio::time::Instant::now();
    // The first text goes out at once (time to first token); then at most one
    // chunk per FLUSH_EVERY.
    let flush_due = |pending: &String, seq: u32, last: tokio::time::Instant| {
        !pending.is_empty() && (seq == 0 || last.elapsed() >= FLUSH_EVERY)
    };
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.map_err(|err| format!("the answer broke off: {}", err.without_url()))?;
        for byte in bytes {
            if byte != b'\n' {
                line.push(byte);
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            let (delta, reported) = parse_event(text.trim_end());
            if let Some(reported) = reported {
                *usage = reported;
            }
            if let Some(delta) = delta {
                answer.push_str(&delta);
                pending.push_str(&delta);
            }
        }
        if flush_due(&pending, seq, last_flush) {
            sink.send(seq, std::mem::take(&mut pending)).await?;
            seq += 1;
            last_flush = tokio::time::Instant::now();
        }
    }
    if !pending.is_empty() {
        sink.send(seq, pending).await?;
    }
    Ok(())
}

pub async fn answer(
    http: &reqwest::Client,
    endpoint: &str,
    chat: DirectChat<'_>,
    sink: &dyn ChunkSink,
    timeout: Duration,
    stop: CancellationToken,
) -> (SandboxOutcome, InferenceUsage) {
    let started_at = time::OffsetDateTime::now_utc();
    let mut usage = InferenceUsage {
        calls: 1,
        ..InferenceUsage::default()
    };
    let mut body = json!({
        "model": chat.model,
        "messages": chat.messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(max) = chat.max_tokens {
        body["max_tokens"] = json!(max);
    }
    if let Some(t) = chat.temperature {
        body["temperature"] = json!(t.as_f64());
    }
    let url = format!("{}/v1/chat/completions", endpoint.trim_end_matches('/'));
    let mut answer = String::new();
    let run = stream_answer(http, &url, &body, sink, &mut answer, &mut usage);
    let outcome = tokio::select! {
        ran = tokio::time::timeout(timeout, run) => match ran {
            Ok(Ok(())) => (JobOutcome::Completed, None),
            Ok(Err(error)) => (JobOutcome::Failed, Some(error)),
            Err(_) => (JobOutcome::Timeout, Some(format!("timed out after {}s", timeout.as_secs()))),
        },
        _ = stop.cancelled() => (JobOutcome::Canceled, Some("canceled".to_owned())),
    };
    let (stdout, cut) = json_preview(&answer, MAX_STREAM_BYTES);
    let raw = cut.then(|| {
        let (kept, _) = truncate_utf8(&answer, MAX_RAW_OUTPUT_BYTES as usize);
        RawBytes {
            bytes: kept.as_bytes().to_vec(),
            total: answer.len() as u64,
        }
    });
    (
        SandboxOutcome {
            status: outcome.0,
            exit_code: (outcome.0 == JobOutcome::Completed).then_some(0),
            failed_command: None,
            error: outcome.1,
            stdout: stdout.to_owned(),
            stderr: String::new(),
            truncated: cynode_protocol::wire::Truncated {
                stdout: cut,
                stderr: false,
            },
            raw: RawStreams {
                stdout: raw,
                stderr: None,
            },
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
    fn events_give_text_and_usage() {
        let (text, usage) = parse_event(r#"data: {"choices":[{"delta":{"content":"Hel"}}]}"#);
        assert_eq!((text.as_deref(), usage), (Some("Hel"), None));
        let (text, usage) = parse_event(
            r#"data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#,
        );
        assert_eq!(text, None);
        assert_eq!(
            usage,
            Some(InferenceUsage {
                calls: 1,
                prompt_tokens: 7,
                completion_tokens: 3,
                refused_calls: 0,
            })
        );
        assert_eq!(parse_event("data: [DONE]"), (None, None));
        assert_eq!(parse_event(": keep-alive"), (None, None));
    }
}
