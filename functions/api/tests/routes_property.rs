//! Hostile input at every route, in process: at least 10 000 generated requests (methods,
//! paths built from the route table with generated segments, query strings, headers —
//! tokens, node signatures, idempotency keys, forwarded addresses — and bodies, both
//! arbitrary bytes and JSON shaped like the real requests) go through the whole gateway
//! (every function's router, as the local gateway dispatches) over the in-memory ports.
//! No request may panic a handler or get a 5xx.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::ServiceExt;

use cynode_api::config::{GatewayConfig, SecretName, Secrets};
use cynode_api::routing::local_gateway;
use cynode_api::state::{AppState, Ports};
use cynode_domain::memory::MemoryStore;
use cynode_domain::wire::LoginRequest;

/// Generated cases; about a quarter are not valid HTTP (a `%` without hex digits, say)
/// and never reach the gateway, so more are generated than must be sent.
const CASES: u32 = 14_000;
/// Requests that must reach the gateway.
const SENT: u32 = 10_000;

/// Paths with `{}` where a generated segment goes: every route of every function.
const PATHS: &[&str] = &[
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/users",
    "/v1/users/me",
    "/v1/users/{}",
    "/v1/users/{}/password",
    "/v1/users/me/password",
    "/v1/tasks",
    "/v1/tasks/{}",
    "/v1/tasks/{}/result",
    "/v1/tasks/{}/cancel",
    "/v1/tasks/{}/logs",
    "/v1/tasks/{}/logs/stream",
    "/v1/tasks/{}/output/{}",
    "/v1/attachments",
    "/v1/projects",
    "/v1/projects/{}",
    "/v1/preferences",
    "/v1/audit",
    "/v1/settings",
    "/v1/skills",
    "/v1/skills/{}",
    "/v1/credentials",
    "/v1/credentials/{}",
    "/v1/credentials/{}/rotate",
    "/v1/providers",
    "/v1/providers/{}",
    "/v1/providers/{}/credential",
    "/",
    "/assets/{}",
    "/v1/settings/{}",
    "/v1/preferences/{}",
    "/v1/preferences/effective",
    "/v1/nodes/register",
    "/v1/nodes/config",
    "/v1/nodes/config/ack",
    "/v1/nodes/capabilities",
    "/v1/jobs/{}/started",
    "/v1/jobs/{}/heartbeat",
    "/v1/jobs/{}/result",
    "/v1/jobs/{}/chunks",
    "/v1/jobs/{}/logs",
    "/v1/jobs/{}/output",
    "/v1/jobs/{}/release",
    "/v1/chat",
    "/v1/chat/completions",
    "/v1/chat/threads",
    "/v1/chat/threads/{}",
    "/v1/models",
    "/v1/admin/nodes",
    "/v1/admin/nodes/{}",
    "/v1/admin/nodes/{}/drain",
    "/v1/admin/nodes/{}/enable",
    "/v1/admin/dead-letters",
    "/v1/admin/dead-letters/redrive",
    "/v1/admin/sweep",
    "/healthz",
    "/readyz",
    "/{}",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("task_01JD0000000000000000000000".to_owned()),
        Just("job_01JD0000000000000000000000".to_owned()),
        Just("stdout".to_owned()),
        Just("agent.max_steps".to_owned()),
        Just("nodes.stale_secs".to_owned()),
        Just("..".to_owned()),
        Just("%00".to_owned()),
        Just("%2F%2E%2E".to_owned()),
        "[a-zA-Z0-9_.~-]{0,80}",
        "[a-z%0-9]{1,300}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "(limit|status|cursor|stream|scope|scope_id|task|project|action|outcome|user)=[a-zA-Z0-9%_=-]{0,40}(&(limit|status|cursor|stream|scope|scope_id|task|project|action|outcome|user)=[a-z0-9%-]{0,40}){0,3}",
        "[ -~]{0,60}".prop_map(|q| q.replace([' ', '#'], "+")),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        "\\PC{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(field(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the real bodies use, and others.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "prompt",
            "script",
            "commands",
            "mode",
            "task_name",
            "attachments",
            "timeout_seconds",
            "model",
            "handle",
            "password",
            "current_password",
            "new_password",
            "is_admin",
            "disabled",
            "scope",
            "scope_id",
            "value",
            "version",
            "body",
            "triggers",
            "provider",
            "entries",
            "enabled",
            "description",
            "credential_name",
            "refresh_token",
            "name",
            "size",
            "messages",
            "role",
            "content",
            "stream",
            "max_tokens",
            "temperature",
            "message",
            "thread_id",
            "task_id",
            "attempt",
            "lease_id",
            "status",
            "stdout",
            "stderr",
            "truncated",
            "seq",
            "text",
            "stream_options",
            "pre_shared_key",
            "node_name",
            "capabilities",
            "config_version",
            "applied",
            "boot_id",
            "receive_count",
            "reason",
            "raw",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

#[derive(Debug, Clone)]
struct Generated {
    method: Method,
    path: String,
    query: String,
    headers: Vec<(&'static str, String)>,
    with_token: bool,
    body: Vec<u8>,
}

fn header() -> impl Strategy<Value = (&'static str, String)> {
    let name = prop::sample::select(vec![
        "content-type",
        "authorization",
        "idempotency-key",
        "x-cynode-node",
        "x-cynode-timestamp",
        "x-cynode-nonce",
        "x-cynode-signature",
        "x-forwarded-for",
        "accept",
    ]);
    let value = prop_oneof![
        Just("application/json".to_owned()),
        Just("Bearer ".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("node_01JD0000000000000000000000".to_owned()),
        "[ -~]{0,100}",
    ];
    (name, value)
}

fn request() -> impl Strategy<Value = Generated> {
    (
        prop::sample::select(vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
        ]),
        prop::sample::select(PATHS.to_vec()),
        prop::collection::vec(segment(), 2),
        query(),
        prop::collection::vec(header(), 0..5),
        any::<bool>(),
        body(),
    )
        .prop_map(
            |(method, template, segments, query, headers, with_token, body)| {
                let mut path = template.to_owned();
                for segment in &segments {
                    path = path.replacen("{}", segment, 1);
                }
                Generated {
                    method,
                    path,
                    query,
                    headers,
                    with_token,
                    body,
                }
            },
        )
}

#[test]
fn no_generated_request_panics_or_gets_a_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let settings = |name: &str| match name {
        "CYNODE_JWT_SECRET" => Some("j".repeat(32)),
        "CYNODE_NODE_KEY_SECRET" => Some("n".repeat(32)),
        "CYNODE_NODE_PSK" => Some("p".repeat(32)),
        "CYNODE_ADMIN_PASSWORD" => Some("admin-password".into()),
        _ => None,
    };
    let mut config = GatewayConfig::from_settings(&settings).unwrap();
    config.secrets = Secrets::from_values(&SecretName::ALL, &settings).unwrap();
    let state = AppState::new(&config, Ports::memory(Arc::new(MemoryStore::default())));
    let token = runtime.block_on(async {
        state
            .auth()
            .bootstrap_admin("admin", "admin-password")
            .await
            .unwrap();
        let login = LoginRequest {
            handle: "admin".into(),
            password: "admin-password".into(),
        };
        state
            .auth()
            .login(login, "127.0.0.1")
            .await
            .unwrap()
            .access_token
    });
    let app = local_gateway(state);

    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let (sent, slow) = (Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&request(), |generated| {
            let mut uri = generated.path.clone();
            if !generated.query.is_empty() {
                uri = format!("{uri}?{}", generated.query);
            }
            let mut builder = Request::builder()
                .method(generated.method.clone())
                .uri(&uri);
            for (name, value) in &generated.headers {
                builder = builder.header(*name, value.as_str());
            }
            if generated.with_token {
                builder = builder.header("authorization", format!("Bearer {token}"));
            }
            // A path or header that is not valid HTTP never reaches a server.
            let Ok(request) = builder.body(Body::from(generated.body.clone())) else {
                return Ok(());
            };
            sent.set(sent.get() + 1);
            let answer = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), app.clone().oneshot(request)).await
            });
            match answer {
                Ok(response) => {
                    let status = response.unwrap().status();
                    // `/readyz` answers "not ready" as 503 by design (no node here).
                    let not_ready = generated.path == "/readyz" && status.as_u16() == 503;
                    prop_assert!(
                        !status.is_server_error() || not_ready,
                        "{} {uri} answered {status}: {generated:?}",
                        generated.method
                    );
                }
                // A well-formed completion waits for a node that does not exist.
                Err(_) => slow.set(slow.get() + 1),
            }
            Ok(())
        })
        .unwrap();
    let (sent, slow) = (sent.get(), slow.get());
    eprintln!("{sent} requests sent, {slow} still waiting for a node after 5 s");
    assert!(
        sent >= SENT,
        "only {sent} generated requests were valid HTTP"
    );
}
