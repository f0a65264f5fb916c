//! What CyNode adds over Podman itself, through the real stack (LocalStack, gateway, edge
//! node, Podman), with the node's warm sandboxes and without them, next to bare
//! `podman run --rm --network=none <image> true` measured in the same run:
//!
//! - latency: tasks of `true` one at a time; p50/p99 from `POST /v1/tasks` to the job
//!   starting on the node and to its result being stored;
//! - throughput: 100 tasks of `true` created at once on one node with 2 slots, from the
//!   first create to the last result stored, next to 100 bare runs two at a time.
//!
//! Needs LocalStack and the sandbox image. `cargo bench -p cynode-edge --bench overhead`
//! (`-- 20` for another task count in the latency part; the throughput part is 100).

use std::time::{Duration, Instant};

use serde_json::json;

use cynode_testkit::{summarize, unique_handle, Api, Deployment, DeploymentOptions};

const IMAGE: &str = "localhost/cynode-sandbox:latest";
const BURST: usize = 100;

fn since(from: time::OffsetDateTime, to: &serde_json::Value) -> Duration {
    let to = time::OffsetDateTime::parse(
        to.as_str().expect("a timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    (to - from).try_into().unwrap_or(Duration::ZERO)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One task of `true`, created and waited for: (to started, to stored).
async fn one_task(api: &Api, token: &str) -> (Duration, Duration) {
    let posted = time::OffsetDateTime::now_utc();
    let reply = api
        .post("/v1/tasks", Some(token), &json!({"commands": ["true"]}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["task_id"].as_str().unwrap().to_owned();
    let done = api
        .wait_for_task(token, &id, Duration::from_secs(60), |t| {
            t["status"] == "completed"
        })
        .await
        .expect("the task completes");
    let result = api
        .get(&format!("/v1/tasks/{id}/result"), Some(token))
        .await;
    // started_at: when the node started the sandbox; the task's updated_at: when the
    // gateway stored the result (same transaction). One machine, one clock.
    (
        since(posted, &result.body["jobs"][0]["started_at"]),
        since(posted, &done["updated_at"]),
    )
}

/// `count` tasks one at a time (after one to warm up): p50 to started and to stored.
async fn latency(api: &Api, token: &str, count: usize, label: &str) -> Duration {
    let mut to_started = Vec::with_capacity(count);
    let mut to_stored = Vec::with_capacity(count);
    for i in 0..=count {
        let (started, stored) = one_task(api, token).await;
        if i > 0 {
            to_started.push(started);
            to_stored.push(stored);
        }
    }
    summarize(&format!("{label}: POST -> job started"), to_started);
    summarize(&format!("{label}: POST -> result stored"), to_stored)
}

/// [`BURST`] tasks created at once; the time from the first create to the last result.
async fn burst(api: &Api, token: &str) -> Duration {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(BURST);
    for _ in 0..BURST {
        let reply = api
            .post("/v1/tasks", Some(token), &json!({"commands": ["true"]}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        ids.push(reply.body["task_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        api.wait_for_task(token, id, Duration::from_secs(300), |t| {
            t["status"] == "completed"
        })
        .await
        .expect("the task completes");
    }
    started.elapsed()
}

fn bare_run() -> Duration {
    let started = Instant::now();
    let status = std::process::Command::new("podman")
        .args(["run", "--rm", "--network=none", IMAGE, "true"])
        .status()
        .expect("podman runs");
    assert!(status.success());
    started.elapsed()
}

/// [`BURST`] bare runs, two at a time.
fn bare_burst() -> Duration {
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < BURST {
                    bare_run();
                }
            });
        }
    });
    started.elapsed()
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let deployment = Deployment::start("bench-overhead", DeploymentOptions::default())
        .unwrap_or_else(|err| {
            panic!("cannot start the bench deployment (is LocalStack running?): {err:#}")
        });
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
    // One node at a time, 2 slots (the default), jobs without a model.
    let node = |config: &str| {
        deployment
            .start_edge_with(
                &unique_handle("bench-edge"),
                Some(config),
                &[("CYNODE_INFERENCE_URL", "")],
            )
            .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}"))
    };

    println!("\n{count} tasks of `true`, one at a time:\n");
    let edge = node("[sandbox]\nwarm_containers = 2\n");
    std::thread::sleep(Duration::from_secs(3)); // its pool fills
    let warm = runtime.block_on(latency(&api, &token, count, "warm pool"));
    let warm_burst = runtime.block_on(burst(&api, &token));
    drop(edge);
    let edge = node("[sandbox]\nwarm_containers = 0\n");
    let cold = runtime.block_on(latency(&api, &token, count, "no warm pool"));
    let cold_burst = runtime.block_on(burst(&api, &token));
    drop(edge);
    let mut bare: Vec<Duration> = (0..=count).map(|_| bare_run()).collect();
    bare.remove(0); // warm-up
    let podman = summarize("podman run --rm --network=none <image> true", bare);
    let bare_burst = bare_burst();

    println!(
        "\ncreate -> result over a bare podman run at p50: {:+.1} ms with the warm pool, {:+.1} ms without",
        ms(warm) - ms(podman),
        ms(cold) - ms(podman)
    );
    println!("\n{BURST} tasks of `true` created at once, one node with 2 slots:\n");
    println!(
        "  warm pool       {:>8.2} s  ({:.2}x bare)",
        warm_burst.as_secs_f64(),
        warm_burst.as_secs_f64() / bare_burst.as_secs_f64()
    );
    println!(
        "  no warm pool    {:>8.2} s  ({:.2}x bare)",
        cold_burst.as_secs_f64(),
        cold_burst.as_secs_f64() / bare_burst.as_secs_f64()
    );
    println!(
        "  {BURST} bare podman runs, two at a time {:>8.2} s   (issue 18's target: <= 1.2x)",
        bare_burst.as_secs_f64()
    );
    deployment.shutdown();
}
