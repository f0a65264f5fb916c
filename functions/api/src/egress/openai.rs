//! The OpenAI-compatible API, as clients speak it to the egress: the client's request goes
//! on with the provider's own model name (and, streamed, with usage asked for, so the call
//! can be metered), or translated for an `anthropic` provider; the answer comes back
//! under the id the client named, with the usage the provider reported. A streamed answer
//! is relayed event by event as it arrives ([`EventStream`], a [`Source`] of the
//! gateway's stream loop).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use cynode_domain::service::egress::CallOutcome;
use cynode_domain::service::{EgressGrant, EgressService};
use cynode_domain::wire::{InferenceUsage, ProviderKind};
use cynode_domain::{Error, ErrorCode};

use super::anthropic::{self, StreamTranslator};
use serde_json::{json, Value};

use crate::routes::chat::error_frames;
use crate::stream::{Polled, Source, StreamEnd};

/// How long one poll waits for the provider's next bytes before the stream loop gets a
/// turn (its session checks and keep-alives).
const POLL_SLICE: Duration = Duration::from_millis(500);

/// What a chat completion request becomes on its way out.
pub struct Prepared {
    pub body: Value,
    pub stream: bool,
    /// Whether the client asked for the usage chunk (it is always asked of the provider).
    pub include_usage: bool,
}

/// The client's request in the provider's shape, with its model name; a stream asks for
/// usage. A request an `anthropic` provider cannot take is refused (400
/// `unsupported_parameter`, the field named) before any call.
pub fn prepare_chat(grant: &EgressGrant, mut body: Value) -> Result<Prepared, Error> {
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let body = match grant.provider.kind {
        ProviderKind::Openai => {
            body["model"] = json!(grant.model.name);
            if stream {
                body["stream_options"] = json!({"include_usage": true});
            }
            body
        }
        ProviderKind::Anthropic => anthropic::request(&body, &grant.model.name).map_err(|no| {
            Error::validation(
                ErrorCode::UnsupportedParameter,
                format!(
                    "{}: {} (provider '{}' speaks Anthropic's Messages API)",
                    no.param, no.message, grant.provider.name
                ),
            )
            .with_param(no.param)
        })?,
    };
    Ok(Prepared {
        body,
        stream,
        include_usage,
    })
}

/// A whole answer in OpenAI's shape under the id the client named.
pub fn whole_answer(grant: &EgressGrant, mut answer: Value) -> Value {
    match grant.provider.kind {
        ProviderKind::Openai => {
            relabel(&mut answer, &grant.model_id);
            answer
        }
        ProviderKind::Anthropic => anthropic::answer(&answer, &grant.model_id, now_secs()),
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The tokens an answer (or a stream's usage chunk) reports.
pub fn usage_of(answer: &Value) -> Option<InferenceUsage> {
    let usage = answer.get("usage").filter(|u| u.is_object())?;
    let count = |name: &str| usage.get(name).and_then(Value::as_u64).unwrap_or(0);
    Some(InferenceUsage {
        calls: 1,
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
        ..InferenceUsage::default()
    })
}

/// The answer under the id the client named.
pub fn relabel(answer: &mut Value, model_id: &str) {
    if answer.get("model").is_some() {
        answer["model"] = json!(model_id);
    }
}

/// A provider's streamed answer, relayed as it arrives and recorded when it ends (or,
/// when the client goes away first, when it is dropped).
pub struct EventStream {
    response: reqwest::Response,
    egress: Arc<EgressService>,
    grant: EgressGrant,
    include_usage: bool,
    timeout: Duration,
    /// Text received and not yet a whole event.
    pending: String,
    /// For an `anthropic` provider: its events as chunks.
    translator: Option<StreamTranslator>,
    usage: Option<InferenceUsage>,
    last_bytes: Instant,
    saw_done: bool,
    recorded: bool,
}

impl EventStream {
    pub fn new(
        response: reqwest::Response,
        egress: Arc<EgressService>,
        grant: EgressGrant,
        include_usage: bool,
        timeout: Duration,
    ) -> Self {
        let translator = (grant.provider.kind == ProviderKind::Anthropic)
            .then(|| StreamTranslator::new(&grant.model_id, now_secs()));
        Self {
            response,
            egress,
            translator,
            grant,
            include_usage,
            timeout,
            pending: String::new(),
            usage: None,
            last_bytes: Instant::now(),
            saw_done: false,
            recorded: false,
        }
    }

    /// The whole events in `pending` as frames to send, and the provider's error if one
    /// ended the stream.
    fn frames(&mut self) -> (Vec<Bytes>, Option<String>) {
        let mut frames = Vec::new();
        while let Some(end) = self.pending.find("\n\n") {
            let event: String = self.pending.drain(..end + 2).collect();
            for line in event.lines() {
                let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                    continue;
                };
                if data == "[DONE]" {
                    self.saw_done = true;
                    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
                    continue;
                }
                let Ok(value) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                let (chunks, done) = match &mut self.translator {
                    None => (vec![value], false),
                    Some(translator) => {
                        let out = translator.event(&value);
                        if let Some(error) = out.error {
                            return (frames, Some(error));
                        }
                        (out.chunks, out.done)
                    }
                };
                frames.extend(chunks.into_iter().filter_map(|chunk| self.relay(chunk)));
                if done {
                    self.saw_done = true;
                    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
                }
            }
        }
        (frames, None)
    }

    /// One chunk as a frame: its usage noted (and left out unless the client asked for
    /// it), under the id the client named.
    fn relay(&mut self, mut chunk: Value) -> Option<Bytes> {
        if let Some(usage) = usage_of(&chunk) {
            self.usage = Some(usage);
            let no_choices = chunk
                .get("choices")
                .and_then(Value::as_array)
                .is_some_and(|c| c.is_empty());
            if no_choices && !self.include_usage {
                return None;
            }
            if !self.include_usage {
                chunk.as_object_mut().map(|c| c.remove("usage"));
            }
        }
        relabel(&mut chunk, &self.grant.model_id);
        Some(Bytes::from(format!("data: {chunk}\n\n")))
    }

    async fn record(&mut self, failure: Option<(ErrorCode, String)>) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let outcome = CallOutcome {
            usage: self.usage,
            failure,
        };
        super::record(&self.egress, &self.grant, outcome).await;
    }

    /// `frames`, then the provider's error event, which ends the stream.
    async fn failed_after(&mut self, mut frames: Vec<Bytes>, error: String) -> Polled {
        let message = format!(
            "provider '{}' failed its answer: {error}",
            self.grant.provider.name
        );
        frames.extend(self.fail(ErrorCode::ProviderError, message).await);
        Polled::Done(frames)
    }

    /// Records the call as failed; the error event that ends the stream.
    async fn fail(&mut self, code: ErrorCode, message: String) -> Vec<Bytes> {
        let message = super::scrub(&message, &self.grant);
        self.record(Some((code, message.clone()))).await;
        error_frames(code, &message)
    }
}

impl Source for EventStream {
    async fn poll(&mut self) -> Polled {
        match tokio::time::timeout(POLL_SLICE, self.response.chunk()).await {
            Err(_) if self.last_bytes.elapsed() >= self.timeout => {
                let err = super::timed_out(&self.grant, self.timeout);
                Polled::Done(self.fail(err.code, err.message).await)
            }
            Err(_) => Polled::Nothing,
            Ok(Ok(Some(bytes))) => {
                self.last_bytes = Instant::now();
                self.pending
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n"));
                match self.frames() {
                    (frames, None) => Polled::Send(frames),
                    (frames, Some(error)) => self.failed_after(frames, error).await,
                }
            }
            Ok(Ok(None)) => {
                self.pending.push_str("\n\n");
                let mut frames = match self.frames() {
                    (frames, None) => frames,
                    (frames, Some(error)) => return self.failed_after(frames, error).await,
                };
                if !self.saw_done {
                    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
                }
                self.record(None).await;
                Polled::Done(frames)
            }
            Ok(Err(err)) => {
                let message = format!(
                    "provider '{}' broke off its answer: {err}",
                    self.grant.provider.name
                );
                Polled::Done(self.fail(ErrorCode::ProviderError, message).await)
            }
        }
    }

    fn wait(&mut self) -> Duration {
        // `poll` itself waits for the provider.
        Duration::ZERO
    }

    fn ended(&mut self, end: StreamEnd) -> Vec<Bytes> {
        let (code, message) = match end {
            StreamEnd::Reconnect => (
                ErrorCode::StreamTimeLimit,
                "the stream reached its time limit",
            ),
            StreamEnd::SignedOut => (
                ErrorCode::TokenRevoked,
                "the session or API key behind this stream has ended",
            ),
        };
        error_frames(code, message)
    }
}

impl Drop for EventStream {
    /// A stream cut short (the client left, the stream's time ran out) is still recorded,
    /// with what the provider had reported.
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let egress = self.egress.clone();
        let grant = self.grant.clone();
        let outcome = CallOutcome {
            usage: self.usage,
            failure: Some((
                ErrorCode::ProviderError,
                "the stream ended before the provider's answer did".into(),
            )),
        };
        runtime.spawn(async move { super::record(&egress, &grant, outcome).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_where_openai_puts_it() {
        let usage = usage_of(&json!({"usage": {"prompt_tokens": 7, "completion_tokens": 3}}));
        assert_eq!(
            usage.map(|u| (u.calls, u.prompt_tokens, u.completion_tokens)),
            Some((1, 7, 3))
        );
        assert_eq!(usage_of(&json!({"usage": null})), None);
        assert_eq!(usage_of(&json!({"choices": []})), None);
    }
}
