//! The edge node's features (`features/edge/*.feature`) against the real stack: LocalStack,
//! the `cynode-gateway` binary, the `cynode-edge` binary, and real Podman containers.
//! Scenarios run one at a time: several of them stop, kill or restart the shared node.
//!
//! This file holds the world, the deployment and node all scenarios share, and `main`;
//! the steps are in modules by what they do.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use cucumber::gherkin::Step;
use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use serde_json::{json, Value};

use cynode_testkit::{unique_handle, Api, Deployment, DeploymentOptions, Service};

mod hosted;
mod logs;
mod node;
mod outcomes;
mod planning;
mod running;

use outcomes::completes;
use planning::PlannedWork;

const NODE_CONFIG: &str = r#"
job_slots = 2
shutdown_grace_secs = 3
[sandbox]
memory = "128m"
pids = 64
cpus = 1.0
workspace_size = "16m"
images = ["localhost/cynode-sandbox:alt"]
"#;

/// A second image jobs may name (a tag of the sandbox image: nothing can be pulled here).
const ALT_IMAGE: &str = "localhost/cynode-sandbox:alt";

/// A client inside the sandbox: `ask.py URL [PADDING_BYTES]` sends a chat completion of
/// `$ASK_MODEL` (default the test model; GET for a `/models` URL) and prints `status=N` and, on success, the answer's role.
const ASK_PY: &str = r#"import json, os, sys, urllib.request, urllib.error
url = sys.argv[1]
pad = int(sys.argv[2]) if len(sys.argv) > 2 else 0
body = None
if not url.endswith("/models"):
    body = json.dumps({"model": os.environ.get("ASK_MODEL", "smollm2:135m"), "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hi." + " " * pad}]}).encode()
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
        role = answer["choices"][0]["message"]["role"] if "choices" in answer else "-"
        print(f"status={response.status} role={role}")
except urllib.error.HTTPError as err:
    print(f"status={err.code}")
"#;

/// How long a task may take to reach an expected state.
const TASK_WAIT: Duration = Duration::from_secs(60);

struct Env {
    deployment: Deployment,
    admin_token: String,
    node_name: String,
    edge: Mutex<Option<Service>>,
    /// A node without models, started by the routing scenario.
    plain_edge: Mutex<Option<Service>>,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get()
        .expect("environment is set up before the features run")
}

fn api() -> Api {
    Api::new(&env().deployment.url)
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

fn ensure_edge() {
    let mut edge = env().edge.lock().expect("edge lock");
    if edge
        .as_mut()
        .is_some_and(|service| service.exited().is_none())
    {
        return;
    }
    *edge = Some(
        env()
            .deployment
            .start_edge(&env().node_name, Some(NODE_CONFIG))
            .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}")),
    );
}

/// What the running edge node has logged so far.
fn edge_log() -> String {
    env()
        .edge
        .lock()
        .unwrap()
        .as_ref()
        .map(Service::output)
        .unwrap_or_default()
}

fn podman(args: &[&str]) -> String {
    let out = std::process::Command::new("podman")
        .args(args)
        .output()
        .expect("podman runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[derive(Debug, Default, World)]
struct EdgeWorld {
    token: Option<String>,
    task: Option<String>,
    /// The last fetched result of the task.
    result: Option<Value>,
    attachment: Option<String>,
    /// Tasks created together by one step.
    tasks: Vec<String>,
    /// The last chat thread, and the official client's output.
    thread: Option<String>,
    client_output: Option<(bool, String)>,
    /// An agent started for one scenario (misconfigured), with its exit status.
    exit: Option<(Option<i32>, String)>,
    /// Planned work: the scenario's repository, project and forge.
    planned: Option<PlannedWork>,
}

impl EdgeWorld {
    fn token(&self) -> &str {
        self.token.as_deref().expect("logged in")
    }

    fn task(&self) -> &str {
        self.task.as_deref().expect("a task")
    }

    async fn create(&mut self, body: Value) {
        let reply = api().post("/v1/tasks", Some(self.token()), &body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        self.task = reply.body["task_id"].as_str().map(str::to_owned);
    }

    async fn wait_status(&mut self, wanted: &[&str], within: Duration) -> Value {
        let task = self.task().to_owned();
        let view = api()
            .wait_for_task(self.token(), &task, within, |t| {
                t["status"]
                    .as_str()
                    .is_some_and(|s| wanted.contains(&s) || !["queued", "running"].contains(&s))
            })
            .await
            .unwrap_or_else(|err| panic!("{err:#}"));
        let reply = api()
            .get(&format!("/v1/tasks/{task}/result"), Some(self.token()))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        self.result = Some(reply.body);
        view
    }

    fn result(&self) -> &Value {
        self.result.as_ref().expect("a fetched result")
    }

    fn job(&self) -> &Value {
        &self.result()["jobs"][0]
    }
}

fn commands_of(step: &Step) -> Vec<String> {
    let table = step.table.as_ref().expect("a table of commands");
    let port = env().deployment.port.to_string();
    table
        .rows
        .iter()
        .map(|row| row[0].replace("{gateway-port}", &port))
        .collect()
}

// ------------------------------------------------------------------ setup

#[given("an edge node is running")]
async fn edge_running(_w: &mut EdgeWorld) {
    tokio::task::spawn_blocking(ensure_edge).await.unwrap();
}

#[given(expr = "a user {string} who is logged in")]
async fn user_logged_in(w: &mut EdgeWorld, alias: String) {
    let handle = unique_handle(&alias);
    let token = api()
        .new_user(&env().admin_token, &handle, "a-long-password")
        .await
        .expect("a user");
    w.token = Some(token);
}

fn main() {
    cynode_testkit::require_edge_prerequisites();
    let tagged = std::process::Command::new("podman")
        .args(["tag", "localhost/cynode-sandbox:latest", ALT_IMAGE])
        .status();
    if !tagged.is_ok_and(|s| s.success()) {
        eprintln!("could not tag the sandbox image as {ALT_IMAGE}");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // The stand-in provider of hosted.feature listens on the loopback, over plain HTTP.
    let options = DeploymentOptions::quick_leases().with_loopback_egress();
    let (deployment, admin_token) =
        cynode_testkit::feature_deployment(&runtime, "edge-features", options);
    let _ = ENV.set(Env {
        deployment,
        admin_token,
        node_name: unique_handle("edge"),
        edge: Mutex::new(None),
        plain_edge: Mutex::new(None),
    });
    // CYNODE_FEATURE=planning.feature runs one file (the harness takes no arguments).
    let features = cynode_testkit::repo_root()
        .join("features/edge")
        .join(std::env::var("CYNODE_FEATURE").unwrap_or_default());
    let failed = runtime.block_on(async {
        EdgeWorld::cucumber()
            .max_concurrent_scenarios(1)
            .fail_on_skipped()
            .with_default_cli()
            // isolation.feature has a node and steps of its own (isolation_features.rs).
            .filter_run(features, |feature, _, _| {
                !feature
                    .path
                    .as_ref()
                    .is_some_and(|path| path.ends_with("isolation.feature"))
            })
            .await
            .execution_has_failed()
    });
    env().edge.lock().unwrap().take();
    env().plain_edge.lock().unwrap().take();
    cynode_testkit::finish_features(failed, &env().deployment);
}
