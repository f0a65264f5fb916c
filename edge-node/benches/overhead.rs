//! What CyNode adds over Podman itself. Over 50 tasks of `true`, one at a time, through
//! the real stack (LocalStack, gateway, edge node, Podman), prints p50/p99 from
//! `POST /v1/tasks` to the job starting on the node and to its result being stored —
//! next to a bare `podman run --rm --network=none <image> true`, measured in the same run.
//!
//! Needs LocalStack and the sandbox image. `cargo bench -p cynode-edge --bench overhead`
//! (`-- 20` for another task count).

use std::time::{Duration, Instant};

use serde_json::json;

use cynode_testkit::{summarize, unique_handle, Api, Deployment, DeploymentOptions};

fn since(from: time::OffsetDateTime, to: &serde_json::Value) -> Duration {
    let to = time::OffsetDateTime::parse(
        to.as_str().expect("a timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    (to - from).try_into().unwrap_or(Duration::ZERO)
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
    let edge = deployment
        .start_edge(&unique_handle("bench-edge"), None)
        .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}"));
    cynode_testkit::use_aws_env();
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
        let mut to_started = Vec::with_capacity(count);
        let mut to_stored = Vec::with_capacity(count);
        for i in 0..=count {
            let posted = time::OffsetDateTime::now_utc();
            let reply = api
                .post("/v1/tasks", Some(&token), &json!({"commands": ["true"]}))
                .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            let id = reply.body["task_id"].as_str().unwrap().to_owned();
            let done = api
                .wait_for_task(&token, &id, Duration::from_secs(60), |t| {
                    t["status"] == "completed"
                })
                .await
                .expect("the task completes");
            let result = api
                .get(&format!("/v1/tasks/{id}/result"), Some(&token))
                .await;
            if i == 0 {
                continue; // warm-up
            }
            // started_at: when the node started the sandbox; the task's updated_at: when
            // the gateway stored the result (same transaction). One machine, one clock.
            to_started.push(since(posted, &result.body["jobs"][0]["started_at"]));
            to_stored.push(since(posted, &done["updated_at"]));
        }

        let image = "localhost/cynode-sandbox:latest";
        let mut bare = Vec::with_capacity(count);
        for _ in 0..=count {
            let started = Instant::now();
            let status = std::process::Command::new("podman")
                .args(["run", "--rm", "--network=none", image, "true"])
                .status()
                .expect("podman runs");
            assert!(status.success());
            bare.push(started.elapsed());
        }
        bare.remove(0); // warm-up

        println!("\n{count} tasks of `true`, one at a time:\n");
        summarize("POST /v1/tasks -> job started on the node", to_started);
        let stored = summarize("POST /v1/tasks -> result stored", to_stored);
        let podman = summarize("podman run --rm --network=none <image> true", bare);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "\noverhead over bare podman at p50: {:+.1} ms",
            ms(stored) - ms(podman)
        );
    });
    drop(edge);
    deployment.shutdown();
}
