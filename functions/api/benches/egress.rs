//! The egress's added latency: a streamed chat completion of the stand-in provider (the
//! real model server behind a proxy that demands a key) called directly, next to the same
//! completion through the local gateway as `<provider>/<model>` (grant: provider,
//! credential opened, limits; the call; the stream relayed and relabelled; the usage and
//! audit records), taking turns in the same run. Time to the first token (TTFT) p50/p99
//! and tokens a second after it.
//!
//! A sandboxed agent's calls (through its pod's sidecar, the node and the egress) are
//! measured by `cargo bench -p cynode-edge --bench hosted`.
//!
//! Needs LocalStack (`localstack/up --no-provision`) and the model server
//! (`scripts/model-server start`). `cargo bench -p cynode-api --bench egress` (`-- 50` for
//! another request count).

use std::time::{Duration, Instant};

use cynode_testkit::provider::StandInProvider;
use cynode_testkit::{summarize, summarize_rates, Api, Deployment, DeploymentOptions, TEST_MODEL};
use serde_json::{json, Value};

const KEY: &str = "sk-bench-egress-0001";

/// One streamed completion: time to its first piece of text, and its tokens a second
/// from there to the end.
async fn streamed(http: &reqwest::Client, url: &str, bearer: &str, model: &str) -> (Duration, f64) {
    let body = json!({"model": model, "stream": true, "max_tokens": 32, "temperature": 0,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Count from one to twenty in words."}]});
    let started = Instant::now();
    let mut response = http
        .post(url)
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200, "{url}");
    let mut first = None;
    let mut tokens = 0;
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.expect("the stream reads") {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if first.is_none() && text.contains("\"content\":\"") {
            first = Some(started.elapsed());
        }
    }
    let ended = started.elapsed();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if let Ok(chunk) = serde_json::from_str::<Value>(data) {
            if let Some(n) = chunk
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64)
            {
                tokens = n;
            }
        }
    }
    let first = first.expect("some text");
    let rate = tokens as f64 / (ended - first).as_secs_f64().max(1e-3);
    (first, rate)
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(40);
    cynode_testkit::require_model_server().expect("the model server runs");
    let standin = StandInProvider::start(
        &cynode_testkit::model_url(),
        &cynode_testkit::embeddings_url(),
    )
    .expect("stand-in");
    let deployment = Deployment::start(
        "bench-egress",
        DeploymentOptions::default().with_loopback_egress(),
    )
    .unwrap_or_else(|err| {
        panic!("cannot start the bench deployment (is LocalStack running?): {err:#}")
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api = Api::new(&deployment.url);
        let (token, _) = api
            .login("admin", &deployment.secrets.admin_password)
            .await
            .expect("admin login");
        standin.register(&api, &token, "standin").await;
        standin
            .attach_key(&api, &token, "standin", ("bench", KEY), true)
            .await;

        let http = reqwest::Client::new();
        let direct = format!("{}/chat/completions", standin.url);
        let through = format!("{}/v1/chat/completions", deployment.url);
        let hosted = format!("standin/{TEST_MODEL}");
        // Warm up both paths.
        for _ in 0..3 {
            streamed(&http, &direct, KEY, TEST_MODEL).await;
            streamed(&http, &through, &token, &hosted).await;
        }
        let (mut ttft_direct, mut ttft_egress) = (vec![], vec![]);
        let (mut rate_direct, mut rate_egress) = (vec![], vec![]);
        for _ in 0..count {
            let (first, rate) = streamed(&http, &direct, KEY, TEST_MODEL).await;
            ttft_direct.push(first);
            rate_direct.push(rate);
            let (first, rate) = streamed(&http, &through, &token, &hosted).await;
            ttft_egress.push(first);
            rate_egress.push(rate);
        }
        println!(
            "\n{count} streamed completions each (32 tokens at most), taking turns, one client, the model server and LocalStack on this machine:\n"
        );
        let direct_p50 = summarize("TTFT, the stand-in provider called directly", ttft_direct);
        let egress_p50 = summarize("TTFT, through the gateway's egress", ttft_egress);
        let direct_rate = summarize_rates("tokens/s after the first, directly", rate_direct);
        let egress_rate = summarize_rates("tokens/s after the first, through the egress", rate_egress);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "\nadded by the egress at p50: TTFT {:+.2} ms ({:.2}x), tokens/s {:+.1}",
            ms(egress_p50) - ms(direct_p50),
            ms(egress_p50) / ms(direct_p50),
            egress_rate - direct_rate
        );
    });
    deployment.shutdown();
}
