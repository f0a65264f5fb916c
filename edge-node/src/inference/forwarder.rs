//! The node's end of a job's inference socket: a small HTTP server on a per-job unix
//! socket that forwards Ollama (`/api/*`) and OpenAI (`/v1/*`) calls to the node's
//! inference endpoint.
//!
//! - Request bodies over the limit (10 MiB) get 413; a call that has not finished within
//!   the time limit (120 s) gets 504, or is cut off if its answer is already streaming.
//! - Only `Content-Type` and `Accept` are passed on: no credential, cookie or node header
//!   ever leaves the pod's call.
//! - Answers stream back chunk by chunk as the server produces them.
//! - Every call is recorded (job, model, path, status, bytes each way, tokens when the
//!   server reports them, latency) in the log and in the job's [`InferenceUsage`]; never content.

use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use cynode_protocol::ids::JobId;
use cynode_protocol::wire::InferenceUsage;

use super::usage::usage_from_tail;

/// Bytes of a response's end kept to read its token counts.
const USAGE_TAIL_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLimits {
    pub max_request_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 10 * 1024 * 1024,
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// Forwards to one inference endpoint; serves any number of job sockets.
#[derive(Clone)]
pub struct Forwarder {
    http: reqwest::Client,
    upstream: String,
    limits: ProxyLimits,
}

struct JobContext {
    forwarder: Forwarder,
    job_id: JobId,
    usage: Arc<Mutex<InferenceUsage>>,
}

/// A job's socket being served; [`JobProxy::finish`] closes it and says what was used.
pub struct JobProxy {
    usage: Arc<Mutex<InferenceUsage>>,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

impl JobProxy {
    pub async fn finish(mut self) -> InferenceUsage {
        self.stop.cancel();
        if tokio::time::timeout(Duration::from_secs(2), &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
        *self.usage.lock().expect("usage lock")
    }
}

impl Drop for JobProxy {
    /// A job that ends early (an error before its sandbox ran) still closes its socket.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Deserialize)]
struct ModelField {
    model: Option<String>,
}

/// An error in the shape the caller's API uses: OpenAI's for `/v1/*`, Ollama's otherwise.
fn api_error(path: &str, status: StatusCode, message: String) -> Response {
    let body = if path.starts_with("/v1/") {
        serde_json::json!({"error": {"message": message, "type": "cynode_proxy_error", "code": status.as_u16()}})
    } else {
        serde_json::json!({ "error": message })
    };
    (status, axum::Json(body)).into_response()
}

impl Forwarder {
    pub fn new(upstream: &str, limits: ProxyLimits) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            upstream: upstream.trim_end_matches('/').to_owned(),
            limits,
        })
    }

    /// The node's inference endpoint.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The client calls to the endpoint go through.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Serves `socket` (created here, mode 0666 so the sidecar's user can connect) for
    /// `job` until [`JobProxy::finish`].
    pub fn serve(&self, socket: &Path, job_id: JobId) -> std::io::Result<JobProxy> {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket)?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
        let usage = Arc::new(Mutex::new(InferenceUsage::default()));
        let context = Arc::new(JobContext {
            forwarder: self.clone(),
            job_id,
            usage: usage.clone(),
        });
        let app = Router::new().fallback(forward).with_state(context);
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %err, "inference socket server failed");
            }
        });
        Ok(JobProxy {
            usage,
            stop,
            server,
        })
    }
}

/// One call in flight: counts bytes, keeps the tail for token counts, and records the
/// call when the answer ends (or the caller goes away).
struct CallRecord {
    context: Arc<JobContext>,
    model: Option<String>,
    path: String,
    status: u16,
    request_bytes: usize,
    response_bytes: usize,
    tail: Vec<u8>,
    started: Instant,
    outcome: &'static str,
}

impl CallRecord {
    fn saw(&mut self, chunk: &[u8]) {
        self.response_bytes += chunk.len();
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > USAGE_TAIL_BYTES {
            let cut = self.tail.len() - USAGE_TAIL_BYTES;
            self.tail.drain(..cut);
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let tokens = usage_from_tail(&self.tail);
        {
            let mut usage = self.context.usage.lock().expect("usage lock");
            let call = tokens.unwrap_or(InferenceUsage {
                calls: 1,
                ..InferenceUsage::default()
            });
            *usage = *usage + call;
        }
        tracing::info!(
            target: "cynode_edge::inference",
            job_id = %self.context.job_id,
            model = self.model.as_deref().unwrap_or("-"),
            path = %self.path,
            status = self.status,
            outcome = self.outcome,
            request_bytes = self.request_bytes,
            response_bytes = self.response_bytes,
            prompt_tokens = tokens.map(|t| t.prompt_tokens),
            completion_tokens = tokens.map(|t| t.completion_tokens),
            latency_ms = self.started.elapsed().as_millis() as u64,
            "inference call"
        );
    }
}

type Chunks = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A request body as read against the limit.
enum RequestBody {
    Within(Bytes),
    TooLarge,
    Broken,
}

/// Reads the body up to `max` bytes. Past that (or when its declared length already is)
/// the rest is read and dropped, up to a bound, so that the client gets the 413 instead
/// of a reset connection while it is still sending.
async fn read_body(body: axum::body::Body, max: usize, over: bool) -> RequestBody {
    let drain_bound = max.saturating_mul(4);
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let mut over = over;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return RequestBody::Broken;
        };
        seen += chunk.len();
        if !over && kept.len() + chunk.len() > max {
            over = true;
            kept = Vec::new();
        }
        if !over {
            kept.extend_from_slice(&chunk);
        } else if seen > drain_bound {
            break;
        }
    }
    if over {
        RequestBody::TooLarge
    } else {
        RequestBody::Within(Bytes::from(kept))
    }
}

async fn forward(State(context): State<Arc<JobContext>>, request: Request) -> Response {
    let started = Instant::now();
    let limits = context.forwarder.limits.clone();
    let deadline = tokio::time::Instant::now() + limits.request_timeout;
    let path = request.uri().path().to_owned();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    if !(path.starts_with("/api/") || path.starts_with("/v1/")) {
        return api_error(
            &path,
            StatusCode::NOT_FOUND,
            "only Ollama /api/* and OpenAI /v1/* paths are forwarded".into(),
        );
    }
    let too_large = || {
        api_error(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body over {} bytes; the inference proxy refuses it",
                limits.max_request_bytes
            ),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (parts, body) = request.into_parts();
    let read = read_body(
        body,
        limits.max_request_bytes,
        declared.is_some_and(|len| len > limits.max_request_bytes),
    );
    let bytes = match tokio::time::timeout_at(deadline, read).await {
        Ok(RequestBody::Within(bytes)) => bytes,
        Ok(RequestBody::TooLarge) => return too_large(),
        Ok(RequestBody::Broken) => {
            return api_error(
                &path,
                StatusCode::BAD_REQUEST,
                "the request body broke off".into(),
            )
        }
        Err(_) => {
            return api_error(
                &path,
                StatusCode::GATEWAY_TIMEOUT,
                "the request body did not arrive within the time limit".into(),
            )
        }
    };
    let model = serde_json::from_slice::<ModelField>(&bytes)
        .ok()
        .and_then(|m| m.model);
    let mut upstream = context.forwarder.http.request(
        parts.method.clone(),
        format!("{}{target}", context.forwarder.upstream),
    );
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = parts.headers.get(&name) {
            upstream = upstream.header(name, value);
        }
    }
    let mut record = CallRecord {
        context: context.clone(),
        model,
        path: path.clone(),
        status: 0,
        request_bytes: bytes.len(),
        response_bytes: 0,
        tail: Vec::new(),
        started,
        outcome: "ok",
    };
    let response = match tokio::time::timeout_at(deadline, upstream.body(bytes).send()).await {
        Err(_) => {
            record.status = 504;
            record.outcome = "timeout";
            return api_error(
                &path,
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the model server did not answer within {} s",
                    limits.request_timeout.as_secs()
                ),
            );
        }
        Ok(Err(err)) => {
            record.status = 502;
            record.outcome = "unreachable";
            return api_error(
                &path,
                StatusCode::BAD_GATEWAY,
                format!(
                    "the node's inference endpoint is unreachable: {}",
                    err.without_url()
                ),
            );
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    record.status = status.as_u16();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let chunks: Chunks = Box::pin(response.bytes_stream());
    let body = futures_util::stream::unfold(Some((chunks, record)), move |state| async move {
        let (mut chunks, mut record) = state?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Err(_) => {
                record.outcome = "timeout";
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the model server's answer ran past the proxy's time limit",
                    )),
                    None,
                ))
            }
            Ok(Some(Ok(chunk))) => {
                record.saw(&chunk);
                Some((Ok(chunk), Some((chunks, record))))
            }
            Ok(Some(Err(err))) => {
                record.outcome = "upstream_error";
                Some((Err(std::io::Error::other(err.without_url())), None))
            }
            Ok(None) => None,
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() =
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    if let Some(value) = content_type {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
    response
}
