//! Steps that check what a task ended with: statuses, results, logs, output, usage.

use super::*;

#[then("the task completes")]
pub(super) async fn completes(w: &mut EdgeWorld) {
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
    // A job runs in a container of its own (named for it) or in a warm sandbox (the log
    // names it): neither may be left.
    containers_gone(&format!("name=cynode-job-{job}")).await;
    if let Some((_, sandbox)) = warm_sandbox_lines()
        .into_iter()
        .find(|(line, _)| line.contains(&job))
    {
        containers_gone(&format!("name=^{sandbox}$")).await;
    }
}

/// Waits up to 15 s for no container to match `filter`.
async fn containers_gone(filter: &str) {
    let started = Instant::now();
    loop {
        let left = podman(&["ps", "--all", "--filter", filter, "--format", "{{.Names}}"]);
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

/// The node's log lines saying a job ran in a warm sandbox: (line, sandbox name).
fn warm_sandbox_lines() -> Vec<(String, String)> {
    edge_log()
        .lines()
        .filter(|line| line.contains("the job runs in a warm sandbox"))
        .filter_map(|line| {
            let name = line.split("sandbox=").nth(1)?.split_whitespace().next()?;
            Some((line.to_owned(), name.to_owned()))
        })
        .collect()
}

/// A freshly started node fills its warm pool in the background; a job that arrives
/// before its first pod is ready runs in a new one (which is right, but not what a
/// scenario about the warm pool checks).
#[given("the node has a warm pod ready")]
async fn warm_pod_ready(_w: &mut EdgeWorld) {
    // A pod the log says became ready and no job has taken since (names are unique).
    let sandbox = |line: &str| {
        line.split("sandbox=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let taken: Vec<String> = warm_sandbox_lines()
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        let waiting = edge_log()
            .lines()
            .filter(|line| line.contains("a warm sandbox is ready") && line.contains("kind=Pod"))
            .filter_map(sandbox)
            .any(|name| !taken.contains(&name));
        if waiting {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node readied no warm pod in 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[then("the node ran it in a warm sandbox, which is gone")]
async fn ran_warm(w: &mut EdgeWorld) {
    let job = w.job()["job_id"].as_str().expect("job id").to_owned();
    let (_, sandbox) = warm_sandbox_lines()
        .into_iter()
        .find(|(line, _)| line.contains(&job))
        .unwrap_or_else(|| panic!("the node's log says no warm sandbox ran {job}"));
    assert!(sandbox.starts_with("cynode-warm-"), "{sandbox}");
    containers_gone(&format!("name=^{sandbox}$")).await;
}

#[then("no warm sandbox ran more than one job")]
async fn warm_once(_w: &mut EdgeWorld) {
    let names: Vec<String> = warm_sandbox_lines()
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    assert!(names.len() >= 2, "warm sandboxes: {names:?}");
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "a warm sandbox ran twice: {names:?}"
    );
}
