//! The node's end of a job's inference socket (`cynode_edge::inference::forwarder`),
//! driven over a real unix socket: against the real model server for forwarding and token
//! records, and against a local TCP peer that records requests or never answers, for the
//! route allowlist, the model check, the header filter and the time and call limits.
//! Every attack is sent to the recording peer: nothing of it may reach the server.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::watch;

use cynode_edge::inference::forwarder::{Forwarder, JobProxy, ProxyLimits};
use cynode_edge::inference::job_models::{JobModels, ModelRelay};
use cynode_protocol::ids::JobId;
use cynode_protocol::wire::HostedCall;

fn socket_path(name: &str) -> PathBuf {
    let dir = cynode_testkit::scratch_dir("inference-proxy");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}.sock", std::process::id()))
}

/// The models the node serves in these tests.
const SERVED: [&str; 2] = ["m", cynode_testkit::TEST_MODEL];

fn serve(upstream: &str, limits: ProxyLimits, name: &str) -> (JobProxy, PathBuf) {
    let path = socket_path(name);
    let forwarder = Forwarder::new(upstream, limits).unwrap();
    let (_, models) = watch::channel(SERVED.iter().map(|m| m.to_string()).collect());
    (
        forwarder
            .serve(&path, JobId::generate(), JobModels::Served(models))
            .unwrap(),
        path,
    )
}

/// Sends raw HTTP/1.1 over the socket; returns the status and the body.
async fn call(socket: &PathBuf, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "{head}\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // A refused request may close before reading it all; that is fine.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// A TCP peer that records each request head and answers `reply` (or never, if `None`).
async fn peer(reply: Option<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                record
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                match reply {
                    Some(reply) => {
                        let _ = conn.write_all(reply.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(600)).await,
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn forwards_to_the_real_model_and_records_tokens() {
    let model = cynode_testkit::require_model_server().expect("the model server");
    let (proxy, socket) = serve(&model, ProxyLimits::default(), "real");
    let body = serde_json::json!({
        "model": cynode_testkit::TEST_MODEL, "max_tokens": 4, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hi."}]
    })
    .to_string();
    let (status, answer) = call(
        &socket,
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json",
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"choices\""), "{answer}");
    let usage = proxy.finish().await;
    assert_eq!(usage.calls, 1);
    assert!(
        usage.prompt_tokens > 0 && usage.completion_tokens > 0,
        "{usage:?}"
    );
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_never_reaches_the_server() {
    let (upstream, seen) = peer(Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).await;
    let limits = ProxyLimits {
        max_request_bytes: 1024,
        ..ProxyLimits::default()
    };
    let (proxy, socket) = serve(&upstream, limits, "big");
    let (status, body) = call(&socket, "POST /api/chat HTTP/1.1", &[b' '; 2048]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("over 1024 bytes"), "{body}");
    assert!(seen.lock().unwrap().is_empty(), "the server was called");
    proxy.finish().await;
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_gets_504() {
    let (upstream, _) = peer(None).await;
    let limits = ProxyLimits {
        request_timeout: Duration::from_secs(1),
        ..ProxyLimits::default()
    };
    let (proxy, socket) = serve(&upstream, limits, "slow");
    let started = Instant::now();
    let (status, body) = call(
        &socket,
        "POST /v1/chat/completions HTTP/1.1",
        br#"{"model":"m"}"#,
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("\"error\""), "OpenAI error shape: {body}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(proxy.finish().await.calls, 1);
}

#[tokio::test]
async fn credentials_and_node_headers_are_never_forwarded() {
    let (upstream, seen) = peer(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ))
    .await;
    let (proxy, socket) = serve(&upstream, ProxyLimits::default(), "headers");
    let head = "POST /api/generate HTTP/1.1\r\nContent-Type: application/json\r\n\
                Authorization: Bearer sk-secret\r\nCookie: session=abc\r\n\
                X-Cynode-Node: node_1\r\nX-Cynode-Signature: sig";
    let (status, _) = call(&socket, head, b"{\"model\":\"m\"}").await;
    assert_eq!(status, 200);
    let request = seen.lock().unwrap().join("\n").to_lowercase();
    assert!(request.starts_with("post /api/generate"), "{request}");
    assert!(
        request.contains("content-type: application/json"),
        "{request}"
    );
    for leaked in ["authorization", "sk-secret", "cookie", "x-cynode"] {
        assert!(
            !request.contains(leaked),
            "{leaked} was forwarded: {request}"
        );
    }
    let (status, _) = call(&socket, "GET /admin HTTP/1.1", b"").await;
    assert_eq!(status, 404, "only inference routes are forwarded");
    proxy.finish().await;
}

/// Requests a job must never get through: the model server's own admin and slot routes
/// reached by dot segments (raw or percent-encoded) or doubled slashes, Ollama's admin
/// routes, methods an inference route does not take, and queries.
const ATTACKS: &[(&str, &str)] = &[
    ("GET", "/v1/../slots"),
    ("GET", "/v1/../props"),
    ("GET", "/v1/%2e%2e/slots"),
    ("GET", "/v1/%2E%2E/props"),
    ("GET", "/v1/.%2e/metrics"),
    ("GET", "/v1/./models"),
    ("GET", "/api/../slots"),
    ("POST", "/v1/chat/completions/../../slots/0?action=erase"),
    ("GET", "//v1/models"),
    ("GET", "/v1//models"),
    ("GET", "/v1/models/"),
    ("GET", "/v1%2fmodels"),
    ("DELETE", "/api/delete"),
    ("POST", "/api/pull"),
    ("POST", "/api/push"),
    ("POST", "/api/create"),
    ("POST", "/api/copy"),
    ("POST", "/api/blobs/sha256:0000"),
    ("HEAD", "/api/blobs/sha256:0000"),
    ("GET", "/api/ps"),
    ("POST", "/slots/0?action=save"),
    ("GET", "/props"),
    ("GET", "/metrics"),
    ("DELETE", "/v1/models"),
    ("PUT", "/v1/chat/completions"),
    ("GET", "/v1/chat/completions"),
    ("GET", "/v1/models?limit=1"),
    ("POST", "/v1/chat/completions?"),
    ("POST", "/api/chat?stream=true"),
];

#[tokio::test]
async fn dot_segments_admin_routes_and_queries_never_reach_the_server() {
    let (upstream, seen) = peer(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ))
    .await;
    let (proxy, socket) = serve(&upstream, ProxyLimits::default(), "attacks");
    for (method, path) in ATTACKS {
        let body = format!("{{\"model\":\"{}\"}}", SERVED[0]);
        let (status, answer) = call(
            &socket,
            &format!("{method} {path} HTTP/1.1"),
            body.as_bytes(),
        )
        .await;
        assert!(
            (400..500).contains(&status),
            "{method} {path} answered {status}: {answer}"
        );
        if method != &"HEAD" {
            assert!(
                answer.contains("\"error\""),
                "{method} {path}: an error body: {answer}"
            );
        }
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "reached the server: {:?}",
        seen.lock().unwrap()
    );
    let usage = proxy.finish().await;
    assert_eq!(
        usage.refused_calls as usize,
        ATTACKS.len(),
        "each refusal is recorded: {usage:?}"
    );
    assert_eq!(usage.calls, 0, "{usage:?}");
}

#[tokio::test]
async fn every_inference_route_is_forwarded_to_its_own_path() {
    let (upstream, seen) = peer(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ))
    .await;
    let (proxy, socket) = serve(&upstream, ProxyLimits::default(), "routes");
    let routes = [
        ("POST", "/api/chat"),
        ("POST", "/api/generate"),
        ("POST", "/api/embed"),
        ("POST", "/api/embeddings"),
        ("GET", "/api/tags"),
        ("POST", "/api/show"),
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/responses"),
    ];
    for (method, path) in routes {
        let (status, answer) = call(
            &socket,
            &format!("{method} {path} HTTP/1.1"),
            b"{\"model\":\"m\"}",
        )
        .await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
    }
    let heads: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|request| request.lines().next().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = routes
        .iter()
        .map(|(method, path)| format!("{method} {path} HTTP/1.1"))
        .collect();
    assert_eq!(heads, expected);
    assert_eq!(proxy.finish().await.calls as usize, routes.len());
}

#[tokio::test]
async fn a_job_may_name_only_the_models_its_node_serves() {
    let (upstream, seen) = peer(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ))
    .await;
    let (proxy, socket) = serve(&upstream, ProxyLimits::default(), "models");
    for (head, body) in [
        (
            "POST /api/chat HTTP/1.1",
            r#"{"model":"evil/model:latest"}"#,
        ),
        (
            "POST /api/show HTTP/1.1",
            r#"{"name":"registry.example/x"}"#,
        ),
        ("POST /v1/chat/completions HTTP/1.1", r#"{"messages":[]}"#),
        ("POST /v1/embeddings HTTP/1.1", "not json"),
    ] {
        let (status, answer) = call(&socket, head, body.as_bytes()).await;
        assert!(
            (400..500).contains(&status),
            "{head} {body}: {status} {answer}"
        );
        assert!(answer.contains("\"error\""), "{answer}");
    }
    let (status, answer) = call(&socket, "POST /api/show HTTP/1.1", br#"{"name":"m"}"#).await;
    assert_eq!(status, 200, "Ollama's older `name` field: {answer}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "only the served model's call"
    );
    let usage = proxy.finish().await;
    assert_eq!((usage.calls, usage.refused_calls), (1, 4), "{usage:?}");
}

#[tokio::test]
async fn calls_at_once_and_calls_per_job_are_capped() {
    let (upstream, _) = peer(None).await;
    let limits = ProxyLimits {
        max_concurrent_calls: 2,
        max_calls: 3,
        request_timeout: Duration::from_secs(3),
        ..ProxyLimits::default()
    };
    let (proxy, socket) = serve(&upstream, limits, "caps");
    let body = br#"{"model":"m"}"#;
    // Two calls the server never answers hold both places...
    let hanging: Vec<_> = (0..2)
        .map(|_| {
            let socket = socket.clone();
            tokio::spawn(async move { call(&socket, "POST /api/chat HTTP/1.1", body).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...so a third is refused at once, not queued.
    let started = Instant::now();
    let (status, answer) = call(&socket, "POST /api/chat HTTP/1.1", body).await;
    assert_eq!(status, 429, "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
    for call in hanging {
        assert_eq!(call.await.unwrap().0, 504);
    }
    // The job has used 2 of its 3 calls (the refused one does not count): one more, then 429.
    let (status, _) = call(&socket, "POST /api/chat HTTP/1.1", body).await;
    assert_eq!(status, 504);
    let (status, answer) = call(&socket, "POST /api/chat HTTP/1.1", body).await;
    assert_eq!(status, 429, "{answer}");
    assert!(answer.contains("calls"), "{answer}");
    let usage = proxy.finish().await;
    assert_eq!((usage.calls, usage.refused_calls), (3, 2), "{usage:?}");
}

/// A relay standing in for the gateway: it records what the job asked for and fetches
/// the answer from `upstream` (a recording peer), as the gateway client would.
struct RecordingRelay {
    upstream: String,
    calls: Mutex<Vec<(HostedCall, serde_json::Value)>>,
}

#[async_trait::async_trait]
impl ModelRelay for RecordingRelay {
    async fn call(
        &self,
        call: HostedCall,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, String> {
        self.calls.lock().unwrap().push((call, body.clone()));
        reqwest::Client::new()
            .post(format!("{}/relayed", self.upstream))
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|err| err.to_string())
    }
}

#[tokio::test]
async fn a_hosted_model_job_reaches_only_its_model_through_its_relay() {
    let (upstream, seen) = peer(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"choices\": [ ]}",
    ))
    .await;
    // The node's own model server: nothing may reach it.
    let (server, server_seen) = peer(Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).await;
    let relay = Arc::new(RecordingRelay {
        upstream,
        calls: Mutex::new(Vec::new()),
    });
    let forwarder = Forwarder::new(&server, ProxyLimits::default()).unwrap();
    let path = socket_path("hosted");
    let proxy = forwarder
        .serve(
            &path,
            JobId::generate(),
            JobModels::Hosted {
                model: "standin/m".into(),
                relay: relay.clone(),
            },
        )
        .unwrap();
    let chat = |model: &str| {
        serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
    };
    let post = "POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json";
    // Another model, a node model, or a route other than chat and embeddings: refused.
    let (status, body) = call(&path, post, chat("standin/other").as_bytes()).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("only its hosted model standin/m"), "{body}");
    let (status, _) = call(&path, post, chat(cynode_testkit::TEST_MODEL).as_bytes()).await;
    assert_eq!(status, 404);
    let (status, body) = call(
        &path,
        "POST /api/chat HTTP/1.1",
        chat("standin/m").as_bytes(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("/v1/chat/completions and /v1/embeddings only"),
        "{body}"
    );
    let (status, _) = call(&path, "GET /v1/models HTTP/1.1", b"").await;
    assert_eq!(status, 404);
    // Its own model: relayed, answered as the gateway answered.
    let (status, body) = call(&path, post, chat("standin/m").as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("choices"), "{body}");
    let calls = relay.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, HostedCall::ChatCompletions);
    assert_eq!(calls[0].1["model"], "standin/m");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(
        server_seen.lock().unwrap().is_empty(),
        "the node's model server was called"
    );
    let usage = proxy.finish().await;
    assert_eq!((usage.calls, usage.refused_calls), (1, 4), "{usage:?}");
}
