//! What the model path adds, each next to the direct path measured in the same run:
//!
//! 1. 100 short completions (1 token) from inside a job's sandbox, through the pod's proxy
//!    sidecar and the node's forwarder, vs the same client on the host straight to the
//!    model server (target: ≤ 2 ms added at p50).
//! 2. A job of `true` in a single container and in a pod with the sidecar, each started
//!    for the job and taken from the warm pool, next to a bare `podman run` (10 each).
//! 3. Streamed `POST /v1/chat/completions` through gateway, queue and node vs straight to
//!    the model server: time to first token added (target ≤ 50 ms p50, ≤ 120 ms p99) and
//!    tokens per second (target ≥ 97 % of direct); the same for `POST /v1/responses`
//!    and for `cynodeai.pm` (the agent in its pod; target: first token within 300 ms of
//!    a direct one).
//! 4. The same, answered whole (`stream: false`, 8 tokens): the time to the whole answer
//!    through gateway, queue and node vs straight; a tool call's round trip (the call,
//!    then the answer to its result); embeddings per second.
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
use cynode_edge::inference::job_models::JobModels;
use cynode_edge::inference::tool_calls;
use cynode_edge::sandbox::podman::PodmanSandbox;
use cynode_edge::sandbox::{InferenceAccess, Program, Sandbox, SandboxJob, WarmPods, WarmSetup};
use cynode_protocol::ids::JobId;
use cynode_protocol::wire::{ChatMessage, ChatOptions, ToolChoice};
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
        max_log_bytes: 1 << 20,
        default_timeout_secs: 300,
        max_timeout_secs: 300,
        warm: Default::default(),
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

fn proxy_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cynode-inference-proxy"))
}

fn agent_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cynode-prompt-agent"))
}

/// A sandbox keeping one container and one pod warm.
fn warm_sandbox() -> PodmanSandbox {
    let mut limits = limits();
    limits.warm.containers = 1;
    limits.warm.pods = 1;
    let sandbox = PodmanSandbox::new("podman".into(), unique_handle("bench-warm"), limits);
    sandbox.start_warm_pool(WarmSetup {
        dir: short_dir("warm"),
        pods: Some(WarmPods {
            proxy_binary: proxy_binary(),
            agent_binary: agent_binary(),
            sockets_dir: short_dir("warm-sockets"),
        }),
    });
    sandbox
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
                    JobModels::Served(
                        tokio::sync::watch::channel(vec![cynode_testkit::TEST_MODEL.to_owned()]).1,
                    ),
                )
                .unwrap()
        });
        let program = match program {
            Program::Agent { job, .. } => Program::Agent {
                job,
                binary: agent_binary(),
            },
            other => other,
        };
        let job = SandboxJob {
            attempt: 1,
            image: None,
            job_id,
            program,
            job_dir: job_dir.clone(),
            timeout: Duration::from_secs(300),
            inference: with_proxy.then(|| InferenceAccess {
                socket_dir: socket_dir.clone(),
                proxy_binary: proxy_binary(),
            }),
            checkout: None,
            progress: Default::default(),
            log: Default::default(),
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

fn bare_podman_run() -> Duration {
    let started = Instant::now();
    let status = std::process::Command::new("podman")
        .args(["run", "--rm", "--network=none", &limits().image, "true"])
        .status()
        .expect("podman runs");
    assert!(status.success());
    started.elapsed()
}

async fn pod_start(pods: &Pods, warm: &Pods) {
    let runs = 10;
    let (mut single, mut pod, mut warm_single, mut warm_pod, mut bare) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let commands = || Program::Commands(vec!["true".into()]);
    for i in 0..=runs {
        let (a, _) = pods.run(commands(), &[], false).await;
        let (b, _) = pods.run(commands(), &[], true).await;
        // The pool refills in the background between jobs; give it the time it has
        // between jobs that do not come back to back.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (c, _) = warm.run(commands(), &[], false).await;
        let (d, _) = warm.run(commands(), &[], true).await;
        // Not while the pool refills behind the warm runs.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let e = tokio::task::spawn_blocking(bare_podman_run).await.unwrap();
        if i > 0 {
            single.push(a);
            pod.push(b);
            warm_single.push(c);
            warm_pod.push(d);
            bare.push(e);
        }
    }
    println!("\nA job of `true`, start to end, {runs} each (alternating):\n");
    let bare = summarize("bare podman run --rm --network=none <image> true", bare);
    let single = summarize("single container (no model), started for it", single);
    let pod = summarize("pod: sandbox + proxy sidecar, started for it", pod);
    let warm_single = summarize("single container from the warm pool", warm_single);
    let warm_pod = summarize("pod + sidecar from the warm pool", warm_pod);
    println!(
        "the sidecar adds at p50: {:+.1} ms started for the job, {:+.1} ms warm",
        ms(pod) - ms(single),
        ms(warm_pod) - ms(warm_single)
    );
    println!(
        "over a bare podman run at p50 (target <= 0): single {:+.1} ms, pod {:+.1} ms started for the job; single {:+.1} ms, pod {:+.1} ms warm",
        ms(single) - ms(bare),
        ms(pod) - ms(bare),
        ms(warm_single) - ms(bare),
        ms(warm_pod) - ms(bare)
    );
}

/// A JSON POST, with a bearer token when going through the gateway.
fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let request = http.post(url).json(body);
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// The API a streamed answer is asked in.
#[derive(Clone, Copy)]
enum Wire {
    ChatCompletions,
    Responses,
}

/// One streamed answer (64 tokens): time to the first text, and tokens per second after.
async fn stream_once(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    model: &str,
    wire: Wire,
) -> (Duration, f64) {
    let prompt = "Count from one to thirty in words.";
    let (path, body) = match wire {
        Wire::ChatCompletions => (
            "/v1/chat/completions",
            json!({
                "model": model, "max_tokens": 64, "temperature": 0, "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": prompt}],
            }),
        ),
        Wire::Responses => (
            "/v1/responses",
            json!({
                "model": model, "max_output_tokens": 64, "temperature": 0, "stream": true,
                "input": prompt,
            }),
        ),
    };
    let request = post(http, &format!("{base}{path}"), token, &body);
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
            let text = match wire {
                Wire::ChatCompletions => event["choices"][0]["delta"]["content"].as_str(),
                Wire::Responses if event["type"] == "response.output_text.delta" => {
                    event["delta"].as_str()
                }
                Wire::Responses => None,
            };
            if text.is_some_and(|t| !t.is_empty()) {
                first.get_or_insert_with(|| started.elapsed());
            }
            let used = match wire {
                Wire::ChatCompletions => event["usage"]["completion_tokens"].as_u64(),
                Wire::Responses => event["response"]["usage"]["output_tokens"].as_u64(),
            };
            if let Some(n) = used {
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
    let request = post(http, url, token, &body);
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

/// Streamed answers through gateway, queue and node (`model` in `wire`) next to the model
/// streaming straight (chat completions), alternating.
async fn streaming(
    model_url: &str,
    gateway: &str,
    token: &str,
    count: usize,
    (model, wire, label): (&str, Wire, &str),
) {
    let http = reqwest::Client::new();
    let (mut ttft_direct, mut ttft_gateway, mut rate_direct, mut rate_gateway) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..=count {
        let (a, ra) = stream_once(&http, model_url, None, TEST_MODEL, Wire::ChatCompletions).await;
        let (b, rb) = stream_once(&http, gateway, Some(token), model, wire).await;
        if i > 0 {
            ttft_direct.push(a);
            ttft_gateway.push(b);
            rate_direct.push(ra);
            rate_gateway.push(rb);
        }
    }
    println!(
        "\n{count} streamed answers (64 tokens), {label}, alternating with the model straight:\n"
    );
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

/// `cynodeai.pm`: the agent in its pod answers; its first token next to the model's own.
async fn agent_first_token(model_url: &str, gateway: &str, token: &str, count: usize) {
    let http = reqwest::Client::new();
    let (mut direct, mut agent) = (Vec::new(), Vec::new());
    for i in 0..=count {
        let (a, _) = stream_once(&http, model_url, None, TEST_MODEL, Wire::ChatCompletions).await;
        let (b, _) = stream_once(
            &http,
            gateway,
            Some(token),
            "cynodeai.pm",
            Wire::ChatCompletions,
        )
        .await;
        if i > 0 {
            direct.push(a);
            agent.push(b);
        }
    }
    println!("\n{count} streamed answers by cynodeai.pm (the agent in a pod from the warm pool), alternating with the model straight:\n");
    let d = summarize("time to first token: straight to the model", direct);
    let g = summarize("time to first token: cynodeai.pm", agent);
    println!(
        "added at p50: {:+.1} ms (target: within 300 ms)",
        ms(g) - ms(d)
    );
}

/// A tool call's round trip: the call (`tool_choice: required`), then the answer to the
/// tool's result.
async fn tool_round_trip_once(http: &reqwest::Client, base: &str, token: &str) -> Duration {
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]);
    let question = json!({"role": "user", "content": "What is the weather in Paris?"});
    let post = |body: Value| {
        http.post(format!("{base}/v1/chat/completions"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let started = Instant::now();
    let call: Value = post(json!({
        "model": TEST_MODEL, "max_tokens": 48, "temperature": 0, "tools": tools,
        "tool_choice": "required", "messages": [question],
    }))
    .await
    .expect("an answer")
    .json()
    .await
    .expect("json");
    let message = call["choices"][0]["message"].clone();
    let id = message["tool_calls"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a tool call: {call}"))
        .to_owned();
    let answer = post(json!({
        "model": TEST_MODEL, "max_tokens": 16, "temperature": 0, "tools": tools,
        "messages": [question, message,
                     {"role": "tool", "tool_call_id": id, "content": "sunny, 21 C"}],
    }))
    .await
    .expect("an answer");
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.bytes().await.expect("the answer");
    started.elapsed()
}

/// The same round trip straight to the model server, asked as the node asks it (the
/// model server takes no `tools`: the node shapes them into a JSON schema and reads the
/// calls out of the answer, `tool_calls`).
async fn direct_tool_round_trip_once(http: &reqwest::Client, model_url: &str) -> Duration {
    let tool = json!({"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}});
    let required = ChatOptions {
        tools: vec![tool],
        tool_choice: Some(ToolChoice::Required),
        ..ChatOptions::default()
    };
    let auto = ChatOptions {
        tool_choice: None,
        ..required.clone()
    };
    let ask = |messages: Vec<ChatMessage>, options: ChatOptions, max_tokens: u32| async move {
        let shaped = tool_calls::shape(&messages, &options);
        let answer: Value = http
            .post(format!("{model_url}/v1/chat/completions"))
            .json(
                &json!({"model": TEST_MODEL, "max_tokens": max_tokens, "temperature": 0,
                "messages": shaped.messages, "response_format": shaped.response_format}),
            )
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("json");
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let question = ChatMessage::text("user", "What is the weather in Paris?");
    let started = Instant::now();
    let text = ask(vec![question.clone()], required, 48).await;
    let call = tool_calls::read_answer(&text, "call_bench", "stop")
        .tool_calls
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a tool call: {text}"));
    let asked = ChatMessage {
        tool_calls: vec![call.clone()],
        ..ChatMessage::text("assistant", "")
    };
    let result = ChatMessage {
        tool_call_id: Some(call.id),
        ..ChatMessage::text("tool", "sunny, 21 C")
    };
    ask(vec![question, asked, result], auto, 16).await;
    started.elapsed()
}

async fn tool_round_trip(model_url: &str, gateway: &str, token: &str, count: usize) {
    let http = reqwest::Client::new();
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for i in 0..=count {
        let a = direct_tool_round_trip_once(&http, model_url).await;
        let b = tool_round_trip_once(&http, gateway, token).await;
        if i > 0 {
            direct.push(a);
            through.push(b);
        }
    }
    println!(
        "\n{count} tool-call round trips (the call, then the answer to its result), alternating:\n"
    );
    let d = summarize("round trip: straight, asked as the node asks", direct);
    let g = summarize("round trip: gateway, queue, node", through);
    println!("added at p50: {:+.1} ms", ms(g) - ms(d));
}

/// Embeddings, 16 inputs a request, one request at a time: inputs per second.
async fn embeddings(embeddings_url: &str, gateway: &str, token: &str, count: usize) {
    let http = reqwest::Client::new();
    let inputs: Vec<String> = (0..16)
        .map(|i| format!("sentence number {i} about the weather"))
        .collect();
    let body = json!({"model": TEST_MODEL, "input": inputs});
    let once = |base: String, token: Option<String>| {
        let request = post(
            &http,
            &format!("{base}/v1/embeddings"),
            token.as_deref(),
            &body,
        );
        async move {
            let started = Instant::now();
            let reply = request.send().await.expect("an answer");
            assert!(reply.status().is_success(), "{}", reply.status());
            let body: Value = reply.json().await.expect("json");
            assert_eq!(body["data"].as_array().map(Vec::len), Some(16), "{body}");
            started.elapsed()
        }
    };
    let (mut direct, mut through) = (Duration::ZERO, Duration::ZERO);
    for i in 0..=count {
        let a = once(embeddings_url.to_owned(), None).await;
        let b = once(gateway.to_owned(), Some(token.to_owned())).await;
        if i > 0 {
            direct += a;
            through += b;
        }
    }
    let rate = |total: Duration| (count * 16) as f64 / total.as_secs_f64();
    println!("\n{count} embeddings requests of 16 inputs each way, alternating:\n");
    println!(
        "inputs/s: straight {:.1}, through gateway, queue and node {:.1} ({:.0} % of direct)",
        rate(direct),
        rate(through),
        rate(through) / rate(direct) * 100.0
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
        let warm = Pods {
            sandbox: warm_sandbox(),
            forwarder: Forwarder::new(&model_url, ProxyLimits::default()).unwrap(),
        };
        proxy_overhead(&pods, &model_url, count).await;
        pod_start(&pods, &warm).await;
        warm.sandbox.close().await;
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
        let n = (count / 5).max(5);
        let url = &deployment.url;
        streaming(
            &model_url,
            url,
            &token,
            n,
            (TEST_MODEL, Wire::ChatCompletions, "chat completions"),
        )
        .await;
        streaming(
            &model_url,
            url,
            &token,
            n,
            (TEST_MODEL, Wire::Responses, "the Responses API"),
        )
        .await;
        agent_first_token(&model_url, url, &token, (n / 4).max(3)).await;
        whole(&model_url, url, &token, n).await;
        tool_round_trip(&model_url, url, &token, (n / 2).max(5)).await;
        embeddings(&cynode_testkit::embeddings_url(), url, &token, n).await;
    });
    drop(edge);
    deployment.shutdown();
    let _ = std::fs::remove_dir_all(format!("/tmp/cynode-bench-{}", std::process::id()));
}
