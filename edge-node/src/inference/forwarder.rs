//! The node's end of a job's inference socket: a small HTTP server on a per-job unix
//! socket that forwards a job's model calls to the node's inference endpoint, and nothing
//! else.
//!
//! - Only the inference routes of [`super::routes`] are forwarded, each to its own fixed
//!   upstream path: the model server's admin, slot and model-management routes are out of
//!   reach whatever the request's path spells.
//! - A call may name only a model the node serves (no pulls or lookups by name).
//! - Calls at once and calls per job are capped (429), and so are open connections.
//! - Request bodies over the limit (10 MiB) get 413; a call that has not finished within
//!   the time limit (120 s) gets 504, or is cut off if its answer is already streaming.
//! - Only `Content-Type` and `Accept` are passed on: no credential, cookie or node header
//!   ever leaves the pod's call.
//! - Answers stream back chunk by chunk as the server produces them.
//! - Every call, refusals included, is recorded (job, model, path, status, bytes each way,
//!   tokens when the server reports them, latency) in the log and in the job's
//!   [`InferenceUsage`]; never content.
//! - A job whose model is hosted ([`JobModels::Hosted`]) may call only that model's chat
//!   completions and embeddings; its calls go to the gateway's egress through a
//!   [`ModelRelay`](super::job_models::ModelRelay) (signed under the job's claim), never
//!   to the node's model server, under the same limits.

use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::{Stream, StreamExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use cynode_protocol::ids::JobId;
use cynode_protocol::wire::{HostedCall, InferenceUsage};

use super::job_models::JobModels;
use super::job_models::{hosted_call, served_model};
use super::listener::LimitedListener;
use super::routes::{route_for, InferenceRoute};
use super::usage::usage_from_tail;

/// The models the node serves now (kept current by the agent).
pub type ServedModels = watch::Receiver<Vec<String>>;

/// Bytes of a response's end kept to read its token counts.
const USAGE_TAIL_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLimits {
    pub max_request_bytes: usize,
    pub request_timeout: Duration,
    /// Calls one job may have in flight; more get 429 at once.
    pub max_concurrent_calls: usize,
    /// Calls one job may make in all; more get 429.
    pub max_calls: u32,
    /// Connections one job may hold open to its socket; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 10 * 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            max_concurrent_calls: 4,
            max_calls: 1000,
            max_connections: 16,
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
    models: JobModels,
    /// Places for calls in flight.
    in_flight: Arc<Semaphore>,
    /// Calls forwarded so far.
    calls: AtomicU32,
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

    /// A forwarder for jobs with hosted models: each job's
    /// [`ModelRelay`](super::job_models::ModelRelay) answers, and
    /// there is no endpoint of the node's.
    pub fn for_relays(limits: ProxyLimits) -> anyhow::Result<Self> {
        Self::new("", limits)
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
    /// `job`, which may name only its `models`, until [`JobProxy::finish`].
    pub fn serve(
        &self,
        socket: &Path,
        job_id: JobId,
        models: JobModels,
    ) -> std::io::Result<JobProxy> {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(socket);
        let listener = LimitedListener::bind(socket, self.limits.max_connections)?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
        let usage = Arc::new(Mutex::new(InferenceUsage::default()));
        let context = Arc::new(JobContext {
            forwarder: self.clone(),
            job_id,
            usage: usage.clone(),
            models,
            in_flight: Arc::new(Semaphore::new(self.limits.max_concurrent_calls.max(1))),
            calls: AtomicU32::new(0),
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

/// One call: counts bytes, keeps the tail for token counts, and records the call when
/// the answer ends (or the caller goes away). A refused call is recorded too, as refused.
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
    /// The call's place among the job's calls in flight, held until its answer ends.
    place: Option<OwnedSemaphorePermit>,
}

impl CallRecord {
    /// Refuses the call: recorded with `status`, answered in the caller's error shape.
    fn refuse(mut self, status: StatusCode, message: String) -> Response {
        self.status = status.as_u16();
        self.outcome = "refused";
        api_error(&self.path, status, message)
    }

    /// A failure after the call was accepted (it counts as a call).
    fn fail(mut self, status: StatusCode, outcome: &'static str, message: String) -> Response {
        self.status = status.as_u16();
        self.outcome = outcome;
        api_error(&self.path, status, message)
    }
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
            let call = if self.outcome == "refused" {
                InferenceUsage {
                    refused_calls: 1,
                    ..InferenceUsage::default()
                }
            } else {
                tokens.unwrap_or(InferenceUsage {
                    calls: 1,
                    ..InferenceUsage::default()
                })
            };
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
    let limits = context.forwarder.limits.clone();
    let deadline = tokio::time::Instant::now() + limits.request_timeout;
    let path = request.uri().path().to_owned();
    let record = CallRecord {
        context: context.clone(),
        model: None,
        path: path.chars().take(200).collect(),
        status: 0,
        request_bytes: 0,
        response_bytes: 0,
        tail: Vec::new(),
        started: Instant::now(),
        outcome: "ok",
        place: None,
    };
    let (admitted, record) = match admit(&context, request, record, deadline).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    relay(&context, admitted, record, deadline).await
}

/// A call the proxy lets through: where it goes, its headers and its body.
struct Admitted {
    route: InferenceRoute,
    parts: axum::http::request::Parts,
    bytes: Bytes,
}

/// Checks a call against the allowlist and the job's limits, and reads its body; the
/// answer to send instead when it is refused.
async fn admit(
    context: &Arc<JobContext>,
    request: Request,
    mut record: CallRecord,
    deadline: tokio::time::Instant,
) -> Result<(Admitted, CallRecord), Response> {
    let limits = &context.forwarder.limits;
    let path = request.uri().path().to_owned();
    let route = match route_for(request.method(), &path, request.uri().query()) {
        Ok(route) => route,
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::NOT_FOUND);
            let message = refusal.message(&record.path);
            return Err(record.refuse(status, message));
        }
    };
    record.path = route.path().to_owned();
    if let (JobModels::Hosted { model, .. }, None) = (&context.models, hosted_call(route)) {
        return Err(record.refuse(
            StatusCode::NOT_FOUND,
            format!(
                "this job's model is the hosted {model}: it may call /v1/chat/completions and /v1/embeddings only"
            ),
        ));
    }
    match context.in_flight.clone().try_acquire_owned() {
        Ok(place) => record.place = Some(place),
        Err(_) => {
            return Err(record.refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this job already has {} model calls in flight; wait for one to finish",
                    limits.max_concurrent_calls
                ),
            ))
        }
    }
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
        Ok(RequestBody::TooLarge) => {
            return Err(record.refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body over {} bytes; the inference proxy refuses it",
                    limits.max_request_bytes
                ),
            ))
        }
        Ok(RequestBody::Broken) => {
            return Err(record.refuse(StatusCode::BAD_REQUEST, "the request body broke off".into()))
        }
        Err(_) => {
            return Err(record.fail(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the request body did not arrive within the time limit".into(),
            ))
        }
    };
    record.request_bytes = bytes.len();
    if route.names_model() {
        match served_model(&context.models, route, &bytes) {
            Ok(model) => record.model = Some(model),
            Err((status, message)) => return Err(record.refuse(status, message)),
        }
    }
    // Counted only now: refused calls do not use up the job's allowance.
    if context.calls.fetch_add(1, Ordering::SeqCst) >= limits.max_calls {
        context.calls.fetch_sub(1, Ordering::SeqCst);
        return Err(record.refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this job has made its {} model calls; no more are allowed",
                limits.max_calls
            ),
        ));
    }
    Ok((
        Admitted {
            route,
            parts,
            bytes,
        },
        record,
    ))
}

/// Sends an admitted call to the model server and streams its answer back, within the
/// call's time limit.
async fn relay(
    context: &Arc<JobContext>,
    admitted: Admitted,
    mut record: CallRecord,
    deadline: tokio::time::Instant,
) -> Response {
    let Admitted {
        route,
        parts,
        bytes,
    } = admitted;
    let limits = &context.forwarder.limits;
    let sent = match &context.models {
        JobModels::Served(_) => {
            let mut upstream = context.forwarder.http.request(
                route.method(),
                format!("{}{}", context.forwarder.upstream, route.path()),
            );
            for name in [header::CONTENT_TYPE, header::ACCEPT] {
                if let Some(value) = parts.headers.get(&name) {
                    upstream = upstream.header(name, value);
                }
            }
            tokio::time::timeout_at(deadline, upstream.body(bytes).send())
                .await
                .map(|sent| sent.map_err(|err| err.without_url().to_string()))
        }
        JobModels::Hosted { relay, .. } => {
            // Admitted: the route is one of the hosted calls and the body names the model.
            let call = hosted_call(route).unwrap_or(HostedCall::ChatCompletions);
            let body = serde_json::from_slice(&bytes).unwrap_or_default();
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::timeout_at(deadline, relay.call(call, body, left)).await
        }
    };
    let response = match sent {
        Err(_) => {
            return record.fail(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "the model server did not answer within {} s",
                    limits.request_timeout.as_secs()
                ),
            );
        }
        Ok(Err(err)) => {
            let what = match context.models {
                JobModels::Served(_) => "the node's inference endpoint",
                JobModels::Hosted { .. } => "the gateway's egress",
            };
            return record.fail(
                StatusCode::BAD_GATEWAY,
                "unreachable",
                format!("{what} is unreachable: {err}"),
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
