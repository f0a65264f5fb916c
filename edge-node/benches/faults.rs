//! The fault benchmark: drives N tasks through each fault on the real stack (LocalStack,
//! the gateway with its recovery sweep, an edge node, Podman) and prints, per fault,
//!
//! `N tasks, <fault>: C completed, F failed, S stuck, D duplicated (<seconds> s)`
//!
//! next to a baseline run without a fault, measured in the same run. The target for every
//! fault is C = N, S = 0, D = 0.
//!
//! - completed: the task ended `completed` with exactly the output its command prints.
//! - failed: it ended in any other final state.
//! - stuck: it was not final when the fault's deadline passed.
//! - duplicated: its output shows the command ran more than once, or more than one
//!   attempt's result was kept.
//!
//! Faults: node SIGKILL at random moments (restarted each time); node SIGTERM past its
//! grace period (the job is handed back; a restarted node runs it); gateway down for
//! `CYNODE_FAULT_OUTAGE_SECS` (90 by default); the store frozen 30 s (`kill -STOP` of
//! LocalStack); output that is not text (200 000 bytes of 0xFF).
//!
//! `cargo bench -p cynode-edge --bench faults` (`-- 20` for another task count;
//! `-- only <fault>` to run one of baseline, sigkill, sigterm, gateway, store, binary).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cynode_testkit::{unique_handle, Api, Deployment, DeploymentOptions, Service};

/// How long after its fault every task must be final.
const SETTLE: Duration = Duration::from_secs(240);

#[derive(Default, Debug)]
struct Tally {
    completed: usize,
    failed: usize,
    stuck: usize,
    duplicated: usize,
}

struct Bench {
    deployment: Deployment,
    api: Api,
    token: String,
    node_name: String,
    edge: Option<Service>,
}

const EDGE_CONFIG: &str = "job_slots = 2\nshutdown_grace_secs = 1\n";

impl Bench {
    fn start_edge(&mut self) {
        self.edge = None;
        let edge = self
            .deployment
            .start_edge(&self.node_name, Some(EDGE_CONFIG))
            .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}"));
        self.edge = Some(edge);
    }

    /// Creates `n` tasks whose command sleeps `sleep` seconds and prints a unique word.
    async fn create(&self, n: usize, sleep: f32, label: &str) -> Vec<(String, String)> {
        let words: Vec<String> = (0..n)
            .map(|i| format!("{label}-{i}-{}", &unique_handle("w")[2..10]))
            .collect();
        let commands = words
            .iter()
            .map(|word| format!("sleep {sleep}; echo {word}"));
        self.submit(commands.zip(words.iter().cloned())).await
    }

    /// Creates `n` tasks printing 200 000 bytes of 0xFF (their preview: U+FFFD text).
    async fn create_binary(&self, n: usize) -> Vec<(String, String)> {
        let command = "python3 -c 'import sys; sys.stdout.buffer.write(bytes([255]) * 200000)'";
        let tasks = (0..n).map(|_| (command.to_owned(), "\u{FFFD}".to_owned()));
        self.submit(tasks).await
    }

    /// Posts one commands task per (command, expected word); returns (task id, word).
    async fn submit(&self, tasks: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
        let mut created = Vec::new();
        for (command, word) in tasks {
            let reply = self
                .api
                .post(
                    "/v1/tasks",
                    Some(&self.token),
                    &json!({"commands": [command]}),
                )
                .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            created.push((reply.body["task_id"].as_str().unwrap().to_owned(), word));
        }
        created
    }

    /// Polls every task until all are final or `within` passes, then counts.
    async fn tally(&self, tasks: &[(String, String)], within: Duration) -> Tally {
        let deadline = Instant::now() + within;
        let mut results: Vec<Option<Value>> = vec![None; tasks.len()];
        while Instant::now() < deadline && results.iter().any(Option::is_none) {
            for (slot, (task, _)) in results.iter_mut().zip(tasks) {
                if slot.is_some() {
                    continue;
                }
                let reply = self
                    .api
                    .get(&format!("/v1/tasks/{task}/result"), Some(&self.token))
                    .await;
                let status = reply.body["status"].as_str().unwrap_or_default();
                if reply.status == 200 && !["queued", "running", ""].contains(&status) {
                    *slot = Some(reply.body);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut tally = Tally::default();
        for (result, (_, word)) in results.iter().zip(tasks) {
            let Some(result) = result else {
                tally.stuck += 1;
                continue;
            };
            let stdout = result["stdout"].as_str().unwrap_or_default();
            let jobs = result["jobs"].as_array().map_or(0, Vec::len);
            let runs = if word == "\u{FFFD}" {
                usize::from(!stdout.is_empty())
            } else {
                stdout.matches(word.as_str()).count()
            };
            if runs > 1 || jobs > 1 {
                tally.duplicated += 1;
            }
            if result["status"] == "completed" && runs == 1 {
                tally.completed += 1;
            } else {
                tally.failed += 1;
                eprintln!("  not completed: {result}");
            }
        }
        tally
    }
}

fn report(n: usize, fault: &str, tally: &Tally, took: Duration) {
    println!(
        "{n} tasks, {fault}: {} completed, {} failed, {} stuck, {} duplicated ({:.1} s)",
        tally.completed,
        tally.failed,
        tally.stuck,
        tally.duplicated,
        took.as_secs_f64()
    );
}

fn localstack_pid() -> String {
    let path = cynode_testkit::repo_root().join(".cynode/localstack.pid");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| {
            panic!(
                "{}: {err} (the store fault needs LocalStack started by localstack/up)",
                path.display()
            )
        })
        .trim()
        .to_owned()
}

fn signal(pid: &str, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_owned()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {pid}");
}

fn main() {
    // The store outage freezes the LocalStack process `localstack/up` started.
    std::env::set_var("CYNODE_LOCALSTACK", "host");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10);
    let only = args
        .iter()
        .position(|a| a == "only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runs = |fault: &str| only.as_deref().is_none_or(|o| o == fault);
    let outage: u64 = std::env::var("CYNODE_FAULT_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);

    let deployment = Deployment::start(
        "bench-faults",
        DeploymentOptions {
            visibility_timeout_secs: 10,
            lease_secs: 10,
            heartbeat_secs: 2,
            gateway_env: vec![
                ("CYNODE_SWEEP_INTERVAL_SECS".into(), "5".into()),
                ("CYNODE_RECOVERY_STALE_SECS".into(), "20".into()),
            ],
        },
    )
    .unwrap_or_else(|err| {
        panic!("cannot start the bench deployment (is LocalStack running?): {err:#}")
    });
    cynode_testkit::use_aws_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let api = Api::new(&deployment.url);
    let token = runtime.block_on(deployment.admin_token());
    let mut bench = Bench {
        deployment,
        api,
        token,
        node_name: unique_handle("faults-edge"),
        edge: None,
    };
    bench.start_edge();

    runtime.block_on(async {
        if runs("baseline") {
            let started = Instant::now();
            let tasks = bench.create(n, 1.0, "base").await;
            let tally = bench.tally(&tasks, SETTLE).await;
            report(n, "no fault (baseline)", &tally, started.elapsed());
        }

        if runs("sigkill") {
            let started = Instant::now();
            let tasks = bench.create(n, 2.0, "kill").await;
            // Kill the node at three random moments while the tasks run; restart it each time.
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs_f64(
                    1.0 + 4.0 * cynode_edge::backoff::random_fraction(),
                ))
                .await;
                if let Some(edge) = bench.edge.as_ref() {
                    let _ = edge.signal("KILL");
                }
                bench.start_edge();
            }
            let tally = bench.tally(&tasks, SETTLE).await;
            report(
                n,
                "node SIGKILL at random moments",
                &tally,
                started.elapsed(),
            );
        }

        if runs("sigterm") {
            let started = Instant::now();
            let tasks = bench.create(n, 4.0, "term").await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Some(mut edge) = bench.edge.take() {
                edge.signal("TERM").unwrap();
                edge.wait(Duration::from_secs(60)).unwrap();
            }
            bench.start_edge();
            let tally = bench.tally(&tasks, SETTLE).await;
            report(n, "node SIGTERM (drain)", &tally, started.elapsed());
        }

        if runs("gateway") {
            let started = Instant::now();
            let tasks = bench.create(n, 3.0, "gw").await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            bench.deployment.stop_gateway();
            tokio::time::sleep(Duration::from_secs(outage)).await;
            bench.deployment.start_gateway().unwrap();
            let tally = bench.tally(&tasks, SETTLE).await;
            report(
                n,
                &format!("gateway down {outage} s"),
                &tally,
                started.elapsed(),
            );
        }

        if runs("store") {
            let started = Instant::now();
            let tasks = bench.create(n, 3.0, "store").await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let pid = localstack_pid();
            signal(&pid, "STOP");
            tokio::time::sleep(Duration::from_secs(30)).await;
            signal(&pid, "CONT");
            let tally = bench.tally(&tasks, SETTLE).await;
            report(n, "store frozen 30 s", &tally, started.elapsed());
        }

        if runs("binary") {
            let started = Instant::now();
            let tasks = bench.create_binary(n).await;
            let tally = bench.tally(&tasks, SETTLE).await;
            report(
                n,
                "binary output (200 000 bytes of 0xFF)",
                &tally,
                started.elapsed(),
            );
        }
    });
    bench.edge = None;
    bench.deployment.shutdown();
}
