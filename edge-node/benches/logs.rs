//! Live-log latency through the real stack (LocalStack, gateway, edge node, Podman): from
//! a line printed in the sandbox to the same line at a reader following the task's
//! `/logs/stream`, next to the same lines read straight from `podman run`'s stdout pipe
//! in the same run (the node's own read of a job's output is that pipe), and what the log
//! costs in storage operations.
//!
//! The job prints `LINES` lines, one every 50 ms, each with the time it was printed (the
//! sandbox shares the host's clock). `cargo bench -p cynode-edge --bench logs` (`-- 600`
//! for another line count). Needs LocalStack and the sandbox image.

use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use cynode_testkit::{summarize, unique_handle, Api, Deployment, DeploymentOptions};

const IMAGE: &str = "localhost/cynode-sandbox:latest";
/// How often the stream route polls the store (`routes::log_stream`).
const STREAM_POLL_SECS: f64 = 0.25;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

fn script(lines: usize) -> String {
    format!("for i in $(seq 1 {lines}); do echo \"$i $(date +%s.%N)\"; sleep 0.05; done")
}

/// The latency of one printed line `"<n> <printed at>"` read at `at`.
fn latency(line: &str, at: f64) -> Option<Duration> {
    let printed: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_secs_f64((at - printed).max(0.0)))
}

/// The same script under a bare `podman run`, its stdout read line by line as it comes.
fn bare(lines: usize) -> Vec<Duration> {
    let mut child = std::process::Command::new("podman")
        .args([
            "run",
            "--rm",
            "--network=none",
            IMAGE,
            "sh",
            "-c",
            &script(lines),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("podman runs");
    let stdout = child.stdout.take().expect("piped");
    let samples = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| latency(&line, now()))
        .collect();
    assert!(child.wait().expect("podman ends").success());
    samples
}

/// Follows the task's live log to its end: each line's latency, and the first line's.
async fn follow(api: &Api, token: &str, task: &str) -> Vec<Duration> {
    let url = format!("{}/v1/tasks/{task}/logs/stream", api.base);
    let mut response = api
        .http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("the stream answers");
    assert_eq!(response.status(), 200);
    let (mut buffer, mut samples) = (String::new(), Vec::new());
    while let Some(bytes) = response.chunk().await.expect("the stream reads") {
        let at = now();
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            if !frame.contains("event: log") {
                continue;
            }
            let line: Value = serde_json::from_str(data).expect("a log line");
            let text = line["text"].as_str().unwrap_or_default();
            samples.extend(text.lines().filter_map(|l| latency(l, at)));
        }
    }
    samples
}

/// The chunks the task's log was stored in.
async fn chunks(api: &Api, token: &str, task: &str) -> usize {
    let (mut cursor, mut seen) = (String::new(), std::collections::BTreeSet::new());
    loop {
        let page = api
            .get_ok(&format!("/v1/tasks/{task}/logs?cursor={cursor}"), token)
            .await;
        let lines = page["lines"].as_array().expect("lines");
        if lines.is_empty() {
            return seen.len();
        }
        for line in lines {
            seen.insert((
                line["job_id"].to_string(),
                line["attempt"].to_string(),
                line["seq"].to_string(),
            ));
        }
        cursor = page["next_cursor"].as_str().expect("a cursor").to_owned();
    }
}

fn main() {
    let lines: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let deployment = Deployment::start("bench-logs", DeploymentOptions::default())
        .unwrap_or_else(|err| panic!("cannot start the bench deployment: {err:#}"));
    cynode_testkit::use_aws_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let api = Api::new(&deployment.url);
    let token = runtime.block_on(async {
        api.login("admin", &deployment.secrets.admin_password)
            .await
            .expect("admin login")
            .0
    });
    let _edge = deployment
        .start_edge_with(
            &unique_handle("bench-edge"),
            Some("[sandbox]\nwarm_containers = 1\n"),
            &[("CYNODE_INFERENCE_URL", "")],
        )
        .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}"));
    std::thread::sleep(Duration::from_secs(3)); // its pool fills

    println!("\n{lines} lines, one every 50 ms, printed in the sandbox:\n");
    let (through_stack, task) = runtime.block_on(async {
        let reply = api
            .post(
                "/v1/tasks",
                Some(&token),
                &json!({"script": format!("#!/bin/sh\n{}\n", script(lines))}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let task = reply.body["task_id"].as_str().unwrap().to_owned();
        (follow(&api, &token, &task).await, task)
    });
    assert_eq!(through_stack.len(), lines, "every line once at the reader");
    let first = through_stack[0];
    let stack = summarize("printed -> read at /logs/stream", through_stack);
    let direct = bare(lines);
    assert_eq!(direct.len(), lines);
    let pipe = summarize("printed -> read from podman run's stdout", direct);
    println!(
        "\nfirst line: {:.0} ms at the reader (targets: p50 <= 300 ms for the first line, p99 <= 1000 ms); the stack adds {:+.0} ms at p50",
        first.as_secs_f64() * 1000.0,
        (stack.as_secs_f64() - pipe.as_secs_f64()) * 1000.0
    );
    let stored = runtime.block_on(chunks(&api, &token, &task));
    println!(
        "storage: {stored} chunk writes for {lines} lines = {:.1} writes per 1,000 lines; a follower reads the store twice every {STREAM_POLL_SECS} s ({:.0} reads a minute) while it follows",
        stored as f64 * 1000.0 / lines as f64,
        2.0 * 60.0 / STREAM_POLL_SECS
    );
    deployment.shutdown();
}
