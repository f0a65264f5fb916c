//! A chat job answered by a model directly: the node sends the conversation to its
//! endpoint's OpenAI-compatible `/v1/chat/completions` (a legacy completion's prompt to
//! `/v1/completions`) with streaming on, and passes the
//! text on to the gateway as it arrives: the first text at once, then a chunk callback at
//! most every [`FLUSH_EVERY`], so storage writes stay bounded however fast tokens come. Only text
//! comes back from the model and nothing of it is executed, so no sandbox is involved.
//! The whole answer is also the job's result (its stdout), with the token usage and how
//! it ended (`finish_reason`, tool calls, log probabilities: a [`ChatAnswer`]). An answer
//! of text alone also says how it ended on its last chunk ([`AnswerEnd`]), so the stream
//! following it can close without waiting for the result.
//!
//! Sampling fields and `response_format` go to the model server as the client sent them
//! (the gateway checked them). With tools, the node shapes the answer itself
//! ([`super::tool_calls`]): the model's JSON is held back until it is complete, then sent
//! on as the answer's text or read as calls.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use cynode_protocol::limits::{
    json_preview, truncate_utf8, MAX_RAW_OUTPUT_BYTES, MAX_STREAM_BYTES,
};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{
    AnswerEnd, ChatAnswer, ChatMessage, ChatOptions, InferenceUsage, Temperature,
};

use super::tool_calls;
use super::usage::usage_from_tail;
use crate::sandbox::output::RawBytes;
use crate::sandbox::{RawStreams, SandboxOutcome};

/// How often gathered text is sent on.
pub const FLUSH_EVERY: Duration = Duration::from_millis(40);

/// What to ask.
pub struct DirectChat<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    /// A legacy completion's prompt, continued as it is (then `messages` is empty).
    pub prompt: Option<&'a str>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<Temperature>,
    pub options: &'a ChatOptions,
    /// Tool call ids are this, `_0`, `_1` … (the task's id: unique per completion).
    pub call_prefix: String,
}

/// Where the text goes as it arrives: `seq`, `text`, and on the last chunk of an answer
/// of text alone, how it ended.
#[async_trait::async_trait]
pub trait ChunkSink: Send + Sync {
    async fn send(&self, seq: u32, text: String, end: Option<AnswerEnd>) -> Result<(), String>;
}

/// How the text is passed on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Passing {
    /// As it comes; the last chunk says how the answer ended.
    Streamed,
    /// As it comes; the end is the result's to tell (log probabilities go with it).
    StreamedUnmarked,
    /// Not at all (the caller sends what it makes of the whole).
    Held,
}

/// What one server-sent event line of the model's stream carries.
#[derive(Debug, Default, PartialEq)]
struct Event {
    text: Option<String>,
    usage: Option<InferenceUsage>,
    finish_reason: Option<String>,
    logprobs: Vec<Value>,
}

fn parse_event(line: &str) -> Event {
    let Some(data) = line.strip_prefix("data:").map(str::trim) else {
        return Event::default();
    };
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        return Event::default();
    };
    let choice = &event["choices"][0];
    Event {
        text: choice["delta"]["content"]
            .as_str()
            .or(choice["text"].as_str())
            .map(str::to_owned),
        usage: usage_from_tail(data.as_bytes()),
        finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        logprobs: choice["logprobs"]["content"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    }
}

/// What came back from the model: the text, the tokens, how it ended.
#[derive(Debug, Default)]
struct Streamed {
    text: String,
    usage: InferenceUsage,
    finish_reason: Option<String>,
    logprobs: Vec<Value>,
}

/// Asks the model with `body` and sends its text to `sink` as it comes (unless held: then
/// nothing is sent), collecting all of it in `got`.
async fn stream_answer(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    sink: &dyn ChunkSink,
    passing: Passing,
    got: &mut Streamed,
) -> Result<u32, String> {
    let hold = passing == Passing::Held;
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
        !hold && !pending.is_empty() && (seq == 0 || last.elapsed() >= FLUSH_EVERY)
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
            let event = parse_event(text.trim_end());
            if let Some(reported) = event.usage {
                got.usage = reported;
            }
            if let Some(delta) = event.text {
                got.text.push_str(&delta);
                pending.push_str(&delta);
            }
            got.finish_reason = event.finish_reason.or(got.finish_reason.take());
            got.logprobs.extend(event.logprobs);
        }
        if flush_due(&pending, seq, last_flush) {
            sink.send(seq, std::mem::take(&mut pending), None).await?;
            seq += 1;
            last_flush = tokio::time::Instant::now();
        }
    }
    let end = (passing == Passing::Streamed).then(|| AnswerEnd {
        finish_reason: got.finish_reason.clone().unwrap_or_else(|| "stop".into()),
        usage: got.usage,
    });
    if !hold && (!pending.is_empty() || end.is_some()) {
        sink.send(seq, pending, end).await?;
        seq += 1;
    }
    Ok(seq)
}

/// The request to the model server.
fn request_body(chat: &DirectChat<'_>, tools: Option<&tool_calls::Shaped>) -> Value {
    let mut body = json!({
        "model": chat.model,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    match (chat.prompt, tools) {
        (Some(prompt), _) => body["prompt"] = json!(prompt),
        (None, Some(shaped)) => body["messages"] = json!(shaped.messages),
        (None, None) => body["messages"] = json!(tool_calls::plain_messages(chat.messages)),
    }
    for (name, value) in &chat.options.sampling {
        body[name] = value.clone();
    }
    if let Some(format) = &chat.options.response_format {
        body["response_format"] = format.clone();
    }
    if let Some(shaped) = tools {
        body["response_format"] = shaped.response_format.clone();
    }
    if let Some(max) = chat.max_tokens {
        body["max_tokens"] = json!(max);
    }
    if let Some(t) = chat.temperature {
        body["temperature"] = json!(t.as_f64());
    }
    body
}

/// Asks the model and reads its answer: streamed as it comes, or, with tools, held
/// until complete and then sent as text or read as calls.
async fn ask(
    http: &reqwest::Client,
    url: &str,
    chat: &DirectChat<'_>,
    sink: &dyn ChunkSink,
    got: &mut Streamed,
) -> Result<ChatAnswer, String> {
    let tools =
        (!chat.options.tools.is_empty()).then(|| tool_calls::shape(chat.messages, chat.options));
    let body = request_body(chat, tools.as_ref());
    let passing = match (&tools, chat.options.logprobs()) {
        (Some(_), _) => Passing::Held,
        (None, true) => Passing::StreamedUnmarked,
        (None, false) => Passing::Streamed,
    };
    let sent = stream_answer(http, url, &body, sink, passing, got).await?;
    let model_finish = got.finish_reason.clone().unwrap_or_else(|| "stop".into());
    let logprobs = (chat.options.logprobs()).then(|| json!({"content": got.logprobs}));
    if tools.is_none() {
        return Ok(ChatAnswer {
            finish_reason: model_finish,
            tool_calls: vec![],
            logprobs,
        });
    }
    let read = tool_calls::read_answer(&got.text, &chat.call_prefix, &model_finish);
    got.text = read.content;
    if !got.text.is_empty() {
        sink.send(sent, got.text.clone(), None).await?;
    }
    Ok(ChatAnswer {
        finish_reason: read.finish_reason,
        tool_calls: read.tool_calls,
        logprobs,
    })
}

pub async fn answer(
    http: &reqwest::Client,
    endpoint: &str,
    chat: DirectChat<'_>,
    sink: &dyn ChunkSink,
    timeout: Duration,
    stop: CancellationToken,
) -> (SandboxOutcome, InferenceUsage, Option<ChatAnswer>) {
    let started_at = time::OffsetDateTime::now_utc();
    let route = match chat.prompt {
        Some(_) => "completions",
        None => "chat/completions",
    };
    let url = format!("{}/v1/{route}", endpoint.trim_end_matches('/'));
    let mut got = Streamed {
        usage: InferenceUsage {
            calls: 1,
            ..InferenceUsage::default()
        },
        ..Streamed::default()
    };
    let run = ask(http, &url, &chat, sink, &mut got);
    let (outcome, answered) = tokio::select! {
        ran = tokio::time::timeout(timeout, run) => match ran {
            Ok(Ok(answered)) => ((JobOutcome::Completed, None), Some(answered)),
            Ok(Err(error)) => ((JobOutcome::Failed, Some(error)), None),
            Err(_) => ((JobOutcome::Timeout, Some(format!("timed out after {}s", timeout.as_secs()))), None),
        },
        _ = stop.cancelled() => ((JobOutcome::Canceled, Some("canceled".to_owned())), None),
    };
    let (answer, usage) = (got.text, got.usage);
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
        answered,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_give_text_usage_finish_and_logprobs() {
        let event = parse_event(r#"data: {"choices":[{"delta":{"content":"Hel"}}]}"#);
        assert_eq!((event.text.as_deref(), event.usage), (Some("Hel"), None));
        let event = parse_event(
            r#"data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#,
        );
        assert_eq!(event.text, None);
        assert_eq!(
            event.usage,
            Some(InferenceUsage {
                calls: 1,
                prompt_tokens: 7,
                completion_tokens: 3,
                refused_calls: 0,
            })
        );
        let event = parse_event(
            r#"data: {"choices":[{"delta":{"content":"!"},"finish_reason":"length","logprobs":{"content":[{"token":"!","logprob":-0.5}]}}]}"#,
        );
        assert_eq!(event.finish_reason.as_deref(), Some("length"));
        assert_eq!(event.logprobs[0]["logprob"], -0.5);
        assert_eq!(parse_event("data: [DONE]"), Event::default());
        assert_eq!(parse_event(": keep-alive"), Event::default());
    }

    #[test]
    fn the_request_carries_what_the_client_asked() {
        let messages = [ChatMessage::text("user", "hi")];
        let mut options = ChatOptions::default();
        options.sampling.insert("seed".into(), json!(7));
        options.sampling.insert("stop".into(), json!(["END"]));
        options.response_format = Some(json!({"type": "json_object"}));
        let chat = DirectChat {
            model: "m",
            messages: &messages,
            prompt: None,
            max_tokens: Some(5),
            temperature: Some(Temperature(20)),
            options: &options,
            call_prefix: "call_t".into(),
        };
        let body = request_body(&chat, None);
        assert_eq!(body["seed"], 7);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["response_format"]["type"], "json_object");
        assert_eq!(
            (body["max_tokens"].clone(), body["temperature"].clone()),
            (json!(5), json!(0.2))
        );
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
    }

    #[test]
    fn a_legacy_completion_sends_its_prompt_as_is_and_reads_text_events() {
        let options = ChatOptions::default();
        let chat = DirectChat {
            model: "m",
            messages: &[],
            prompt: Some("def add(a, b):"),
            max_tokens: Some(16),
            temperature: None,
            options: &options,
            call_prefix: "call_t".into(),
        };
        let body = request_body(&chat, None);
        assert_eq!(body["prompt"], "def add(a, b):");
        assert!(body.get("messages").is_none());
        assert_eq!(body["max_tokens"], 16);
        let event = parse_event(
            r#"data: {"choices":[{"text":" return","index":0,"finish_reason":null}],"object":"text_completion"}"#,
        );
        assert_eq!(event.text.as_deref(), Some(" return"));
    }
}
