//! Steps of `tasks.feature` and `ownership.feature`: creating, reading, canceling tasks, and who may see them.

use super::*;

#[when(expr = "{string} creates a task with commands {string} named {string}")]
async fn create_named(w: &mut GatewayWorld, alias: String, command: String, name: String) {
    w.create_task(&alias, json!({"commands": [command], "task_name": name}))
        .await;
}

#[when(expr = "{string} creates a task with commands {string}")]
async fn create_commands(w: &mut GatewayWorld, alias: String, command: String) {
    let reply = w.create_task(&alias, json!({"commands": [command]})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[when(expr = "{string} creates a task with commands {string} and the model {string}")]
async fn create_with_model(w: &mut GatewayWorld, alias: String, command: String, model: String) {
    w.create_task(&alias, json!({"commands": [command], "model": model}))
        .await;
}

#[when(expr = "{string} creates a task with the prompt {string}")]
async fn create_prompt(w: &mut GatewayWorld, alias: String, prompt: String) {
    w.create_task(&alias, json!({"prompt": prompt})).await;
}

#[given(expr = "{string} has created {int} tasks")]
async fn has_created(w: &mut GatewayWorld, alias: String, count: usize) {
    for i in 0..count {
        let reply = w
            .create_task(&alias, json!({"commands": [format!("echo {i}")]}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

#[given(expr = "{string} has a task named {string}")]
async fn has_named(w: &mut GatewayWorld, alias: String, name: String) {
    let reply = w
        .create_task(&alias, json!({"commands": ["true"], "task_name": name}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["task_id"].as_str().unwrap().to_owned();
    let stored = reply.body["task_name"].as_str().unwrap().to_owned();
    w.named.insert(alias, (id, stored));
}

#[when(expr = "{string} gets the task {string}")]
async fn gets_task(w: &mut GatewayWorld, alias: String, reference: String) {
    w.as_user(&alias, Method::GET, &format!("/v1/tasks/{reference}"), None)
        .await;
}

#[then("the response is the task she created")]
async fn is_created_task(w: &mut GatewayWorld) {
    assert_eq!(w.reply().body["task_id"].as_str(), Some(w.task()));
}

#[when(regex = r#"^"(\w+)" lists (?:her|his) tasks$"#)]
async fn lists(w: &mut GatewayWorld, alias: String) {
    w.as_user(&alias, Method::GET, "/v1/tasks?limit=200", None)
        .await;
}

fn listed(reply: &Reply) -> Vec<String> {
    reply.body["tasks"]
        .as_array()
        .expect("a task list")
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_owned())
        .collect()
}

#[when(expr = "{string} creates a task with commands {string} in the project {string}")]
async fn creates_in_project(w: &mut GatewayWorld, alias: String, command: String, project: String) {
    let reply = w
        .create_task(&alias, json!({"commands": [command], "project": project}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[when(expr = "{string} creates a task with the prompt {string} in the project {string}")]
async fn prompt_in_project(w: &mut GatewayWorld, alias: String, prompt: String, project: String) {
    let reply = w
        .create_task(&alias, json!({"prompt": prompt, "project": project}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[when("an admin deletes the task")]
async fn admin_deletes(w: &mut GatewayWorld) {
    let path = w.path("/v1/tasks/{task}");
    let admin = w.admin_token().await;
    let reply = w
        .api()
        .send(Method::DELETE, &path, Some(&admin), None)
        .await;
    w.last = Some(reply);
}

#[given(expr = "a fresh deployment that keeps finished tasks for {int} seconds")]
async fn fresh_with_retention(w: &mut GatewayWorld, seconds: u64) {
    w.start_fresh(vec![
        ("CYNODE_TASK_RETENTION_SECS".into(), seconds.to_string()),
        // Sweeps run when the scenario asks, not on a timer.
        ("CYNODE_SWEEP_INTERVAL_SECS".into(), "86400".into()),
    ])
    .await;
}

#[when(expr = "{int} seconds pass")]
async fn seconds_pass(_w: &mut GatewayWorld, seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[when("an admin runs the sweep")]
async fn admin_sweeps(w: &mut GatewayWorld) {
    let admin = w.admin_token().await;
    let reply = w
        .api()
        .post("/v1/admin/sweep", Some(&admin), &json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    w.last = Some(reply);
}

#[then(expr = "the task {int} is gone and the task {int} is not")]
async fn first_gone(w: &mut GatewayWorld, gone: usize, kept: usize) {
    let alias = w.users.keys().next().expect("a user").clone();
    for (index, status) in [(gone, 404), (kept, 200)] {
        let path = format!("/v1/tasks/{}", w.tasks[index - 1]);
        let reply = w.as_user(&alias, Method::GET, &path, None).await;
        assert_eq!(reply.status, status, "task {index}: {}", reply.body);
    }
}

#[then("the task list holds only the first task")]
async fn holds_only_first(w: &mut GatewayWorld) {
    assert_eq!(listed(w.reply()), vec![w.tasks[0].clone()]);
}

#[then("the list contains the task she created")]
async fn list_contains(w: &mut GatewayWorld) {
    assert!(listed(w.reply()).contains(&w.task().to_owned()));
}

#[when(expr = "{string} lists her tasks {int} at a time, following the cursor")]
async fn lists_paged(w: &mut GatewayWorld, alias: String, per_page: u32) {
    let mut cursor: Option<String> = None;
    w.pages.clear();
    loop {
        let mut path = format!("/v1/tasks?limit={per_page}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let reply = w.as_user(&alias, Method::GET, &path, None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        w.pages.push(listed(&reply));
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(w.pages.len() < 20, "paging does not end");
    }
}

#[then(expr = "she sees the {int} tasks newest first, each once, in {int} pages")]
async fn sees_all(w: &mut GatewayWorld, count: usize, pages: usize) {
    let seen: Vec<String> = w.pages.concat();
    let mut expected = w.tasks.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    assert_eq!(seen.len(), count);
    assert_eq!(w.pages.len(), pages, "pages: {:?}", w.pages);
}

#[when(regex = r#"^"(\w+)" cancels the (?:newest )?task$"#)]
async fn cancels(w: &mut GatewayWorld, alias: String) {
    let task = w.task().to_owned();
    w.as_user(
        &alias,
        Method::POST,
        &format!("/v1/tasks/{task}/cancel"),
        None,
    )
    .await;
}

#[when(expr = "{string} lists her tasks with status {string}")]
async fn lists_status(w: &mut GatewayWorld, alias: String, status: String) {
    w.as_user(
        &alias,
        Method::GET,
        &format!("/v1/tasks?status={status}"),
        None,
    )
    .await;
}

#[then("the list holds exactly the newest task")]
async fn holds_newest(w: &mut GatewayWorld) {
    assert_eq!(listed(w.reply()), vec![w.task().to_owned()]);
}

#[when(expr = "{string} gets the result of the task")]
async fn gets_result(w: &mut GatewayWorld, alias: String) {
    let task = w.task().to_owned();
    w.as_user(
        &alias,
        Method::GET,
        &format!("/v1/tasks/{task}/result"),
        None,
    )
    .await;
}

#[then("the result has no jobs")]
async fn no_jobs(w: &mut GatewayWorld) {
    assert_eq!(w.reply().body["jobs"], json!([]), "{}", w.reply().body);
}

#[then(expr = "the result has {int} job with attempt {int}")]
async fn one_job(w: &mut GatewayWorld, count: usize, attempt: u64) {
    let jobs = w.reply().body["jobs"].as_array().expect("jobs").clone();
    assert_eq!(jobs.len(), count, "{}", w.reply().body);
    assert_eq!(jobs[0]["attempt"], attempt);
}

#[then(expr = "the task's job came off the {word} queue")]
async fn job_queue(w: &mut GatewayWorld, queue: String) {
    w.job_of_current_task().await;
    assert_eq!(w.job_queue, Some(queue.as_str()), "task {}", w.task());
}

#[then(expr = "the claim runs the prompt {string} with no shell input")]
async fn claim_is_prompt(w: &mut GatewayWorld, prompt: String) {
    let spec = &w.claims.last().expect("a claim")["spec"];
    assert_eq!(spec["mode"], "prompt", "{spec}");
    assert_eq!(spec["prompt"], prompt.as_str(), "{spec}");
    assert_eq!(spec["inference"], true, "{spec}");
    assert!(
        spec.get("script").is_none() && spec.get("commands").is_none(),
        "{spec}"
    );
}

#[when(expr = "{string} gets the task's logs of stream {string}")]
async fn gets_logs(w: &mut GatewayWorld, alias: String, stream: String) {
    let task = w.task().to_owned();
    w.as_user(
        &alias,
        Method::GET,
        &format!("/v1/tasks/{task}/logs?stream={stream}"),
        None,
    )
    .await;
}

#[when(expr = "{string} uploads an attachment {string} with content {string}")]
async fn uploads(w: &mut GatewayWorld, alias: String, name: String, content: String) {
    let content = unescape(&content);
    let reply = w
        .as_user(
            &alias,
            Method::POST,
            "/v1/attachments",
            Some(json!({"name": name, "size": content.len()})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let url = reply.body["upload_url"].as_str().unwrap();
    let put = w
        .api()
        .http
        .put(url)
        .body(content)
        .send()
        .await
        .expect("upload");
    assert!(
        put.status().is_success(),
        "upload answered {}",
        put.status()
    );
    w.attachment = reply.body["attachment_id"].as_str().map(str::to_owned);
}

#[when(expr = "{string} creates a task with commands {string} and the attachment")]
async fn create_with_attachment(w: &mut GatewayWorld, alias: String, command: String) {
    let attachment = w.attachment.clone().expect("an uploaded attachment");
    w.create_task(
        &alias,
        json!({"commands": [command], "attachments": [attachment]}),
    )
    .await;
}

#[then(expr = "the task lists the attachment {string}")]
async fn lists_attachment(w: &mut GatewayWorld, name: String) {
    assert_eq!(
        w.reply().body["attachments"][0]["name"].as_str(),
        Some(name.as_str()),
        "{}",
        w.reply().body
    );
}

// ------------------------------------------------------------------ ownership

#[when(
    regex = r#"^"(\w+)" (gets|gets the result of|gets the logs of|cancels) (\w+)'s task by (id|name)$"#
)]
async fn acts_on_other(
    w: &mut GatewayWorld,
    alias: String,
    action: String,
    owner: String,
    by: String,
) {
    let (id, name) = w.named[&owner].clone();
    let reference = if by == "id" { id } else { name };
    let (method, path) = match action.as_str() {
        "gets" => (Method::GET, format!("/v1/tasks/{reference}")),
        "gets the result of" => (Method::GET, format!("/v1/tasks/{reference}/result")),
        "gets the logs of" => (Method::GET, format!("/v1/tasks/{reference}/logs")),
        _ => (Method::POST, format!("/v1/tasks/{reference}/cancel")),
    };
    w.as_user(&alias, method, &path, None).await;
}

#[then("the response holds nothing but the error")]
async fn nothing_but_error(w: &mut GatewayWorld) {
    let body = w.reply().body.as_object().expect("a JSON object");
    assert_eq!(
        body.keys().collect::<Vec<_>>(),
        ["error"],
        "{}",
        w.reply().body
    );
    let error = body["error"].as_object().unwrap();
    assert!(
        error
            .keys()
            .all(|k| ["code", "message", "request_id"].contains(&k.as_str())),
        "{}",
        w.reply().body
    );
}

#[then(regex = r"^the list does not contain (\w+)'s task$")]
async fn list_lacks(w: &mut GatewayWorld, owner: String) {
    let (id, _) = &w.named[&owner];
    assert!(!listed(w.reply()).contains(id));
}
