//! What the model path adds, each next to the direct path measured in the same run:
//!
//! 1. 100 short completions (1 token) from inside a job's sandbox, through the pod's proxy
//!    sidecar and the node's forwarder, vs the same client on the host straight to the
//!    model server (target: ≤ 2 ms added at p50).
//! 2. Starting a job's pod with the sidecar vs a single container (`true`, 10 each).
//! 3. Streamed `POST /v1/chat/completions` through gateway, queue and node vs straight to
//!    the model server: time to first token added (target ≤ 50 ms p50, ≤ 120 ms p99) and
//!    tokens per second (target ≥ 97 % of direct).
//! 4. The same, answered whole (`stream: false`, 8 tokens): the time to the whole answer
//!    through gateway, queue and node vs straight.
//!
//! Needs LocalStack, the sandbox image and the model server (`scripts/model-server
//! start`). `cargo bench -p cynode-edge --bench inference` (`-- 50` for another count).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use cynode_edge::config::SandboxLimits;
use cynode_edge::inference::forwarder::{Forwarder, ProxyLimits};
use cynode_edge::sandbox::podman::PodmanSandbox;
use cynode_edge::sandbox::{InferenceAccess, Program, Sandbox, SandboxJob};
use cynode_protocol::ids::JobId;
use cynode_testkit::{summarize, unique_handle, Api, Deployment, DeploymentOptions, TEST_MODEL};

const CLIENT: &str = include_str!("bench_client.py");

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn millis(values: &[f64]) -> Vec<Duration> {
    values
        .iter()
        .map(|v| Duration::from_secs_f64(v / 1000.0))
        .collect()
}

fn limits() -> SandboxLimits {
    SandboxLimits {
        image: "localhost/cynode-sandbox:latest".into(),
        allowed_images: vec!["localhost/cynode-sandbox:latest".into()],
        memory: "256m".into(),
        cpus: 1.0,
        pids: 128,
        workspace_size: "16m".into(),
        disk_bytes: 1 << 30,
        max_change_bytes: 1 << 20,
        default_timeout_secs: 300,
        max_timeout_secs: 300,
    }
}

/// A scratch directory with a short path (it holds a unix socket).
fn short_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!("/tmp/cynode-bench-{}/{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Pods {
    sandbox: PodmanSandbox,
    forwarder: Forwarder,
}

impl Pods {
    /// Runs `program` in a sandbox, in a pod with the proxy when `with_proxy`.
    async fn run(
        &self,
        program: Program,
        files: &[(&str, &str)],
        with_proxy: bool,
    ) -> (Duration, String) {
        let job_id = JobId::generate();
        let job_dir = short_dir(&format!("job-{job_id}"));
        if !files.is_empty() {
            std::fs::create_dir_all(job_dir.join("attachments")).unwrap();
            for (name, text) in files {
                std::fs::write(job_dir.join("attachments").join(name), text).unwrap();
            }
        }
        let socket_dir = short_dir(&format!("sock-{job_id}"));
        let proxy = with_proxy.then(|| {
            self.forwarder
                .serve(
                    &socket_dir.join("inference.sock"),
                    job_id.clone(),
                    tokio::sync::watch::channel(vec![cynode_testkit::TEST_MODEL.to_owned()]).1,
                )
                .unwrap()
        });
        let job = SandboxJob {
            attempt: 1,
            image: None,
            job_id,
            program,
            job_dir: job_dir.clone(),
            timeout: Duration::from_secs(300),
            inference: with_proxy.then(|| InferenceAccess {
                socket_dir: socket_dir.clone(),
                proxy_binary: PathBuf::from(env!("CARGO_BIN_EXE_cynode-inference-proxy")),
            }),
            checkout: None,
            progress: Default::default(),
        };
        let started = Instant::now();
        let outcome = self.sandbox.run(job, CancellationToken::new()).await;
        let took = started.elapsed();
        if let Some(proxy) = proxy {
            proxy.finish().await;
        }
        let _ = std::fs::remove_dir_all(&job_dir);
        let _ = std::fs::remove_dir_all(&socket_dir);
        assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
        (took, outcome.stdout)
    }
}

/// The same client, alternately on the host and in a pod, in rounds: drift of the model
/// server's speed over the run falls on both sides alike.
async fn proxy_overhead(pods: &Pods, model_url: &str, count: usize) {
    let rounds = 5;
    let per_round = (count / rounds).max(1);
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let out = std::process::Command::new("python3")
            .args(["-c", CLIENT, model_url, &per_round.to_string(), TEST_MODEL])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        direct.extend(serde_json::from_slice::<Vec<f64>>(&out.stdout).unwrap());
        let command = format!(
            "python3 /job/attachments/client.py \"$OLLAMA_BASE_URL\" {per_round} {TEST_MODEL}"
        );
        let (_, stdout) = pods
            .run(
                Program::Commands(vec![command]),
                &[("client.py", CLIENT)],
                true,
            )
            .await;
        proxied.extend(serde_json::from_str::<Vec<f64>>(stdout.trim()).unwrap());
    }
    let n = direct.len();
    println!("\n{n} short completions (1 token) each way, one persistent connection per round of {per_round}, same client, rounds alternating:\n");
    let direct = summarize("host -> model server", millis(&direct));
    let proxied = summarize(
        "sandbox -> sidecar -> node -> model server",
        millis(&proxied),
    );
    println!(
        "added at p50: {:+.2} ms (target <= 2 ms)",
        ms(proxied) - ms(direct)
    );
}

async fn pod_start(pods: &Pods) {
    let runs = 10;
    let (mut single, mut pod) = (Vec::new(), Vec::new());
    for i in 0..=runs {
        let (a, _) = pods
            .run(Program::Commands(vec!["true".into()]), &[], false)
            .await;
        let (b, _) = pods
            .run(Program::Commands(vec!["true".into()]), &[], true)
            .await;
        if i > 0 {
            single.push(a);
            pod.push(b);
        }
    }
    println!("\nA job of `true`, start to end, {runs} each (alternating):\n");
    let single = summarize("single container (no model)", single);
    let pod = summarize("pod: sandbox + proxy sidecar", pod);
    println!("the sidecar adds at p50: {:+.1} ms", ms(pod) - ms(single));
}

/// One streamed completion: time to the first text, and tokens per second after it.
async fn stream_once(http: &reqwest::Client, url: &str, token: Option<&str>) -> (Duration, f64) {
    let body = json!({
        "model": TEST_MODEL, "max_tokens": 64, "temperature": 0, "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Count from one to thirty in words."}],
    });
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let started = Instant::now();
    let response = request.send().await.expect("an answer");
    assert!(response.status().is_success(), "{}", response.status());
    let mut stream = response.bytes_stream();
    let (mut first, mut tokens, mut buffer) = (None, 0u64, String::new());
    while let Some(bytes) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&bytes.expect("the stream")));
        while let Some(end) = buffer.find('\n') {
            let line = buffer[..end].trim().to_owned();
            buffer.drain(..=end);
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            if event["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
            {
                first.get_or_insert_with(|| started.elapsed());
            }
            if let Some(n) = event["usage"]["completion_tokens"].as_u64() {
                tokens = n;
            }
        }
    }
    let total = started.elapsed();
    let first = first.expect("some text");
    let rate = tokens as f64 / (total - first).as_secs_f64().max(1e-3);
    (first, rate)
}

/// One completion answered whole (8 tokens): the time to the whole answer.
async fn whole_once(http: &reqwest::Client, url: &str, token: Option<&str>) -> Duration {
    let body = json!({
        "model": TEST_MODEL, "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hello."}],
    });
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let started = Instant::now();
    let response = request.send().await.expect("an answer");
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.expect("the answer");
    started.elapsed()
}

/// Non-streamed completions, straight and through gateway, queue and node, alternating.
async fn whole(model_url: &str, gateway: &str, token: &str, count: usize) {
    let http = reqwest::Client::new();
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for i in 0..=count {
        let a = whole_once(&http, &format!("{model_url}/v1/chat/completions"), None).await;
        let b = whole_once(
            &http,
            &format!("{gateway}/v1/chat/completions"),
            Some(token),
        )
        .await;
        if i > 0 {
            direct.push(a);
            through.push(b);
        }
    }
    println!("\n{count} non-streamed completions (8 tokens), alternating:\n");
    let d = summarize("whole answer: straight to the model", direct);
    let g = summarize("whole answer: gateway, queue, node", through);
    println!("added at p50: {:+.1} ms", ms(g) - ms(d));
}

async fn streaming(model_url: &str, gateway: &str, token: &str, count: usize) {
    let http = reqwest::Client::new();
    let direct_url = format!("{model_url}/v1/chat/completions");
    let gateway_url = format!("{gateway}/v1/chat/completions");
    let (mut ttft_direct, mut ttft_gateway, mut rate_direct, mut rate_gateway) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..=count {
        let (a, ra) = stream_once(&http, &direct_url, None).await;
        let (b, rb) = stream_once(&http, &gateway_url, Some(token)).await;
        if i > 0 {
            ttft_direct.push(a);
            ttft_gateway.push(b);
            rate_direct.push(ra);
            rate_gateway.push(rb);
        }
    }
    println!("\n{count} streamed completions (64 tokens), alternating:\n");
    let direct = summarize(
        "time to first token: straight to the model",
        ttft_direct.clone(),
    );
    let gateway = summarize(
        "time to first token: gateway, queue, node",
        ttft_gateway.clone(),
    );
    ttft_direct.sort();
    ttft_gateway.sort();
    let p99 = |v: &Vec<Duration>| v[((v.len() as f64 - 1.0) * 0.99).round() as usize];
    println!(
        "added: p50 {:+.1} ms (target <= 50), p99 {:+.1} ms (target <= 120)",
        ms(gateway) - ms(direct),
        ms(p99(&ttft_gateway)) - ms(p99(&ttft_direct))
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (rd, rg) = (median(rate_direct), median(rate_gateway));
    println!(
        "tokens/s after the first, p50: straight {rd:.1}, through the gateway {rg:.1} ({:.0} % of direct; target >= 97 %)",
        rg / rd * 100.0
    );
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let model_url = cynode_testkit::require_model_server().unwrap_or_else(|err| panic!("{err:#}"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pods = Pods {
        sandbox: PodmanSandbox::new("podman".into(), unique_handle("bench-node"), limits()),
        forwarder: Forwarder::new(&model_url, ProxyLimits::default()).unwrap(),
    };
    runtime.block_on(async {
        proxy_overhead(&pods, &model_url, count).await;
        pod_start(&pods).await;
    });

    let deployment = Deployment::start("bench-inference", DeploymentOptions::default())
        .unwrap_or_else(|err| {
            panic!("cannot start the bench deployment (is LocalStack running?): {err:#}")
        });
    let edge = deployment
        .start_edge(&unique_handle("bench-edge"), None)
        .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}"));
    runtime.block_on(async {
        let api = Api::new(&deployment.url);
        let (token, _) = api
            .login("admin", &deployment.secrets.admin_password)
            .await
            .expect("admin login");
        streaming(&model_url, &deployment.url, &token, (count / 5).max(5)).await;
        whole(&model_url, &deployment.url, &token, (count / 5).max(5)).await;
    });
    drop(edge);
    deployment.shutdown();
    let _ = std::fs::remove_dir_all(format!("/tmp/cynode-bench-{}", std::process::id()));
}
