//! Steps that submit and run tasks on the real node: commands, scripts, prompts, attachments, chats.

use super::*;

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
pub(super) async fn plain_node(_w: &mut EdgeWorld) {
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
async fn openai_client(w: &mut EdgeWorld, alias: String) {
    openai_script(w, "openai_client.py".into(), alias).await
}

/// One of `features/clients/`'s Python scripts, run with a personal API key of the
/// user's, scoped to the model routes, as the API key (what a user configures in a client).
#[when(expr = "the official OpenAI Python client runs {string} as {string}")]
async fn openai_script(w: &mut EdgeWorld, name: String, _alias: String) {
    client_checks(w, "python3", &name).await;
}

/// `features/clients/ollama_client.py`: the official `ollama` Python client.
#[when(expr = "the official Ollama Python client runs its checks as {string}")]
async fn ollama_client(w: &mut EdgeWorld, _alias: String) {
    client_checks(w, "python3", "ollama_client.py").await;
}

/// `features/clients/js/checks.mjs`: the official OpenAI JavaScript client from npm
/// (`scripts/test` installs it), the same way.
#[when(expr = "the official OpenAI JavaScript client runs its checks as {string}")]
async fn openai_js(w: &mut EdgeWorld, _alias: String) {
    client_checks(w, "node", "js/checks.mjs").await;
}

async fn client_checks(w: &mut EdgeWorld, interpreter: &str, name: &str) {
    let created = api()
        .post(
            "/v1/api-keys",
            Some(w.token()),
            &json!({"name": format!("openai client: {name}"), "scope": "models"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["key"].as_str().expect("the key").to_owned();
    let script = cynode_testkit::repo_root()
        .join("features/clients")
        .join(name);
    let out = tokio::process::Command::new(interpreter)
        .arg(&script)
        .arg(cynode_testkit::TEST_MODEL)
        .env("OPENAI_BASE_URL", format!("{}/v1", env().deployment.url))
        .env("OPENAI_API_KEY", key)
        .env("OLLAMA_HOST", &env().deployment.url)
        .output()
        .await
        .unwrap_or_else(|err| panic!("{interpreter} runs: {err}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    w.client_output = Some((out.status.success(), text));
}

#[then("the user's usage today counts the model's calls and tokens")]
async fn usage_counts(w: &mut EdgeWorld) {
    let report = api().get("/v1/usage?days=1", Some(w.token())).await;
    assert_eq!(report.status, 200, "{}", report.body);
    let row = report.body["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["model"] == cynode_testkit::TEST_MODEL)
        })
        .unwrap_or_else(|| panic!("no usage of the model: {}", report.body));
    for field in ["calls", "prompt_tokens", "completion_tokens"] {
        assert!(
            row[field].as_u64().is_some_and(|n| n > 0),
            "{field}: {}",
            report.body
        );
    }
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

#[given(expr = "{string} prefers {string} to be {int}")]
async fn prefers(w: &mut EdgeWorld, _alias: String, key: String, value: u64) {
    set_preference(w, &key, json!(value)).await;
}

/// Sets the user's own value of the preference `key`.
pub(super) async fn set_preference(w: &EdgeWorld, key: &str, value: Value) {
    let body = json!({"scope": "user", "value": value});
    let reply = api()
        .send(
            reqwest::Method::PUT,
            &format!("/v1/preferences/{key}"),
            Some(w.token()),
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[given(expr = "{string} has a skill {string} triggered by {string}")]
async fn has_skill(w: &mut EdgeWorld, _alias: String, name: String, trigger: String) {
    let body =
        json!({"name": name, "body": "Answer with the number alone.", "triggers": [trigger]});
    let reply = api().post("/v1/skills", Some(w.token()), &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[then(expr = "its logs say the agent loaded the skill {string}")]
async fn agent_loaded_skill(w: &mut EdgeWorld, name: String) {
    let stderr = w.result()["stderr"].as_str().unwrap_or_default().to_owned();
    assert!(
        stderr
            .lines()
            .any(|line| line == format!("agent: skills {name}")),
        "stderr: {stderr}"
    );
}

#[then(expr = "its logs begin with the agent saying it may take up to {int} steps")]
async fn agent_step_limit(w: &mut EdgeWorld, steps: u32) {
    let stderr = w.result()["stderr"].as_str().unwrap_or_default().to_owned();
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("agent: model ") && first.ends_with(&format!(", up to {steps} steps")),
        "stderr: {stderr}"
    );
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

#[when(expr = "{string} deletes the task")]
async fn deletes(w: &mut EdgeWorld, _alias: String) {
    // What the task was, for the steps after: it cannot be read once it is gone.
    let before = api()
        .get(&format!("/v1/tasks/{}/result", w.task()), Some(w.token()))
        .await;
    assert_eq!(before.status, 200, "{}", before.body);
    w.result = Some(before.body);
    let path = format!("/v1/tasks/{}", w.task());
    let reply = api()
        .send(reqwest::Method::DELETE, &path, Some(w.token()), None)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[then("the task is gone")]
async fn task_gone(w: &mut EdgeWorld) {
    let reply = api()
        .get(&format!("/v1/tasks/{}", w.task()), Some(w.token()))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
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
