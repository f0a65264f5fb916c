//! A sandboxed agent's model calls through the egress: a client inside a job's pod
//! (the sidecar, the node's socket) streams chat completions of the stand-in provider's
//! model as `standin/<model>` (the node relays each call to the gateway signed with the
//! job token; the egress grants, calls the stand-in, relays and records), next to the same
//! client in a pod calling the node's own model server for the same model (the path a
//! node model takes), and to the stand-in called directly from the host. Jobs take turns
//! round by round in the same run. Time to the first token (TTFT) p50/p99 and tokens a
//! second after it, as the client in the sandbox measured them.
//!
//! Needs LocalStack, Podman with the sandbox image, and the model server.
//! `cargo bench -p cynode-edge --bench hosted` (`-- 8` for another number of calls per
//! job; 5 rounds).

use std::time::Duration;

use serde_json::json;

use cynode_testkit::provider::StandInProvider;
use cynode_testkit::{
    summarize, summarize_rates, unique_handle, Api, Deployment, DeploymentOptions, TEST_MODEL,
};

const KEY: &str = "sk-bench-hosted-0001";
const ROUNDS: usize = 5;

/// `timed.py URL MODEL N`: N streamed completions, one line each: `ttft_ms tokens_per_s`.
const TIMED_PY: &str = r#"import json, sys, time, urllib.request
url, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    body = json.dumps({"model": model, "stream": True, "max_tokens": 32, "temperature": 0,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Count from one to twenty in words."}]}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    first, tokens = None, 0
    with urllib.request.urlopen(request, timeout=120) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                first = time.monotonic() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    ended = time.monotonic() - started
    print(f"{first * 1000:.3f} {tokens / max(ended - first, 1e-3):.3f}", flush=True)
"#;

/// Runs `n` timed calls of `model` in a sandbox job; each call's TTFT and tokens/s.
async fn in_sandbox(
    api: &Api,
    token: &str,
    script: &str,
    model: &str,
    n: usize,
) -> Vec<(Duration, f64)> {
    let command = format!(
        "python3 /job/attachments/timed.py \"$OPENAI_BASE_URL/chat/completions\" {model} {n}"
    );
    let reply = api
        .post(
            "/v1/tasks",
            Some(token),
            &json!({"commands": [command], "model": model, "attachments": [script]}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let task = reply.body["task_id"].as_str().unwrap().to_owned();
    api.wait_for_task(token, &task, Duration::from_secs(300), |t| {
        !["queued", "running"].contains(&t["status"].as_str().unwrap_or_default())
    })
    .await
    .expect("the job ends");
    let result = api.get_ok(&format!("/v1/tasks/{task}/result"), token).await;
    assert_eq!(result["status"], "completed", "{result}");
    parse(result["stdout"].as_str().unwrap_or_default(), n)
}

fn parse(stdout: &str, n: usize) -> Vec<(Duration, f64)> {
    let samples: Vec<(Duration, f64)> = stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let ttft: f64 = parts.next()?.parse().ok()?;
            let rate: f64 = parts.next()?.parse().ok()?;
            Some((Duration::from_secs_f64(ttft / 1000.0), rate))
        })
        .collect();
    assert_eq!(samples.len(), n, "{stdout}");
    samples
}

/// The same calls from the host, straight to the stand-in.
fn direct(script: &std::path::Path, url: &str, n: usize) -> Vec<(Duration, f64)> {
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([
            &format!("{url}/chat/completions"),
            TEST_MODEL,
            &n.to_string(),
        ])
        .env("no_proxy", "*")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout), n)
}

/// A urllib request with a bearer key: the direct calls need the stand-in's key.
fn with_key(script: &str) -> String {
    script.replace(
        r#"headers={"Content-Type": "application/json"}"#,
        &format!(
            r#"headers={{"Content-Type": "application/json", "Authorization": "Bearer {KEY}"}}"#
        ),
    )
}

fn main() {
    let per_job: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(8);
    cynode_testkit::require_model_server().expect("the model server runs");
    let standin = StandInProvider::start(
        &cynode_testkit::model_url(),
        &cynode_testkit::embeddings_url(),
    )
    .expect("stand-in");
    let deployment = Deployment::start(
        "bench-hosted",
        DeploymentOptions::default().with_loopback_egress(),
    )
    .unwrap_or_else(|err| panic!("cannot start the bench deployment: {err:#}"));
    cynode_testkit::use_aws_env();
    let _edge = deployment
        .start_edge(&unique_handle("bench-hosted"), None)
        .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}"));
    let host_script = deployment.logs.join("timed.py");
    std::fs::write(&host_script, with_key(TIMED_PY)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (egress, local, straight) = runtime.block_on(async {
        let api = Api::new(&deployment.url);
        let (token, _) = api
            .login("admin", &deployment.secrets.admin_password)
            .await
            .expect("admin login");
        standin.register(&api, &token, "standin").await;
        standin
            .attach_key(&api, &token, "standin", ("bench", KEY), false)
            .await;
        let script = api.upload_attachment(&token, "timed.py", TIMED_PY).await;
        let hosted = format!("standin/{TEST_MODEL}");
        // Warm up every path.
        in_sandbox(&api, &token, &script, &hosted, 2).await;
        in_sandbox(&api, &token, &script, TEST_MODEL, 2).await;
        direct(&host_script, &standin.url, 2);
        let (mut egress, mut local, mut straight) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            egress.extend(in_sandbox(&api, &token, &script, &hosted, per_job).await);
            local.extend(in_sandbox(&api, &token, &script, TEST_MODEL, per_job).await);
            straight.extend(direct(&host_script, &standin.url, per_job));
        }
        (egress, local, straight)
    });
    println!(
        "\n{ROUNDS} rounds of {per_job} streamed completions (32 tokens at most) per path, taking turns round by round; the model server, LocalStack, the gateway and the node on this machine:\n"
    );
    let split = |samples: Vec<(Duration, f64)>| -> (Vec<Duration>, Vec<f64>) {
        samples.into_iter().unzip()
    };
    let (egress_ttft, egress_rate) = split(egress);
    let (local_ttft, local_rate) = split(local);
    let (direct_ttft, direct_rate) = split(straight);
    let direct_p50 = summarize(
        "TTFT, the stand-in called directly from the host",
        direct_ttft,
    );
    let local_p50 = summarize("TTFT, in a sandbox, the node's model server", local_ttft);
    let egress_p50 = summarize(
        "TTFT, in a sandbox, through the node and the egress",
        egress_ttft,
    );
    let direct_tps = summarize_rates("tokens/s after the first, directly", direct_rate);
    let local_tps = summarize_rates(
        "tokens/s after the first, sandbox to node model",
        local_rate,
    );
    let egress_tps = summarize_rates(
        "tokens/s after the first, sandbox through the egress",
        egress_rate,
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "\nat p50: a sandboxed call through the egress adds {:+.1} ms TTFT over the stand-in called directly, {:+.1} ms over the node's own model server; tokens/s {:+.1} and {:+.1}",
        ms(egress_p50) - ms(direct_p50),
        ms(egress_p50) - ms(local_p50),
        egress_tps - direct_tps,
        egress_tps - local_tps,
    );
    deployment.shutdown();
}
