//! Steps of `planning.feature`: a repository, a project, a forge, and planned work run by the real node.

use super::*;

/// The scenario's repository, project and forge.
#[derive(Debug, Default)]
pub(super) struct PlannedWork {
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
    let body = json!({"credential": credential});
    project_for_repository(w, credential, body).await;
}

/// The same with the credential stored first (`/v1/credentials`, sealed with KMS) and
/// named by the project.
#[given(expr = "{string} has a project for the repository with the stored credential {string}")]
async fn has_project_stored(w: &mut EdgeWorld, _alias: String, credential: String) {
    let name = unique_handle("forge-bot");
    let stored = json!({"name": name, "provider": "gitea", "value": credential});
    let reply = api()
        .post("/v1/credentials", Some(w.token()), &stored)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(!reply.body.to_string().contains(&credential));
    let body = json!({"credential_name": name});
    project_for_repository(w, credential, body).await;
}

async fn project_for_repository(w: &mut EdgeWorld, credential: String, mut body: Value) {
    let name = unique_handle("widgets");
    body["name"] = json!(name);
    body["repo_url"] = json!(w.planned().remote_url);
    body["test_command"] = json!("sh ./check.sh");
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
            // One of the agent's own lines (prompt_agent: what it was given, a step, its
            // output, the tests, the commit).
            assert!(!step.is_empty() && !step.contains('\n'), "{step}");
            let agent_line = [
                "agent: ",
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
    let log = edge_log();
    assert!(
        log.contains("pushed the worker's branch"),
        "the log is the node's"
    );
    assert!(!log.contains(&credential));
}

#[then(
    "the audit trail records each handing of the credential to the node, for the task, without it"
)]
async fn credential_use_audited(w: &mut EdgeWorld) {
    let credential = w.planned().credential.clone();
    let task = w.task().to_owned();
    let trail = api()
        .get_ok(
            "/v1/audit?action=credential.use&limit=200",
            &env().admin_token,
        )
        .await;
    let uses: Vec<&Value> = trail["events"]
        .as_array()
        .expect("an audit list")
        .iter()
        .filter(|event| event["task_id"] == task.as_str())
        .collect();
    // The planner's claim and the worker's each got the credential.
    assert!(uses.len() >= 2, "{trail}");
    for event in uses {
        assert_eq!(event["outcome"], "success", "{event}");
        assert!(
            event["actor"]
                .as_str()
                .unwrap_or_default()
                .starts_with("node:"),
            "{event}"
        );
        let subject = event["subject"].as_str().unwrap_or_default();
        assert!(
            subject.starts_with("project:") || subject.starts_with("credential:"),
            "{event}"
        );
    }
    assert!(!trail.to_string().contains(&credential));
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
