//! The egress's HTTP side: the only code that calls a hosted model provider. The rules
//! (which provider, credential and limits; what is recorded) are the domain's
//! `EgressService`; this module makes the call with the key it was granted, retries a
//! provider's 429 and 5xx with backoff, gives up after a timeout, and turns a provider's
//! failure into an error that names the provider and never holds the key.
//!
//! `openai.rs` speaks the OpenAI-compatible API (the `openai` kind): the request as the
//! client sent it with the provider's own model name, and the answer with the usage it
//! reports, whole or as server-sent events. `anthropic.rs` translates Anthropic's Messages
//! API (the `anthropic` kind) to and from it.

pub mod anthropic;
pub mod openai;

use std::time::Duration;

use cynode_domain::service::egress::CallOutcome;
use cynode_domain::service::{EgressGrant, EgressService};
use cynode_domain::wire::ProviderKind;
use cynode_domain::{Error, ErrorCode};
use serde_json::Value;

/// Tries per call: the first and two retries.
const ATTEMPTS: u32 = 3;
/// The first retry's wait; each next one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// A provider's `Retry-After` longer than this is not waited for: the caller gets the 429.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How much of a provider's error body is read, and how much of its message is kept.
const ERROR_BODY_BYTES: usize = 16 * 1024;
const ERROR_MESSAGE_CHARS: usize = 300;

/// The HTTP client that calls providers: no redirects followed (a redirect would take the
/// key elsewhere), a connect timeout, and [`EgressClient::timeout`] for the first byte.
pub struct EgressClient {
    http: reqwest::Client,
    timeout: Duration,
}

/// What a provider answered.
pub enum Answer {
    /// A whole JSON answer.
    Whole(Value),
    /// A stream of server-sent events still to read.
    Stream(reqwest::Response),
}

impl EgressClient {
    pub fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("cynode-egress/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls");
        Self { http, timeout }
    }

    /// How long a provider may take to start answering, and to send the next piece of
    /// a stream.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs a chat request (already in the provider's own shape: see `openai::prepare_chat`)
    /// to the provider with the granted key, retrying a 429 or 5xx (and a refused
    /// connection) with backoff.
    pub async fn post_chat(&self, grant: &EgressGrant, body: &Value) -> Result<Answer, Error> {
        let (url, is_anthropic) = match grant.provider.kind {
            ProviderKind::Openai => (
                format!("{}/chat/completions", grant.provider.base_url),
                false,
            ),
            ProviderKind::Anthropic => (anthropic::messages_url(&grant.provider.base_url), true),
        };
        self.send(grant, &url, is_anthropic, body).await
    }

    /// POSTs an embeddings request to an `openai`-kind provider (Anthropic's API makes
    /// none: the caller refuses those first).
    pub async fn post_embeddings(
        &self,
        grant: &EgressGrant,
        body: &Value,
    ) -> Result<Answer, Error> {
        let url = format!("{}/embeddings", grant.provider.base_url);
        self.send(grant, &url, false, body).await
    }

    async fn send(
        &self,
        grant: &EgressGrant,
        url: &str,
        is_anthropic: bool,
        body: &Value,
    ) -> Result<Answer, Error> {
        let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
        let mut attempt = 1;
        loop {
            let request = self.http.post(url).json(body);
            let sent = match is_anthropic {
                true => request
                    .header("x-api-key", grant.api_key.expose())
                    .header("anthropic-version", anthropic::VERSION),
                false => request.bearer_auth(grant.api_key.expose()),
            }
            .send();
            let response = match tokio::time::timeout(self.timeout, sent).await {
                Err(_) => return Err(timed_out(grant, self.timeout)),
                Ok(Err(err)) if err.is_connect() && attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt, None)).await;
                    attempt += 1;
                    continue;
                }
                Ok(Err(err)) => {
                    return Err(Error::upstream(
                        ErrorCode::ProviderError,
                        format!(
                            "provider '{}' could not be reached: {}",
                            grant.provider.name,
                            scrub(&without_url(&err), grant)
                        ),
                    ))
                }
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if status.is_success() {
                if streamed {
                    return Ok(Answer::Stream(response));
                }
                return match tokio::time::timeout(self.timeout, response.json::<Value>()).await {
                    Err(_) => Err(timed_out(grant, self.timeout)),
                    Ok(Err(err)) => Err(Error::upstream(
                        ErrorCode::ProviderError,
                        format!(
                            "provider '{}' answered {status} with a body that is not JSON: {}",
                            grant.provider.name,
                            without_url(&err)
                        ),
                    )),
                    Ok(Ok(value)) => Ok(Answer::Whole(value)),
                };
            }
            let retry_after = retry_after(&response);
            let retryable = status.as_u16() == 429 || status.is_server_error();
            let waited_out = retry_after.is_some_and(|wait| wait > MAX_RETRY_AFTER);
            if retryable && !waited_out && attempt < ATTEMPTS {
                tracing::info!(
                    provider = %grant.provider.name,
                    status = status.as_u16(),
                    attempt,
                    "provider refused; retrying"
                );
                tokio::time::sleep(backoff(attempt, retry_after)).await;
                attempt += 1;
                continue;
            }
            return Err(self.refusal(grant, response, attempt, retry_after).await);
        }
    }

    /// A provider's refusal as CyNode's error: the provider named, its status and its
    /// own message (the key scrubbed from it); a 429 stays a 429.
    async fn refusal(
        &self,
        grant: &EgressGrant,
        response: reqwest::Response,
        attempts: u32,
        retry_after: Option<Duration>,
    ) -> Error {
        let status = response.status();
        let body = read_some(response, self.timeout).await;
        let said = provider_message(&body);
        let tries = match attempts {
            1 => String::new(),
            n => format!(" (after {n} tries)"),
        };
        let message = scrub(
            &format!(
                "provider '{}' answered {status}{tries}: {said}",
                grant.provider.name
            ),
            grant,
        );
        if status.as_u16() == 429 {
            let wait = retry_after.map_or(5, |wait| wait.as_secs().max(1));
            return Error::over_quota(ErrorCode::ProviderError, message, wait);
        }
        Error::upstream(ErrorCode::ProviderError, message)
    }
}

/// The wait before try `attempt + 1`: the provider's `Retry-After` if it sent one, else
/// doubling from [`FIRST_BACKOFF`], with a little jitter.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let jitter = Duration::from_millis(u64::from(rand_jitter()) % 100);
    retry_after.unwrap_or(FIRST_BACKOFF * 2u32.pow(attempt - 1)) + jitter
}

fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Records a call. The provider has answered (and charged) by then, so a record that
/// cannot be written does not fail the request: the log says so.
pub async fn record(egress: &EgressService, grant: &EgressGrant, outcome: CallOutcome) {
    if let Err(err) = egress.record(grant, outcome).await {
        tracing::warn!(code = err.code.as_str(), model = %grant.model_id, "could not record a provider call");
    }
}

pub(crate) fn timed_out(grant: &EgressGrant, timeout: Duration) -> Error {
    Error::upstream(
        ErrorCode::ProviderTimeout,
        format!(
            "provider '{}' did not answer within {} s",
            grant.provider.name,
            timeout.as_secs()
        ),
    )
}

/// At most [`ERROR_BODY_BYTES`] of a body, as text.
async fn read_some(mut response: reqwest::Response, timeout: Duration) -> String {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= ERROR_BODY_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
    body.truncate(ERROR_BODY_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

/// The message in an error body: OpenAI's `error.message`, Anthropic's, a bare
/// `message` or `error` string, else the start of the text.
fn provider_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let message = message.unwrap_or_else(|| body.trim().to_owned());
    match message.is_empty() {
        true => "no message".to_owned(),
        false => message.chars().take(ERROR_MESSAGE_CHARS).collect(),
    }
}

/// `text` without the granted key in it (a provider may echo it back in an error).
pub(crate) fn scrub(text: &str, grant: &EgressGrant) -> String {
    let key = grant.api_key.expose();
    match key.len() >= 4 {
        true => text.replace(key, "[redacted]"),
        false => text.to_owned(),
    }
}

/// A reqwest error's words without the URL it carries (already named by the provider).
fn without_url(err: &reqwest::Error) -> String {
    let mut parts = vec![];
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(err) = source {
        parts.push(err.to_string());
        source = err.source();
    }
    let text = parts.last().cloned().unwrap_or_default();
    match err.url() {
        Some(url) => text.replace(url.as_str(), "its URL"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_message_is_found_in_its_usual_places_and_cut_short() {
        assert_eq!(
            provider_message(r#"{"error": {"message": "bad key", "type": "auth"}}"#),
            "bad key"
        );
        assert_eq!(provider_message(r#"{"message": "slow down"}"#), "slow down");
        assert_eq!(provider_message(r#"{"error": "nope"}"#), "nope");
        assert_eq!(provider_message("  upstream died \n"), "upstream died");
        assert_eq!(provider_message(""), "no message");
        assert_eq!(
            provider_message(&"x".repeat(5000)).len(),
            ERROR_MESSAGE_CHARS
        );
    }

    #[test]
    fn backoff_doubles_unless_the_provider_says_how_long() {
        assert!(backoff(1, None) >= FIRST_BACKOFF);
        assert!(backoff(2, None) >= FIRST_BACKOFF * 2);
        assert!(backoff(2, None) < FIRST_BACKOFF * 2 + Duration::from_millis(100));
        assert!(backoff(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }
}
