//! Steps of `projects.feature` and `planning.feature`: projects, plans, subtasks and runs.

use super::*;

#[given(expr = "{string} has a project {string} with the credential {string}")]
async fn has_project(w: &mut GatewayWorld, alias: String, name: String, credential: String) {
    let body = json!({"name": name, "repo_url": "file:///srv/git/widgets.git", "credential": credential,
                      "test_command": "make test", "forge_url": "http://127.0.0.1:9/api", "forge_repo": "acme/widgets"});
    let reply = w
        .as_user(&alias, Method::POST, "/v1/projects", Some(body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[when(expr = "{string} plans {string} in the project {string}")]
async fn plans(w: &mut GatewayWorld, alias: String, request: String, project: String) {
    let reply = w
        .create_task(
            &alias,
            json!({"prompt": request, "project": project, "plan": true}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    w.plan_owner = Some(alias);
}

impl GatewayWorld {
    fn owner_token(&self) -> String {
        let owner = self.plan_owner.as_deref().expect("a planned task");
        self.users[owner]
            .token
            .clone()
            .expect("the task's owner is logged in")
    }

    /// The newest queued run of the task with `role` (and `subtask`), as the runs list
    /// shows it: a planned task has several jobs, so the test finds them there.
    pub(crate) async fn queued_run(&mut self, role: &str, subtask: Option<u64>) -> String {
        let task = self.task().to_owned();
        let token = self.owner_token();
        let runs = self
            .api()
            .get(&format!("/v1/tasks/{task}/runs"), Some(&token))
            .await;
        assert_eq!(runs.status, 200, "{}", runs.body);
        runs.body["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .rev()
            .find(|r| {
                r["role"] == role
                    && r["status"] == "queued"
                    && subtask.is_none_or(|n| r["subtask"] == n)
            })
            .and_then(|r| r["run_id"].as_str())
            .unwrap_or_else(|| panic!("no queued {role} run in {}", runs.body))
            .to_owned()
    }

    /// Claims the run's job as the test node and reports `result`'s fields on top of a
    /// completed result.
    async fn run_as_node(&mut self, job: String, result: Value) -> Value {
        if self.node.is_none() {
            let psk = self.deployment().secrets.node_psk.clone();
            assert_eq!(self.register_node(&psk).await.status, 200);
        }
        let task = self.task().to_owned();
        self.job = Some((task.clone(), job.clone()));
        let boot = self.node.as_ref().expect("node").boot.clone();
        let claim = self.claim_job(&task, &job, &boot).await.body;
        assert!(claim["job_token"].is_string(), "a claim to run: {claim}");
        let reply = self.report_fields(&claim, result).await;
        assert_eq!(reply.status, 200, "result: {}", reply.body);
        claim
    }

    async fn subtasks(&mut self) -> Value {
        let task = self.task().to_owned();
        let token = self.owner_token();
        let reply = self
            .api()
            .get(&format!("/v1/tasks/{task}/subtasks"), Some(&token))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    async fn subtask_action(&mut self, number: u64, action: &str) {
        let task = self.task().to_owned();
        let token = self.owner_token();
        let reply = self
            .api()
            .post(
                &format!("/v1/tasks/{task}/subtasks/{number}/{action}"),
                Some(&token),
                &json!({}),
            )
            .await;
        self.last = Some(reply);
    }
}

#[when("a node reports the plan:")]
async fn reports_plan(w: &mut GatewayWorld, step: &cucumber::gherkin::Step) {
    let plan = step.docstring.clone().expect("the plan");
    let job = w.queued_run("planner", None).await;
    let claim = w.run_as_node(job, json!({"stdout": plan.trim()})).await;
    assert_eq!(claim["spec"]["agent"]["role"], "plan", "{claim}");
}

#[when(expr = "a node completes subtask {int}'s worker with a pull request")]
async fn completes_worker(w: &mut GatewayWorld, number: u64) {
    let job = w.queued_run("worker", Some(number)).await;
    let branch = format!("cyn-{number}-test");
    let work = json!({"branch": branch, "commit": format!("c0ffee{number}"),
                      "pull_request": {"number": 100 + number, "url": format!("https://forge.test/acme/widgets/pull/{}", 100 + number)}});
    w.run_as_node(job, json!({"work": work})).await;
}

#[when(expr = "a node fails subtask {int}'s worker: {string}")]
async fn fails_worker(w: &mut GatewayWorld, number: u64, error: String) {
    let job = w.queued_run("worker", Some(number)).await;
    w.run_as_node(
        job,
        json!({"status": "failed", "exit_code": 3, "error": error}),
    )
    .await;
}

#[when(regex = r#"^"(\w+)" (starts|marks) subtask (\d+)(?: merged)?$"#)]
async fn acts_on_subtask(w: &mut GatewayWorld, _alias: String, verb: String, number: u64) {
    let action = if verb == "starts" {
        "start"
    } else {
        "mark-merged"
    };
    w.subtask_action(number, action).await;
}

#[then(expr = "the task's status is {string}")]
async fn task_status(w: &mut GatewayWorld, status: String) {
    let list = w.subtasks().await;
    assert_eq!(list["status"], status.as_str(), "{list}");
}

#[then(expr = "the task's planner error is {string}")]
async fn planner_error(w: &mut GatewayWorld, error: String) {
    let list = w.subtasks().await;
    assert_eq!(list["plan"]["planner_error"], error.as_str(), "{list}");
}

#[then(expr = "the subtask states are {string}")]
async fn subtask_states(w: &mut GatewayWorld, states: String) {
    let list = w.subtasks().await;
    let actual: Vec<&str> = list["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .map(|s| s["state"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(actual.join(", "), states, "{list}");
}

#[then(expr = "subtask {int} records the pushed branch and its pull request")]
async fn records_pr(w: &mut GatewayWorld, number: u64) {
    let list = w.subtasks().await;
    let subtask = &list["subtasks"][(number - 1) as usize];
    assert_eq!(subtask["branch"], format!("cyn-{number}-test"), "{subtask}");
    assert_eq!(subtask["commit"], format!("c0ffee{number}"));
    assert_eq!(subtask["pull_request"]["number"], 100 + number);
}

#[then(expr = "subtask {int}'s reason is {string}")]
async fn subtask_reason(w: &mut GatewayWorld, number: u64, reason: String) {
    let list = w.subtasks().await;
    assert_eq!(
        list["subtasks"][(number - 1) as usize]["reason"],
        reason.as_str()
    );
}

#[then(expr = "the task has {int} runs: a planner and {int} workers, each completed")]
async fn runs_recorded(w: &mut GatewayWorld, total: usize, workers: usize) {
    let task = w.task().to_owned();
    let token = w.owner_token();
    let runs = w
        .api()
        .get(&format!("/v1/tasks/{task}/runs"), Some(&token))
        .await;
    let runs = runs.body["runs"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), total, "{runs:?}");
    let roles: Vec<&str> = runs
        .iter()
        .map(|r| r["role"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "worker").count(), workers);
    assert_eq!(roles[0], "planner");
    assert!(
        runs.iter()
            .all(|r| r["status"] == "completed" && r["started_at"].is_string()),
        "{runs:?}"
    );
    let subtasks: Vec<u64> = runs.iter().filter_map(|r| r["subtask"].as_u64()).collect();
    assert_eq!(subtasks, vec![1, 2, 3], "workers ran in dependency order");
}

/// (The retry delays themselves are checked by the plan service's unit test.)
#[then("3 worker runs are recorded, each failed")]
async fn worker_runs_failed(w: &mut GatewayWorld) {
    let task = w.task().to_owned();
    let token = w.owner_token();
    let runs = w
        .api()
        .get(&format!("/v1/tasks/{task}/runs"), Some(&token))
        .await;
    let workers: Vec<&Value> = runs.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["role"] == "worker")
        .collect();
    assert_eq!(workers.len(), 3, "{}", runs.body);
    assert!(
        workers.iter().all(|r| r["status"] == "failed"),
        "{}",
        runs.body
    );
}

#[then(expr = "the worker's claim carries the credential {string} and the subtask's branch")]
async fn claim_has_credential(w: &mut GatewayWorld, credential: String) {
    let job = w.queued_run("worker", Some(1)).await;
    let claim = w
        .run_as_node(
            job,
            json!({"status": "failed", "error": "stopped by the test"}),
        )
        .await;
    let agent = &claim["spec"]["agent"];
    assert_eq!(agent["role"], "work", "{claim}");
    assert_eq!(agent["credential"], credential.as_str());
    assert!(
        agent["branch"]
            .as_str()
            .is_some_and(|b| b.starts_with("cyn-1-a-")),
        "{agent}"
    );
    assert_eq!(agent["forge"]["owner"], "acme");
    assert_eq!(agent["test_command"], "make test");
}

#[when(expr = "{string} follows the task's events")]
async fn follows_events(w: &mut GatewayWorld, alias: String) {
    let token = w.token(&alias).await;
    let url = format!("{}/v1/events/tasks/{}", w.deployment().url, w.task());
    let response = w
        .api()
        .http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    w.stream = Some(tokio::spawn(async move {
        (response.text().await).unwrap_or_else(|err| format!("(the stream broke off: {err})"))
    }));
    // The first look is sent at once; let it happen before the changes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

#[then(
    expr = "the event stream showed {string}, {string} with state {string}, {string} with status {string}, and ended"
)]
async fn events_showed(
    w: &mut GatewayWorld,
    agent: String,
    subtask: String,
    state: String,
    task: String,
    status: String,
) {
    let reading = w.stream.take().expect("an event stream");
    let body = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the stream ends with the task")
        .unwrap();
    let events: Vec<(String, Value)> = body
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).ok()?))
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"task:status"), "{body}");
    assert!(names.contains(&agent.as_str()), "{body}");
    assert!(
        events
            .iter()
            .any(|(n, d)| *n == subtask && d["state"] == state.as_str()),
        "{body}"
    );
    assert!(
        events
            .iter()
            .any(|(n, d)| *n == task && d["status"] == status.as_str()),
        "{body}"
    );
    assert_eq!(names.last(), Some(&"end"), "{body}");
}
