//! The edge node's features (`features/edge/*.feature`) against the real stack: LocalStack,
//! the `cynode-gateway` binary, the `cynode-edge` binary, and real Podman containers.
//! Scenarios run one at a time: several of them stop, kill or restart the shared node.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use cucumber::gherkin::Step;
use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use serde_json::{json, Value};

use cynode_testkit::{unique_handle, Api, Deployment, DeploymentOptions, Service};

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

/// A client inside the sandbox: `ask.py URL [PADDING_BYTES]` sends a chat completion
/// (GET for a `/models` URL) and prints `status=N` and, on success, the answer's role.
const ASK_PY: &str = r#"import json, sys, urllib.request, urllib.error
url = sys.argv[1]
pad = int(sys.argv[2]) if len(sys.argv) > 2 else 0
body = None
if not url.endswith("/models"):
    body = json.dumps({"model": "smollm2:135m", "max_tokens": 8, "temperature": 0,
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

// ------------------------------------------------------------------ running tasks

#[when(expr = "{string} runs the commands:")]
async fn runs_commands(w: &mut EdgeWorld, _alias: String, step: &Step) {
    w.create(json!({"commands": commands_of(step)})).await;
}

#[when(expr = "{string} runs the commands in the image {string}:")]
async fn runs_in_image(w: &mut EdgeWorld, _alias: String, image: String, step: &Step) {
    w.create(json!({"commands": commands_of(step), "image": image}))
        .await;
}

#[when(expr = "{string} runs the commands with a timeout of {int} seconds:")]
async fn runs_with_timeout(w: &mut EdgeWorld, _alias: String, seconds: u64, step: &Step) {
    w.create(json!({"commands": commands_of(step), "timeout_seconds": seconds}))
        .await;
}

#[when(expr = "{string} runs the script:")]
async fn runs_script(w: &mut EdgeWorld, _alias: String, step: &Step) {
    let script = step
        .docstring
        .as_ref()
        .expect("a script")
        .trim_start_matches('\n')
        .to_owned();
    w.create(json!({"script": script})).await;
}

/// Uploads `content` as an attachment named `name`; returns its id.
async fn upload(w: &EdgeWorld, name: &str, content: &str) -> String {
    api().upload_attachment(w.token(), name, content).await
}

#[when(expr = "{string} runs with the model {string} the commands:")]
async fn runs_with_model(w: &mut EdgeWorld, _alias: String, model: String, step: &Step) {
    let ask = upload(w, "ask.py", ASK_PY).await;
    w.create(json!({"commands": commands_of(step), "model": model, "attachments": [ask]}))
        .await;
}

#[when(expr = "{string} asks {string}")]
async fn asks(w: &mut EdgeWorld, _alias: String, prompt: String) {
    w.create(json!({"prompt": prompt})).await;
}

#[when(expr = "{string} asks {string} {int} times")]
async fn asks_times(w: &mut EdgeWorld, _alias: String, prompt: String, times: usize) {
    w.tasks.clear();
    for _ in 0..times {
        w.create(json!({"prompt": prompt})).await;
        w.tasks.push(w.task().to_owned());
    }
}

#[given("a second edge node without models is running")]
async fn plain_node(_w: &mut EdgeWorld) {
    tokio::task::spawn_blocking(|| {
        let mut plain = env().plain_edge.lock().expect("lock");
        if plain.as_mut().is_some_and(|s| s.exited().is_none()) {
            return;
        }
        let name = format!("{}-plain", env().node_name);
        *plain = Some(
            env()
                .deployment
                .start_edge_with(&name, Some(NODE_CONFIG), &[("CYNODE_INFERENCE_URL", "")])
                .unwrap_or_else(|err| panic!("cannot start the node without models: {err:#}")),
        );
    })
    .await
    .unwrap();
}

#[then("every one of those tasks completes")]
async fn all_complete(w: &mut EdgeWorld) {
    for task in w.tasks.clone() {
        w.task = Some(task);
        completes(w).await;
    }
}

#[then("the node without models ran none of them")]
async fn plain_ran_none(w: &mut EdgeWorld) {
    let log = {
        let plain = env().plain_edge.lock().expect("lock");
        plain.as_ref().expect("the node without models").output()
    };
    assert!(log.contains("waiting for jobs"), "{log}");
    assert!(
        !log.contains("model jobs"),
        "it polls the inference queue: {log}"
    );
    for task in &w.tasks {
        assert!(!log.contains(task.as_str()), "it saw {task}: {log}");
    }
}

#[when(expr = "the official OpenAI Python client runs its checks as {string}")]
async fn openai_client(w: &mut EdgeWorld, _alias: String) {
    let script = cynode_testkit::repo_root().join("features/clients/openai_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(cynode_testkit::TEST_MODEL)
        .env("OPENAI_BASE_URL", format!("{}/v1", env().deployment.url))
        .env("OPENAI_API_KEY", w.token())
        .output()
        .await
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    w.client_output = Some((out.status.success(), text));
}

#[then("every check passes")]
async fn client_passes(w: &mut EdgeWorld) {
    let (ok, output) = w.client_output.as_ref().expect("the client ran");
    assert!(*ok, "{output}");
    assert!(output.contains("all checks passed"), "{output}");
    println!("{output}");
}

async fn chat(w: &mut EdgeWorld, message: &str, thread: Option<String>) {
    let mut body = json!({"message": message, "model": cynode_testkit::TEST_MODEL});
    if let Some(thread) = thread {
        body = json!({"message": message, "thread_id": thread});
    }
    let reply = api().post("/v1/chat", Some(w.token()), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["response"].is_string(), "{}", reply.body);
    w.thread = reply.body["thread_id"].as_str().map(str::to_owned);
}

#[when(expr = "{string} chats {string} in a new thread")]
async fn chats_new(w: &mut EdgeWorld, _alias: String, message: String) {
    chat(w, &message, None).await;
}

#[when(expr = "{string} chats {string} in the same thread")]
async fn chats_same(w: &mut EdgeWorld, _alias: String, message: String) {
    let thread = w.thread.clone().expect("a thread");
    chat(w, &message, Some(thread.clone())).await;
    assert_eq!(
        w.thread.as_deref(),
        Some(thread.as_str()),
        "the same thread"
    );
}

fn thread_path(w: &EdgeWorld) -> String {
    format!(
        "/v1/chat/threads/{}",
        w.thread.as_deref().expect("a thread")
    )
}

#[then("the thread holds 4 messages, the questions in order")]
async fn thread_holds(w: &mut EdgeWorld) {
    let reply = api().get(&thread_path(w), Some(w.token())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let messages = reply.body["messages"].as_array().expect("messages").clone();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user", "assistant"],
        "{}",
        reply.body
    );
    assert_eq!(messages[0]["content"], "My name is Ada.");
    assert_eq!(messages[2]["content"], "What is my name?");
}

#[then(expr = "{string} lists her threads and sees it")]
async fn lists_threads(w: &mut EdgeWorld, _alias: String) {
    let reply = api().get("/v1/chat/threads", Some(w.token())).await;
    let ids: Vec<&str> = reply.body["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .filter_map(|t| t["thread_id"].as_str())
        .collect();
    assert!(
        ids.contains(&w.thread.as_deref().unwrap()),
        "{}",
        reply.body
    );
}

#[then("another user cannot read the thread")]
async fn others_cannot(w: &mut EdgeWorld) {
    let other = api()
        .new_user(
            &env().admin_token,
            &unique_handle("mallory"),
            "a-long-password",
        )
        .await
        .expect("a user");
    let reply = api().get(&thread_path(w), Some(&other)).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.error_code(), Some("thread_not_found"));
    let post = api()
        .post(
            "/v1/chat",
            Some(&other),
            &json!({"message": "hi", "thread_id": w.thread}),
        )
        .await;
    assert_eq!(post.status, 404, "{}", post.body);
}

#[when(expr = "{string} deletes the thread")]
async fn deletes_thread(w: &mut EdgeWorld, _alias: String) {
    let reply = api()
        .send(
            reqwest::Method::DELETE,
            &thread_path(w),
            Some(w.token()),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[then("she can no longer read it")]
async fn thread_gone(w: &mut EdgeWorld) {
    let reply = api().get(&thread_path(w), Some(w.token())).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[then(expr = "after {int} seconds the task is still queued")]
async fn still_queued(w: &mut EdgeWorld, seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let task = w.task().to_owned();
    let view = api()
        .get(&format!("/v1/tasks/{task}"), Some(w.token()))
        .await;
    assert_eq!(view.body["status"], "queued", "{}", view.body);
}

#[then(expr = "the edge node's log says it left the job for a node that serves {string}")]
async fn left_for_others(_w: &mut EdgeWorld, model: String) {
    let log = env()
        .edge
        .lock()
        .expect("lock")
        .as_ref()
        .expect("the node")
        .output();
    assert!(
        log.contains("does not serve the job's model") && log.contains(&model),
        "{log}"
    );
}

#[then("the node without models is stopped")]
async fn plain_stopped(_w: &mut EdgeWorld) {
    // Later scenarios expect their jobs on the main node.
    env().plain_edge.lock().expect("lock").take();
}

#[then("its stdout is a non-empty answer")]
async fn non_empty_answer(w: &mut EdgeWorld) {
    let stdout = w.result()["stdout"].as_str().unwrap_or_default();
    assert!(!stdout.trim().is_empty(), "result: {}", w.result());
}

#[then("its logs show the agent's steps, ending in an answer")]
async fn agent_steps(w: &mut EdgeWorld) {
    let task = w.task().to_owned();
    let reply = api()
        .get(
            &format!("/v1/tasks/{task}/logs?stream=stderr"),
            Some(w.token()),
        )
        .await;
    let steps = reply.body["stderr"].as_str().unwrap_or_default().to_owned();
    let last = steps
        .lines()
        .rfind(|line| line.starts_with("step "))
        .unwrap_or_default();
    assert!(last.ends_with(": answer"), "steps: {steps}");
}

#[then("no step ran the prompt as a command")]
async fn prompt_not_run(w: &mut EdgeWorld) {
    let task = w.task().to_owned();
    let view = api()
        .get(&format!("/v1/tasks/{task}"), Some(w.token()))
        .await;
    let prompt = view.body["prompt"].as_str().expect("the prompt").to_owned();
    let steps = w.result()["stderr"].as_str().unwrap_or_default();
    for line in steps.lines() {
        if let Some((_, command)) = line.split_once(": run: ") {
            assert_ne!(command.trim(), prompt.trim(), "the prompt ran as a command");
        }
    }
}

#[then(expr = "the result counts at least {int} model call with tokens")]
async fn counts_calls(w: &mut EdgeWorld, calls: u64) {
    let usage = &w.result()["usage"];
    assert!(
        usage["calls"].as_u64().unwrap_or(0) >= calls,
        "result: {}",
        w.result()
    );
    assert!(
        usage["prompt_tokens"].as_u64().unwrap_or(0) > 0,
        "usage: {usage}"
    );
    assert!(
        usage["completion_tokens"].as_u64().unwrap_or(0) > 0,
        "usage: {usage}"
    );
}

#[when(expr = "{string} attaches {string} with content {string} and runs the commands:")]
async fn attaches_and_runs(
    w: &mut EdgeWorld,
    _alias: String,
    name: String,
    content: String,
    step: &Step,
) {
    let attachment = upload(w, &name, &unescape(&content)).await;
    w.attachment = Some(attachment.clone());
    w.create(json!({"commands": commands_of(step), "attachments": [attachment]}))
        .await;
}

#[when("the task is running")]
async fn task_running(w: &mut EdgeWorld) {
    let task = w.task().to_owned();
    api()
        .wait_for_task(w.token(), &task, TASK_WAIT, |t| t["status"] == "running")
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    // Give the sandbox a moment to actually start its processes.
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[when(expr = "{string} cancels the task")]
async fn cancels(w: &mut EdgeWorld, _alias: String) {
    let task = w.task().to_owned();
    let reply = api()
        .post(
            &format!("/v1/tasks/{task}/cancel"),
            Some(w.token()),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

// ------------------------------------------------------------------ outcomes

#[then("the task completes")]
async fn completes(w: &mut EdgeWorld) {
    let view = w.wait_status(&["completed"], TASK_WAIT).await;
    assert_eq!(view["status"], "completed", "result: {}", w.result());
}

#[then("the task fails")]
async fn fails(w: &mut EdgeWorld) {
    let view = w.wait_status(&["failed"], TASK_WAIT).await;
    assert_eq!(view["status"], "failed", "result: {}", w.result());
}

#[then("the job is queued again, handed back by its node")]
async fn handed_back(w: &mut EdgeWorld) {
    let task = w.task().to_owned();
    let started = Instant::now();
    loop {
        let reply = api()
            .get(&format!("/v1/tasks/{task}/result"), Some(w.token()))
            .await;
        let job = &reply.body["jobs"][0];
        if job["reason"] == "drained" {
            assert_eq!(reply.body["status"], "queued", "{}", reply.body);
            assert_eq!(job["status"], "queued", "{}", reply.body);
            w.result = Some(reply.body);
            return;
        }
        assert!(
            started.elapsed() < TASK_WAIT,
            "the job was never handed back: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[then(expr = "the task's job is canceled within {int} seconds")]
async fn job_canceled_within(w: &mut EdgeWorld, seconds: u64) {
    let started = Instant::now();
    let task = w.task().to_owned();
    loop {
        let reply = api()
            .get(&format!("/v1/tasks/{task}/result"), Some(w.token()))
            .await;
        if reply.body["jobs"][0]["status"] == "canceled" {
            assert_eq!(reply.body["status"], "canceled");
            w.result = Some(reply.body);
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "not canceled in time: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[then(expr = "its stdout is {string}")]
async fn stdout_is(w: &mut EdgeWorld, expected: String) {
    assert_eq!(
        w.job()["stdout"].as_str(),
        Some(unescape(&expected).as_str()),
        "result: {}",
        w.result()
    );
}

#[then(expr = "its stderr is {string}")]
async fn stderr_is(w: &mut EdgeWorld, expected: String) {
    assert_eq!(
        w.job()["stderr"].as_str(),
        Some(unescape(&expected).as_str()),
        "result: {}",
        w.result()
    );
}

#[then(expr = "its stdout contains {string}")]
async fn stdout_contains(w: &mut EdgeWorld, expected: String) {
    let stdout = w.job()["stdout"].as_str().unwrap_or_default();
    assert!(stdout.contains(&unescape(&expected)), "stdout: {stdout:?}");
}

/// `/proc/self/uid_map`'s line for sandbox uid 0: the host uid it maps to, and how many.
fn uid_map(stdout: &str) -> Option<(u64, u64)> {
    stdout.lines().find_map(|line| {
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        match fields.as_slice() {
            [0, host, count] => Some((*host, *count)),
            _ => None,
        }
    })
}

#[then(expr = "its user namespace maps root to host uid {int} or above")]
async fn uid_map_above(w: &mut EdgeWorld, floor: u64) {
    let stdout = w.job()["stdout"].as_str().unwrap_or_default();
    let (host, count) = uid_map(stdout).unwrap_or_else(|| panic!("no uid map: {stdout:?}"));
    assert!(host >= floor && count == 65536, "{host} {count}");
}

#[then(expr = "its stdout does not contain {string}")]
async fn stdout_lacks(w: &mut EdgeWorld, unwanted: String) {
    let stdout = w.job()["stdout"].as_str().unwrap_or_default();
    assert!(!stdout.contains(&unwanted), "stdout: {stdout:?}");
}

#[then(expr = "its stdout is valid UTF-8 that fits {int} bytes as JSON")]
async fn stdout_fits(w: &mut EdgeWorld, limit: usize) {
    // The body was parsed as JSON, so the text is valid UTF-8; measure it re-encoded.
    let stdout = w.job()["stdout"].as_str().expect("stdout");
    let encoded = serde_json::to_string(stdout).unwrap().len() - 2;
    assert!(encoded <= limit, "{encoded} bytes as JSON");
    assert!(!stdout.is_empty(), "a preview is kept");
}

#[then(expr = "downloading its stdout gives {int} bytes of {int}")]
async fn download_stdout(w: &mut EdgeWorld, count: usize, byte: u8) {
    let task = w.task().to_owned();
    let reply = api()
        .get(&format!("/v1/tasks/{task}/output/stdout"), Some(w.token()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["size"], count, "{}", reply.body);
    assert_eq!(reply.body["complete"], true, "{}", reply.body);
    let url = reply.body["url"].as_str().expect("a download url");
    let bytes = api()
        .http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the download works")
        .bytes()
        .await
        .expect("the download's bytes");
    assert_eq!(bytes.len(), count);
    assert!(bytes.iter().all(|b| *b == byte), "every byte is {byte}");
}

#[then(expr = "its stderr mentions {string}")]
async fn stderr_mentions(w: &mut EdgeWorld, expected: String) {
    let stderr = w.job()["stderr"].as_str().unwrap_or_default();
    assert!(stderr.contains(&expected), "stderr: {stderr:?}");
}

#[then(expr = "its exit code is {int}")]
async fn exit_code_is(w: &mut EdgeWorld, code: i64) {
    assert_eq!(w.job()["exit_code"], code, "result: {}", w.result());
}

#[then(expr = "the failed command is {int}")]
async fn failed_command(w: &mut EdgeWorld, index: u64) {
    assert_eq!(w.job()["failed_command"], index, "result: {}", w.result());
}

#[then(expr = "the job status is {string}")]
async fn job_status(w: &mut EdgeWorld, status: String) {
    assert_eq!(w.job()["status"], status.as_str(), "result: {}", w.result());
}

#[then(expr = "the job error mentions {string}")]
async fn job_error(w: &mut EdgeWorld, text: String) {
    let error = w.job()["error"].as_str().unwrap_or_default();
    assert!(error.contains(&text), "error: {error:?}");
}

#[then(expr = "its logs show stdout {string}")]
async fn logs_show(w: &mut EdgeWorld, expected: String) {
    let task = w.task().to_owned();
    let reply = api()
        .get(
            &format!("/v1/tasks/{task}/logs?stream=stdout"),
            Some(w.token()),
        )
        .await;
    assert_eq!(
        reply.body["stdout"].as_str(),
        Some(unescape(&expected).as_str()),
        "{}",
        reply.body
    );
}

#[then("its stdout is marked truncated")]
async fn stdout_truncated(w: &mut EdgeWorld) {
    assert_eq!(
        w.job()["truncated"]["stdout"],
        true,
        "result truncated: {}",
        w.job()["truncated"]
    );
}

#[then("its stderr is not marked truncated")]
async fn stderr_not_truncated(w: &mut EdgeWorld) {
    assert_eq!(w.job()["truncated"]["stderr"], false);
}

#[then(expr = "its stdout is {int} bytes of valid UTF-8 ending in {string}")]
async fn stdout_bytes(w: &mut EdgeWorld, bytes: usize, ending: String) {
    // JSON strings are valid UTF-8 by construction; a split character would have come
    // back as U+FFFD.
    let stdout = w.job()["stdout"].as_str().expect("stdout");
    assert_eq!(stdout.len(), bytes);
    assert!(
        stdout.ends_with(&ending),
        "ends with {:?}",
        &stdout[stdout.len() - 8..]
    );
    assert!(!stdout.contains('\u{FFFD}'));
    assert!(stdout.starts_with('x'));
}

#[then("the result has one job, run as attempt 2")]
async fn one_job_attempt_two(w: &mut EdgeWorld) {
    let jobs = w.result()["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{}", w.result());
    assert_eq!(jobs[0]["attempt"], 2, "{}", w.result());
}

#[then("the result has one job, run as attempt 1")]
async fn one_job_attempt_one(w: &mut EdgeWorld) {
    let jobs = w.result()["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{}", w.result());
    assert_eq!(jobs[0]["attempt"], 1, "{}", w.result());
}

#[then("no sandbox container of the job is left")]
async fn no_container(w: &mut EdgeWorld) {
    let job = w.job()["job_id"].as_str().expect("job id").to_owned();
    let name = format!("name=cynode-job-{job}");
    let started = Instant::now();
    loop {
        let left = podman(&["ps", "--all", "--filter", &name, "--format", "{{.Names}}"]);
        if left.trim().is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "container left: {left}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ------------------------------------------------------------------ the node itself

/// Deletes the node's items from the nodes table, as a reset of the tables would.
#[when("the gateway forgets the edge node")]
async fn forget_node(_w: &mut EdgeWorld) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use cynode_domain::ports::NodeStore;
    let stack = &env().deployment.stack;
    let clients = cynode_aws::Clients::from_env().await;
    let resources =
        cynode_aws::Resources::from_settings(|name| stack.get(name)).expect("stack outputs");
    let node = cynode_aws::Adapters::new(&clients, &resources)
        .nodes
        .node_by_name(&env().node_name)
        .await
        .unwrap()
        .expect("the node is stored");
    let table = resources.table("nodes");
    for (pk, sk) in [
        (format!("NODE#{}", node.id), "NODE".to_owned()),
        (format!("NODENAME#{}", node.name), "NODENAME".to_owned()),
        ("ACK".to_owned(), node.id.to_string()),
    ] {
        clients
            .dynamodb
            .delete_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .send()
            .await
            .expect("deleting the node's items");
    }
}

#[then(
    "the stored capabilities of the node name its CPUs, memory, Podman version and sandbox image"
)]
async fn stored_capabilities(_w: &mut EdgeWorld) {
    use cynode_domain::ports::NodeStore;
    let stack = &env().deployment.stack;
    let clients = cynode_aws::Clients::from_env().await;
    let resources =
        cynode_aws::Resources::from_settings(|name| stack.get(name)).expect("stack outputs");
    let nodes = cynode_aws::Adapters::new(&clients, &resources).nodes;
    let node = nodes
        .node_by_name(&env().node_name)
        .await
        .unwrap()
        .expect("the node is stored");
    let caps = node.capabilities;
    assert!(caps.cpus >= 1, "{caps:?}");
    assert!(caps.memory_mb > 0, "{caps:?}");
    assert!(
        caps.podman_version
            .as_deref()
            .is_some_and(|v| v.starts_with(char::is_numeric)),
        "{caps:?}"
    );
    assert!(
        caps.sandbox_images
            .iter()
            .any(|i| i.contains("cynode-sandbox")),
        "{caps:?}"
    );
    assert_eq!(caps.job_slots, 2);
    assert!(node.acked_config_version.is_some());
}

#[then("the gateway is ready")]
async fn gateway_ready(_w: &mut EdgeWorld) {
    assert_eq!(api().get("/readyz", None).await.status, 200);
}

#[when("the edge node is killed with SIGKILL")]
async fn kill_edge(_w: &mut EdgeWorld) {
    let mut edge = env().edge.lock().unwrap().take().expect("a running node");
    edge.signal("KILL").unwrap();
    edge.wait(Duration::from_secs(10)).unwrap();
}

#[when("the edge node is started again")]
async fn start_edge_again(_w: &mut EdgeWorld) {
    tokio::task::spawn_blocking(ensure_edge).await.unwrap();
}

#[when("the edge node receives SIGTERM")]
async fn term_edge(_w: &mut EdgeWorld) {
    let edge = env().edge.lock().unwrap();
    edge.as_ref()
        .expect("a running node")
        .signal("TERM")
        .unwrap();
}

#[then(expr = "the edge node exits with status {int}")]
async fn edge_exits(_w: &mut EdgeWorld, code: i32) {
    let mut edge = env().edge.lock().unwrap().take().expect("a running node");
    let status = edge
        .wait(Duration::from_secs(40))
        .unwrap_or_else(|err| panic!("{err:#}\n{}", edge.output()));
    assert_eq!(status.code(), Some(code), "{}", edge.output());
}

#[when("the gateway goes down")]
async fn gateway_down(_w: &mut EdgeWorld) {
    env().deployment.stop_gateway();
}

#[when("the gateway comes back")]
async fn gateway_back(_w: &mut EdgeWorld) {
    tokio::task::spawn_blocking(|| env().deployment.start_gateway())
        .await
        .unwrap()
        .unwrap();
}

#[when("the node has a result waiting on disk")]
async fn result_on_disk(_w: &mut EdgeWorld) {
    let dir: PathBuf = env()
        .deployment
        .logs
        .join(format!("{}-state/pending-results", env().node_name));
    let started = Instant::now();
    loop {
        let waiting = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .unwrap_or(false);
        if waiting {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no pending result appeared in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[when(regex = r"^an edge node is started with (.+)$")]
async fn misconfigured(w: &mut EdgeWorld, setting: String) {
    let value = setting
        .split('"')
        .nth(1)
        .expect("a quoted value")
        .to_owned();
    let config = if setting.starts_with("podman") {
        format!("podman = \"{value}\"\n")
    } else {
        format!("[sandbox]\nimage = \"{value}\"\n")
    };
    let name = unique_handle("misconfigured");
    let exit = tokio::task::spawn_blocking(move || {
        let deployment = &env().deployment;
        let path = deployment.logs.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let path = path.display().to_string();
        let mut agent = Service::start(
            &name,
            &cynode_testkit::binary("cynode-edge"),
            &["--config", &path],
            &deployment.edge_env(&name),
            &deployment.logs,
        )
        .unwrap();
        let status = agent.wait(Duration::from_secs(30)).unwrap();
        (status.code(), agent.output())
    })
    .await
    .unwrap();
    w.exit = Some(exit);
}

#[then(expr = "it exits with status {int}")]
async fn it_exits(w: &mut EdgeWorld, code: i32) {
    let (status, output) = w.exit.as_ref().expect("an agent ran");
    assert_eq!(*status, Some(code), "{output}");
}

#[then(expr = "it says {string}")]
async fn it_says(w: &mut EdgeWorld, text: String) {
    let (_, output) = w.exit.as_ref().expect("an agent ran");
    assert!(output.contains(&text), "{output}");
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
    let (deployment, admin_token) = cynode_testkit::feature_deployment(
        &runtime,
        "edge-features",
        DeploymentOptions::quick_leases(),
    );
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

// ------------------------------------------------------------------ planned work

/// The scenario's repository, project and forge.
#[derive(Debug, Default)]
struct PlannedWork {
    remote_dir: PathBuf,
    remote_url: String,
    project: String,
    credential: String,
    forge_repo: Option<String>,
    forge: Option<cynode_testkit::forge::ForgeContract>,
    subtask: u64,
}

impl EdgeWorld {
    fn planned(&mut self) -> &mut PlannedWork {
        self.planned.get_or_insert_with(PlannedWork::default)
    }

    async fn subtasks(&self) -> Value {
        api()
            .get_ok(&format!("/v1/tasks/{}/subtasks", self.task()), self.token())
            .await
    }

    async fn subtask(&self) -> Value {
        let n = self.planned.as_ref().expect("planned work").subtask;
        let list = self.subtasks().await;
        list["subtasks"][(n - 1) as usize].clone()
    }

    async fn runs(&self) -> Vec<Value> {
        let list = api()
            .get_ok(&format!("/v1/tasks/{}/runs", self.task()), self.token())
            .await;
        list["runs"].as_array().cloned().unwrap_or_default()
    }

    fn worker_runs(runs: &[Value]) -> Vec<Value> {
        runs.iter()
            .filter(|r| r["role"] == "worker")
            .cloned()
            .collect()
    }
}

fn seed_repository(w: &mut EdgeWorld, check: &str) {
    let dir = cynode_testkit::scratch_dir(&unique_handle("remote"));
    let files = [
        ("README.md", "# Widgets\n\nA tiny project.\n"),
        ("check.sh", check),
    ];
    let url = cynode_testkit::forge::bare_repository(&dir, "widgets", &files)
        .unwrap_or_else(|err| panic!("{err:#}"));
    let planned = w.planned();
    planned.remote_dir = dir.join("widgets.git");
    planned.remote_url = url;
}

#[given("a bare repository whose check script writes NOTES.md")]
async fn repo_writes_notes(w: &mut EdgeWorld) {
    seed_repository(w, "printf 'hello\\n' > NOTES.md\n");
}

/// Slow enough that a worker is still running when a scenario kills its node.
#[given("a bare repository whose slow check script writes NOTES.md")]
async fn repo_slowly_writes_notes(w: &mut EdgeWorld) {
    seed_repository(w, "sleep 20\nprintf 'hello\\n' > NOTES.md\n");
}

#[given("a bare repository whose check script fails")]
async fn repo_fails(w: &mut EdgeWorld) {
    seed_repository(w, "echo 'check: 1 failure' >&2\nexit 1\n");
}

#[given(expr = "a forge that takes pull requests for {string}")]
async fn forge_for(w: &mut EdgeWorld, repo: String) {
    // It starts with the project, whose credential is the token it expects.
    w.planned().forge_repo = Some(repo);
}

#[given(expr = "{string} has a project for the repository with the credential {string}")]
async fn has_project(w: &mut EdgeWorld, _alias: String, credential: String) {
    let name = unique_handle("widgets");
    let mut body = json!({
        "name": name, "repo_url": w.planned().remote_url, "credential": credential,
        "test_command": "sh ./check.sh",
    });
    if let Some(repo) = w.planned().forge_repo.clone() {
        let (owner, repo_name) = repo.split_once('/').expect("owner/name");
        let forge = cynode_testkit::forge::ForgeContract::start(owner, repo_name, &credential)
            .expect("the forge listens");
        body["forge_url"] = json!(forge.url);
        body["forge_repo"] = json!(repo);
        w.planned().forge = Some(forge);
    }
    let reply = api().post("/v1/projects", Some(w.token()), &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(!reply.body.to_string().contains(&credential));
    let planned = w.planned();
    planned.project = name;
    planned.credential = credential;
}

#[when(expr = "{string} plans {string} in the project")]
async fn plans(w: &mut EdgeWorld, _alias: String, request: String) {
    let project = w.planned().project.clone();
    w.create(json!({"prompt": request, "project": project, "plan": true}))
        .await;
}

#[then("the task is planned into subtasks that depend only on earlier ones")]
async fn planned_into_subtasks(w: &mut EdgeWorld) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let list = loop {
        let list = w.subtasks().await;
        let done = !list["subtasks"].as_array().is_none_or(Vec::is_empty)
            || list["status"] == "planning_failed";
        if done || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let subtasks = list["subtasks"].as_array().expect("subtasks");
    assert!(!subtasks.is_empty(), "no plan: {list}");
    assert_eq!(list["status"], "running", "{list}");
    for s in subtasks {
        let n = s["number"].as_u64().expect("number");
        for dep in s["depends_on"].as_array().expect("depends_on") {
            assert!(dep.as_u64().is_some_and(|d| d < n), "{s}");
        }
        let ready = s["depends_on"].as_array().is_some_and(Vec::is_empty);
        assert_eq!(
            s["state"],
            if ready { "ready" } else { "blocked_dependency" }
        );
    }
}

#[when(expr = "{string} starts the first ready subtask")]
async fn starts_first_ready(w: &mut EdgeWorld, _alias: String) {
    let list = w.subtasks().await;
    let first = list["subtasks"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["state"] == "ready"))
        .and_then(|s| s["number"].as_u64())
        .expect("a ready subtask");
    w.planned().subtask = first;
    let reply = api()
        .post(
            &format!("/v1/tasks/{}/subtasks/{first}/start", w.task()),
            Some(w.token()),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["state"], "in_progress");
}

#[when(expr = "{string} retries the subtask")]
async fn retries_subtask(w: &mut EdgeWorld, _alias: String) {
    let n = w.planned().subtask;
    let reply = api()
        .post(
            &format!("/v1/tasks/{}/subtasks/{n}/retry", w.task()),
            Some(w.token()),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// The running worker's job id, once a node runs it.
async fn running_worker(w: &EdgeWorld, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let runs = w.runs().await;
        if let Some(run) = EdgeWorld::worker_runs(&runs)
            .iter()
            .find(|r| r["status"] == "running")
        {
            return run["run_id"].as_str().expect("run id").to_owned();
        }
        assert!(Instant::now() < deadline, "no worker ran: {runs:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[when("the subtask's worker is running")]
async fn worker_running(w: &mut EdgeWorld) {
    running_worker(w, Duration::from_secs(120)).await;
    // Let the agent get going inside its sandbox.
    tokio::time::sleep(Duration::from_secs(3)).await;
}

#[then("while its worker runs, nothing in the sandbox contains the credential")]
async fn credential_not_in_sandbox(w: &mut EdgeWorld) {
    let job = running_worker(w, Duration::from_secs(120)).await;
    let credential = w.planned().credential.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let container = loop {
        let names = podman(&[
            "ps",
            "--filter",
            &format!("name=cynode-job-{job}"),
            "--format",
            "{{.Names}}",
        ]);
        if let Some(name) = names.lines().next().filter(|n| !n.is_empty()) {
            break name.to_owned();
        }
        assert!(Instant::now() < deadline, "the worker's sandbox never ran");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Everything a process in the sandbox can read that the job could have put there:
    // the environment, every process's command line and environment, and every file in
    // the places it can see or write.
    let dump = podman(&[
        "exec",
        &container,
        "sh",
        "-c",
        "env; for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/cmdline; tr '\\0' '\\n' < $p/environ; done 2>/dev/null; \
         find /repo /job /workspace /tmp /run /out /dev/shm -type f -size -4M -exec cat {} + 2>/dev/null",
    ]);
    assert!(
        dump.contains("OPENAI_BASE_URL"),
        "the sandbox's environment was read: {dump:.300}"
    );
    assert!(dump.contains("A tiny project."), "the checkout was read");
    assert!(
        dump.contains("cynode-prompt-agent"),
        "the agent's process was read"
    );
    assert!(
        !dump.contains(&credential),
        "the credential is visible in the sandbox"
    );
}

#[then("while its worker runs, its run shows the agent's current step")]
async fn run_shows_step(w: &mut EdgeWorld) {
    // Only heartbeats carry it: the node relays the last line the agent printed.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let runs = EdgeWorld::worker_runs(&w.runs().await);
        if let Some(step) = runs.iter().find_map(|r| r["progress"].as_str()) {
            // One of the agent's own lines (prompt_agent: a step, its output, the tests,
            // the commit).
            assert!(!step.is_empty() && !step.contains('\n'), "{step}");
            let agent_line = [
                "step ",
                "| ",
                "tests: ",
                "committed: ",
                "change: ",
                "cynode-prompt-agent: ",
            ];
            assert!(agent_line.iter().any(|p| step.starts_with(p)), "{step}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no step was shown for the worker: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[then(expr = "the subtask is {string} within {int} seconds")]
async fn subtask_within(w: &mut EdgeWorld, state: String, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let subtask = w.subtask().await;
        if subtask["state"] == state.as_str() {
            return;
        }
        assert!(
            Instant::now() < deadline
                && !(subtask["state"] == "blocked_failure" && state != "blocked_failure"),
            "subtask is {subtask}; runs: {:?}",
            w.runs().await
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[then("the remote has the subtask's branch, one commit ahead of main, adding NOTES.md")]
async fn remote_has_branch(w: &mut EdgeWorld) {
    let subtask = w.subtask().await;
    let branch = subtask["branch"].as_str().expect("branch").to_owned();
    let remote = w.planned().remote_dir.clone();
    let git = |args: &[&str]| {
        cynode_testkit::forge::git(&remote, args).unwrap_or_else(|e| panic!("{e:#}"))
    };
    assert_eq!(
        git(&["rev-list", "--count", &format!("main..{branch}")]).trim(),
        "1"
    );
    assert_eq!(
        git(&["rev-parse", &branch]).trim(),
        subtask["commit"].as_str().unwrap()
    );
    let changed = git(&["diff", "--name-only", "main", &branch]);
    assert!(changed.lines().any(|f| f == "NOTES.md"), "{changed}");
    let message = git(&["log", "-1", "--format=%s", &branch]);
    assert!(
        message.starts_with(&format!("cyn-{}: ", subtask["number"])),
        "{message}"
    );
}

#[then(
    "the forge received one valid pull request from the branch into main, recorded on the subtask"
)]
async fn forge_received(w: &mut EdgeWorld) {
    let subtask = w.subtask().await;
    let requests = w.planned().forge.as_ref().expect("a forge").requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(
        (request.status, request.refusal.as_deref()),
        (201, None),
        "{request:?}"
    );
    assert_eq!(request.body["head"], subtask["branch"]);
    assert_eq!(request.body["base"], "main");
    assert_eq!(request.body["title"], subtask["title"]);
    assert_eq!(subtask["pull_request"]["number"], 1);
    assert_eq!(
        subtask["pull_request"]["url"],
        "https://forge.test/acme/widgets/pull/1"
    );
}

#[then("the task's runs list a planner and a worker with tokens")]
async fn runs_with_tokens(w: &mut EdgeWorld) {
    let runs = w.runs().await;
    let planner = runs
        .iter()
        .find(|r| r["role"] == "planner")
        .expect("a planner run");
    let worker = runs
        .iter()
        .rfind(|r| r["role"] == "worker")
        .expect("a worker run");
    for run in [planner, worker] {
        assert_eq!(run["status"], "completed", "{run}");
        assert!(
            run["usage"]["completion_tokens"].as_u64().unwrap_or(0) > 0,
            "{run}"
        );
        assert!(run["started_at"].is_string() && run["ended_at"].is_string());
    }
    let logs = api()
        .get(
            &format!(
                "/v1/tasks/{}/runs/{}/logs",
                w.task(),
                worker["run_id"].as_str().unwrap()
            ),
            Some(w.token()),
        )
        .await;
    assert_eq!(logs.status, 200);
    assert!(
        logs.body["stderr"]
            .as_str()
            .unwrap_or_default()
            .contains("committed: cyn-"),
        "{}",
        logs.body
    );
}

#[then("the edge node's log does not contain the credential")]
async fn log_lacks_credential(w: &mut EdgeWorld) {
    let credential = w.planned().credential.clone();
    let log = env()
        .edge
        .lock()
        .unwrap()
        .as_ref()
        .map(Service::output)
        .unwrap_or_default();
    assert!(
        log.contains("pushed the worker's branch"),
        "the log is the node's"
    );
    assert!(!log.contains(&credential));
}

#[then(expr = "its reason says {string} and {string}")]
async fn reason_says(w: &mut EdgeWorld, first: String, second: String) {
    let subtask = w.subtask().await;
    let reason = subtask["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&first) && reason.contains(&second),
        "{subtask}"
    );
}

#[then(expr = "its {int} worker runs started at least {int} seconds after the previous one ended")]
async fn spaced_runs(w: &mut EdgeWorld, count: usize, seconds: i64) {
    let runs = EdgeWorld::worker_runs(&w.runs().await);
    assert_eq!(runs.len(), count, "{runs:?}");
    let time = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().expect("a time"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("rfc3339")
    };
    for pair in runs.windows(2) {
        let gap = time(&pair[1]["started_at"]) - time(&pair[0]["ended_at"]);
        assert!(
            gap.whole_seconds() >= seconds,
            "retried after {gap}: {pair:?}"
        );
    }
}

#[then("its worker run was delivered at least twice")]
async fn delivered_twice(w: &mut EdgeWorld) {
    let runs = EdgeWorld::worker_runs(&w.runs().await);
    let last = runs.last().expect("a worker run");
    assert!(last["attempt"].as_u64().unwrap_or(0) >= 2, "{runs:?}");
}
