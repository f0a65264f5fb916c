//! `features/edge/isolation.feature`: the attacks a job (or a project's repository and
//! forge settings) tries against a real node, on the real stack: LocalStack, the
//! `cynode-gateway` and `cynode-edge` binaries, real Podman, the real model server and
//! real git. A stand-in for Ollama, served here, records what reaches it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cucumber::gherkin::Step;
use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use cynode_testkit::{scratch_root, unique_handle, Api, Deployment, DeploymentOptions, Service};

/// The node under test: repositories only under the scratch directory, no private
/// hosts, and a small disk per worker.
fn node_config() -> String {
    format!(
        "job_slots = 2\nshutdown_grace_secs = 3\n[sandbox]\nmemory = \"256m\"\ndisk_size = \"64m\"\n\
         [remotes]\nfile_roots = [\"{}\"]\n",
        scratch_root().display()
    )
}

/// `probe.py MODEL METHOD PATH [METHOD PATH …]`: sends each request to the pod's proxy
/// exactly as written (no path normalisation) with a body naming MODEL, and prints
/// `METHOD PATH -> STATUS` and the first 300 bytes of each answer.
const PROBE_PY: &str = r#"import http.client, json, os, sys
host = os.environ["OLLAMA_BASE_URL"].split("//", 1)[1]
model, pairs = sys.argv[1], sys.argv[2:]
for method, path in zip(pairs[::2], pairs[1::2]):
    body = json.dumps({"model": model, "stream": False, "max_tokens": 4,
        "messages": [{"role": "user", "content": "hi"}], "prompt": "hi"})
    conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        text = answer.read()[:300].decode("utf-8", "replace").replace("\n", " ")
        print(f"{method} {path} -> {answer.status}")
        print(f"  body: {text}")
    except Exception as err:
        print(f"{method} {path} -> error {err}")
    finally:
        conn.close()
"#;

const TASK_WAIT: Duration = Duration::from_secs(90);

struct Env {
    deployment: Deployment,
    admin_token: String,
    node_name: String,
    edge: Mutex<Option<Service>>,
    standin_edge: Mutex<Option<Service>>,
    standin: OnceLock<StandIn>,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get().expect("set up before the features run")
}

fn api() -> Api {
    Api::new(&env().deployment.url)
}

fn state_dir(node: &str) -> PathBuf {
    env().deployment.logs.join(format!("{node}-state"))
}

/// A stand-in for Ollama: lists one model, answers everything else with `{}`, and
/// records the request line of every request it gets.
struct StandIn {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    let body = if line.starts_with("GET /api/tags ") {
                        r#"{"models":[{"name":"standin:1b","model":"standin:1b"}]}"#
                    } else {
                        "{}"
                    };
                    record.lock().unwrap().push(line);
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        StandIn { url, seen }
    }

    /// What reached it besides the node's own model listings.
    fn calls(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|line| !line.starts_with("GET /api/tags "))
            .cloned()
            .collect()
    }
}

fn ensure_edge() {
    let mut edge = env().edge.lock().expect("edge lock");
    if edge.as_mut().is_some_and(|s| s.exited().is_none()) {
        return;
    }
    *edge = Some(
        env()
            .deployment
            .start_edge(&env().node_name, Some(&node_config()))
            .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}")),
    );
}

#[derive(Debug, Default, World)]
struct IsolationWorld {
    token: Option<String>,
    task: Option<String>,
    tasks: Vec<String>,
    result: Option<Value>,
    remote: Option<PathBuf>,
    canary: Option<Canary>,
    project: Option<String>,
    forge: Option<cynode_testkit::forge::ForgeContract>,
}

/// What a hostile worker tries to make the node read: the node's own secret, and
/// another repository's objects.
#[derive(Debug, Clone)]
struct Canary {
    secret: String,
    other_commit: String,
}

impl IsolationWorld {
    fn token(&self) -> &str {
        self.token.as_deref().expect("logged in")
    }

    fn task(&self) -> &str {
        self.task.as_deref().expect("a task")
    }

    async fn create(&mut self, body: Value) -> String {
        let reply = api().post("/v1/tasks", Some(self.token()), &body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.body["task_id"].as_str().unwrap().to_owned();
        self.task = Some(id.clone());
        id
    }

    async fn finish(&mut self, task: &str) -> Value {
        api()
            .wait_for_task(self.token(), task, TASK_WAIT, |t| {
                !["queued", "running"].contains(&t["status"].as_str().unwrap_or_default())
            })
            .await
            .unwrap_or_else(|err| panic!("{err:#}"));
        let reply = api()
            .get(&format!("/v1/tasks/{task}/result"), Some(self.token()))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    fn stdout(&self) -> &str {
        self.result.as_ref().expect("a result")["jobs"][0]["stdout"]
            .as_str()
            .unwrap_or_default()
    }

    async fn upload(&self, name: &str, content: &str) -> String {
        api().upload_attachment(self.token(), name, content).await
    }

    async fn subtasks(&self) -> Value {
        api()
            .get_ok(&format!("/v1/tasks/{}/subtasks", self.task()), self.token())
            .await
    }

    async fn runs(&self) -> Vec<Value> {
        let list = api()
            .get_ok(&format!("/v1/tasks/{}/runs", self.task()), self.token())
            .await;
        list["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Everything the task's owner can read about it.
    async fn everything_readable(&self) -> String {
        let task = self.task();
        let mut text = String::new();
        for path in [
            format!("/v1/tasks/{task}"),
            format!("/v1/tasks/{task}/result"),
            format!("/v1/tasks/{task}/logs"),
            format!("/v1/tasks/{task}/subtasks"),
            format!("/v1/tasks/{task}/runs"),
        ] {
            text.push_str(&api().get(&path, Some(self.token())).await.body.to_string());
        }
        for run in self.runs().await {
            let id = run["run_id"].as_str().unwrap_or_default();
            let logs = api()
                .get(
                    &format!("/v1/tasks/{task}/runs/{id}/logs"),
                    Some(self.token()),
                )
                .await;
            text.push_str(&logs.body.to_string());
        }
        text
    }
}

// ------------------------------------------------------------------ setup

#[given("an edge node is running")]
async fn edge_running(_w: &mut IsolationWorld) {
    tokio::task::spawn_blocking(ensure_edge).await.unwrap();
}

#[given(expr = "a user {string} who is logged in")]
async fn user_logged_in(w: &mut IsolationWorld, alias: String) {
    let token = api()
        .new_user(
            &env().admin_token,
            &unique_handle(&alias),
            "a-long-password",
        )
        .await
        .expect("a user");
    w.token = Some(token);
}

#[given("a second edge node whose model server is a recording stand-in")]
async fn standin_node(_w: &mut IsolationWorld) {
    if env().standin.get().is_none() {
        let _ = env().standin.set(StandIn::start().await);
    }
    let url = env().standin.get().unwrap().url.clone();
    tokio::task::spawn_blocking(move || {
        let name = format!("{}-standin", env().node_name);
        let service = env()
            .deployment
            .start_edge_with(
                &name,
                Some(&node_config()),
                &[("CYNODE_INFERENCE_URL", &url)],
            )
            .unwrap_or_else(|err| panic!("cannot start the stand-in's node: {err:#}"));
        *env().standin_edge.lock().unwrap() = Some(service);
    })
    .await
    .unwrap();
    env().standin.get().unwrap().seen.lock().unwrap().clear();
}

// ------------------------------------------------------------------ the proxy

fn probe_pairs(step: &Step) -> Vec<String> {
    let table = step.table.as_ref().expect("a table of requests");
    table
        .rows
        .iter()
        .flat_map(|row| [row[0].trim().to_owned(), row[1].trim().to_owned()])
        .collect()
}

async fn run_probe(w: &mut IsolationWorld, model: &str, named: &str, step: &Step) {
    let probe = w.upload("probe.py", PROBE_PY).await;
    let mut command = format!("python3 /job/attachments/probe.py '{named}'");
    for part in probe_pairs(step) {
        command.push_str(&format!(" '{part}'"));
    }
    let task = w
        .create(json!({"commands": [command], "model": model, "attachments": [probe]}))
        .await;
    w.result = Some(w.finish(&task).await);
}

#[when(expr = "{string} runs with the model {string} the probe:")]
async fn probe(w: &mut IsolationWorld, _alias: String, model: String, step: &Step) {
    run_probe(w, &model, &model, step).await;
}

#[when(expr = "{string} runs with the model {string} the probe with the model {string}:")]
async fn probe_naming(
    w: &mut IsolationWorld,
    _alias: String,
    model: String,
    named: String,
    step: &Step,
) {
    run_probe(w, &model, &named, step).await;
}

#[then("the task completes")]
async fn completes(w: &mut IsolationWorld) {
    let result = w.result.as_ref().expect("a result");
    assert_eq!(result["status"], "completed", "{result}");
}

/// `METHOD PATH -> STATUS` lines of the probe.
fn statuses(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .map(|(request, status)| (request.to_owned(), status.to_owned()))
        .collect()
}

#[then(expr = "the probe got 200 for {string} only")]
async fn only_allowed(w: &mut IsolationWorld, allowed: String) {
    let lines = statuses(w.stdout());
    assert!(!lines.is_empty(), "{}", w.stdout());
    for (request, status) in lines {
        if request == allowed {
            assert_eq!(status, "200", "{request}: {}", w.stdout());
        } else {
            let code: u16 = status.parse().unwrap_or(0);
            assert!(
                (400..500).contains(&code),
                "{request} -> {status}\n{}",
                w.stdout()
            );
        }
    }
}

#[then(expr = "the probe got {int} for {string}")]
async fn probe_got(w: &mut IsolationWorld, code: u16, request: String) {
    let lines = statuses(w.stdout());
    let found = lines.iter().find(|(r, _)| *r == request);
    assert_eq!(
        found.map(|(_, s)| s.as_str()),
        Some(code.to_string().as_str()),
        "{}",
        w.stdout()
    );
}

#[then("no refused answer carries the model server's slot or settings data")]
async fn no_slot_data(w: &mut IsolationWorld) {
    // llama-server's /slots answers carry "n_ctx" and "id_task"; /props "default_generation_settings".
    for marker in [
        "n_ctx",
        "id_task",
        "default_generation_settings",
        "total_slots",
    ] {
        assert!(
            !w.stdout().contains(marker),
            "{marker} leaked:\n{}",
            w.stdout()
        );
    }
}

#[then(expr = "the model server itself answers {string} and {string} on the host")]
async fn server_has_them(_w: &mut IsolationWorld, first: String, second: String) {
    // The routes the job tried are real: the server answers them to the host.
    for request in [first, second] {
        let path = request.split_once(' ').map(|(_, p)| p).unwrap_or_default();
        let reply = reqwest::get(format!("{}{path}", cynode_testkit::model_url()))
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{request} on the model server");
    }
}

#[then(expr = "the stand-in received no request but the node's model listings and one {string}")]
async fn standin_saw_one(_w: &mut IsolationWorld, request: String) {
    let calls = env().standin.get().unwrap().calls();
    assert_eq!(calls, vec![format!("{request} HTTP/1.1")]);
}

#[then("the stand-in received no request but the node's model listings")]
async fn standin_saw_nothing(_w: &mut IsolationWorld) {
    assert_eq!(env().standin.get().unwrap().calls(), Vec::<String>::new());
}

#[then(expr = "the result counts {int} refused model calls")]
async fn refused_calls(w: &mut IsolationWorld, count: u64) {
    let usage = &w.result.as_ref().unwrap()["jobs"][0]["usage"];
    assert_eq!(usage["refused_calls"], count, "{usage}");
}

// ------------------------------------------------------------------ planned work

fn seed(w: &mut IsolationWorld, dir: &Path, check: &str) {
    let url = cynode_testkit::forge::bare_repository(
        dir,
        "widgets",
        &[("README.md", "# Widgets\n"), ("check.sh", check)],
    )
    .unwrap_or_else(|err| panic!("{err:#}"));
    w.remote = Some(PathBuf::from(url.trim_start_matches("file://")));
}

#[given("a bare repository whose check script writes NOTES.md")]
async fn repo_notes(w: &mut IsolationWorld) {
    let dir = cynode_testkit::scratch_dir(&unique_handle("remote"));
    seed(w, &dir, "printf 'hello\\n' > NOTES.md\n");
}

#[given(expr = "a bare repository whose check script writes {int} MiB")]
async fn repo_fills(w: &mut IsolationWorld, mib: u64) {
    let dir = cynode_testkit::scratch_dir(&unique_handle("remote"));
    seed(
        w,
        &dir,
        &format!("printf 'hello\\n' > NOTES.md\ndd if=/dev/zero of=big bs=1M count={mib}\n"),
    );
}

#[given("a bare repository outside the tests' scratch directory")]
async fn repo_outside(w: &mut IsolationWorld) {
    let dir = std::env::temp_dir().join(unique_handle("outside"));
    std::fs::create_dir_all(&dir).unwrap();
    seed(w, &dir, "printf 'hello\\n' > NOTES.md\n");
}

#[given(
    "a bare repository whose check script plants traps for the node's secret and another repository"
)]
async fn repo_traps(w: &mut IsolationWorld) {
    let secret_file = state_dir(&env().node_name).join("node-secret");
    let secret = std::fs::read_to_string(&secret_file).expect("the node's secret on its disk");
    let dir = cynode_testkit::scratch_dir(&unique_handle("remote"));
    let other = cynode_testkit::forge::bare_repository(
        &dir,
        "other-project",
        &[("SECRET.md", "another project's code\n")],
    )
    .unwrap();
    let other = PathBuf::from(other.trim_start_matches("file://"));
    let other_commit = cynode_testkit::forge::git(&other, &["rev-parse", "main"])
        .unwrap()
        .trim()
        .to_owned();
    // The issue's reproduction, and its relatives: packed-refs a symlink to the node's
    // secret, alternates pointing at another repository, a hook and config for the
    // node's git.
    let check = format!(
        "printf 'hello\\n' > NOTES.md\n\
         ln -sf {secret} .git/packed-refs\n\
         mkdir -p .git/objects/info && echo '{other}/objects' > .git/objects/info/alternates\n\
         printf '#!/bin/sh\\ncat {secret}\\n' > .git/hooks/post-merge && chmod +x .git/hooks/post-merge\n\
         git config core.fsmonitor 'cat {secret}' 2>/dev/null\n\
         true\n",
        secret = secret_file.display(),
        other = other.display(),
    );
    seed(w, &dir, &check);
    w.canary = Some(Canary {
        secret: secret.trim().to_owned(),
        other_commit,
    });
}

#[given(expr = "a forge on loopback that takes pull requests for {string}")]
async fn loopback_forge(w: &mut IsolationWorld, repo: String) {
    let (owner, name) = repo.split_once('/').unwrap();
    w.forge = Some(cynode_testkit::forge::ForgeContract::start(owner, name, "tok").unwrap());
}

#[given(expr = "{string} has a project for the repository")]
async fn has_project(w: &mut IsolationWorld, _alias: String) {
    let name = unique_handle("widgets");
    let mut body = json!({
        "name": name,
        "repo_url": format!("file://{}", w.remote.as_ref().unwrap().display()),
        "credential": "tok",
        "test_command": "sh ./check.sh",
    });
    if let Some(forge) = &w.forge {
        body["forge_url"] = json!(forge.url);
        body["forge_repo"] = json!("acme/widgets");
    }
    let reply = api().post("/v1/projects", Some(w.token()), &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    w.project = Some(name);
}

#[when(expr = "{string} plans {string} in the project")]
async fn plans(w: &mut IsolationWorld, _alias: String, request: String) {
    let project = w.project.clone().unwrap();
    w.create(json!({"prompt": request, "project": project, "plan": true}))
        .await;
}

#[when(expr = "{string} starts the first ready subtask")]
async fn starts_first(w: &mut IsolationWorld, _alias: String) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let number = loop {
        let list = w.subtasks().await;
        let ready = list["subtasks"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["state"] == "ready"))
            .and_then(|s| s["number"].as_u64());
        if let Some(number) = ready {
            break number;
        }
        assert!(
            Instant::now() < deadline && list["status"] != "planning_failed",
            "no ready subtask: {list}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let reply = api()
        .post(
            &format!("/v1/tasks/{}/subtasks/{number}/start", w.task()),
            Some(w.token()),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[then(expr = "the subtask is {string} within {int} seconds")]
async fn subtask_within(w: &mut IsolationWorld, state: String, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let list = w.subtasks().await;
        let started = list["subtasks"]
            .as_array()
            .and_then(|s| {
                s.iter()
                    .find(|s| s["state"] != "ready" && s["state"] != "blocked_dependency")
            })
            .cloned()
            .unwrap_or_default();
        if started["state"] == state.as_str() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "subtask: {started}\nruns: {:?}",
            w.runs().await
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[then("the node's secret appears nowhere mallory can read")]
async fn secret_nowhere(w: &mut IsolationWorld) {
    let canary = w.canary.clone().unwrap();
    let readable = w.everything_readable().await;
    assert!(readable.contains("\"completed\""), "{readable:.500}");
    assert!(
        !readable.contains(&canary.secret),
        "the node's secret leaked"
    );
    let remote = w.remote.clone().unwrap();
    let log = cynode_testkit::forge::git(&remote, &["log", "-p", "--all"]).unwrap();
    assert!(
        !log.contains(&canary.secret),
        "the node's secret was pushed"
    );
}

#[then("the pushed branch holds none of the other repository's objects")]
async fn no_foreign_objects(w: &mut IsolationWorld) {
    let canary = w.canary.clone().unwrap();
    let remote = w.remote.clone().unwrap();
    let objects = cynode_testkit::forge::git(&remote, &["rev-list", "--objects", "--all"]).unwrap();
    assert!(!objects.is_empty());
    assert!(!objects.contains(&canary.other_commit));
    assert!(
        cynode_testkit::forge::git(&remote, &["cat-file", "-e", &canary.other_commit]).is_err(),
        "the other repository's commit is in the remote"
    );
}

#[then(expr = "planning fails with {string}")]
async fn planning_fails(w: &mut IsolationWorld, reason: String) {
    let task = w.task().to_owned();
    let view = api()
        .wait_for_task(w.token(), &task, Duration::from_secs(300), |t| {
            t["status"] == "planning_failed"
        })
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    let error = view.to_string();
    assert!(error.contains(&reason), "{error}");
}

#[then("the forge received no request")]
async fn forge_untouched(w: &mut IsolationWorld) {
    assert!(w.forge.as_ref().unwrap().requests().is_empty());
}

#[then(expr = "the subtask's first worker run fails with {string}")]
async fn first_worker_fails(w: &mut IsolationWorld, reason: String) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let runs = w.runs().await;
        let failed = runs
            .iter()
            .find(|r| r["role"] == "worker" && r["status"] == "failed");
        if let Some(run) = failed {
            let error = run["error"].as_str().unwrap_or_default();
            assert!(error.contains(&reason), "{run}");
            return;
        }
        assert!(Instant::now() < deadline, "no failed worker run: {runs:?}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[then("no job disk is left mounted on the node")]
async fn no_mounts(_w: &mut IsolationWorld) {
    let state = state_dir(&env().node_name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let left: Vec<&str> = table
            .lines()
            .filter(|line| line.contains(state.to_str().unwrap()))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still mounted: {left:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[when(expr = "{string} runs the commands:")]
async fn runs_commands(w: &mut IsolationWorld, _alias: String, step: &Step) {
    let commands: Vec<String> = step
        .table
        .as_ref()
        .unwrap()
        .rows
        .iter()
        .map(|row| row[0].clone())
        .collect();
    let task = w.create(json!({"commands": commands})).await;
    w.result = Some(w.finish(&task).await);
}

// ------------------------------------------------------------------ user namespaces

#[when(expr = "{string} runs {int} tasks at once, each printing its uid map for {int} seconds")]
async fn uid_maps(w: &mut IsolationWorld, _alias: String, count: usize, seconds: u64) {
    w.tasks.clear();
    for _ in 0..count {
        let task = w
            .create(json!({"commands": ["cat /proc/self/uid_map", format!("sleep {seconds}")]}))
            .await;
        w.tasks.push(task);
    }
}

#[then("both complete, under host uid ranges that do not overlap")]
async fn ranges_apart(w: &mut IsolationWorld) {
    let mut ranges = Vec::new();
    for task in w.tasks.clone() {
        let result = w.finish(&task).await;
        assert_eq!(result["status"], "completed", "{result}");
        let stdout = result["jobs"][0]["stdout"].as_str().unwrap_or_default();
        let fields: Vec<u64> = stdout
            .split_whitespace()
            .take(3)
            .map(|f| f.parse().unwrap())
            .collect();
        assert_eq!(fields[0], 0, "{stdout}");
        ranges.push((fields[1], fields[1] + fields[2]));
    }
    let (a, b) = (ranges[0], ranges[1]);
    assert!(a.1 <= b.0 || b.1 <= a.0, "{ranges:?} overlap");
    assert!(
        a.0 >= 100_000 && b.0 >= 100_000,
        "{ranges:?}: a host user's uids"
    );
}

fn main() {
    cynode_testkit::require_edge_prerequisites();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (deployment, admin_token) = cynode_testkit::feature_deployment(
        &runtime,
        "isolation-features",
        DeploymentOptions::quick_leases(),
    );
    let _ = ENV.set(Env {
        deployment,
        admin_token,
        node_name: unique_handle("isolated"),
        edge: Mutex::new(None),
        standin_edge: Mutex::new(None),
        standin: OnceLock::new(),
    });
    let features = cynode_testkit::repo_root().join("features/edge/isolation.feature");
    let failed = runtime.block_on(async {
        IsolationWorld::cucumber()
            .max_concurrent_scenarios(1)
            .fail_on_skipped()
            // The stand-in's node serves only its own scenario: it would take planned
            // work's jobs (they name no model) and answer them with nothing.
            .after(|_, _, _, _, _| {
                Box::pin(async {
                    let node = env().standin_edge.lock().unwrap().take();
                    drop(node);
                })
            })
            .with_default_cli()
            .run(features)
            .await
            .execution_has_failed()
    });
    env().edge.lock().unwrap().take();
    env().standin_edge.lock().unwrap().take();
    cynode_testkit::finish_features(failed, &env().deployment);
}
