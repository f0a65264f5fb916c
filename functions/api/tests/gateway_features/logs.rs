//! Steps of `logs.feature`: the test node shipping live-log chunks, and the task's owner
//! reading them from a cursor.

use super::*;

#[when(expr = "the test node ships log chunk {int}: {string} on {string} and {string} on {string}")]
async fn ships_chunk(
    w: &mut GatewayWorld,
    seq: u32,
    first: String,
    first_stream: String,
    second: String,
    second_stream: String,
) {
    let claim = w.claims.last().cloned().expect("a claim");
    let (task, job) = w.job.clone().expect("a claimed job");
    let entries: Vec<Value> = [(first, first_stream), (second, second_stream)]
        .into_iter()
        .filter(|(text, _)| !text.is_empty())
        .map(|(text, stream)| json!({"stream": stream, "text": unescape(&text)}))
        .collect();
    let body = json!({"task_id": task, "attempt": claim["attempt"],
        "lease_id": claim["lease_id"], "seq": seq, "entries": entries})
    .to_string();
    let token = claim["job_token"].as_str().expect("job token").to_owned();
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/logs"),
        body.as_bytes(),
        &token,
    )
    .await;
}

#[when(expr = "{string} reads the live log from where she left off")]
async fn reads_on(w: &mut GatewayWorld, alias: String) {
    let cursor = w.log_cursor.clone();
    read_from(w, &alias, &cursor).await;
}

#[when(expr = "{string} reads the live log from the start")]
async fn reads_from_start(w: &mut GatewayWorld, alias: String) {
    read_from(w, &alias, "").await;
}

async fn read_from(w: &mut GatewayWorld, alias: &str, cursor: &str) {
    // A cursor is a job id and two numbers joined by dots: nothing to escape.
    let path = format!("/v1/tasks/{}/logs?cursor={cursor}", w.task().to_owned());
    let reply = w.as_user(alias, Method::GET, &path, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    w.log_cursor = reply.body["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
}

#[then(expr = "the live log lines are {string}")]
async fn lines_are(w: &mut GatewayWorld, expected: String) {
    let body = &w.reply().body;
    let lines: Vec<String> = body["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("live logs: {body}"))
        .iter()
        .map(|line| {
            format!(
                "{}:{}",
                line["stream"].as_str().unwrap_or_default(),
                line["text"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(lines.join("|"), unescape(&expected), "{body}");
}

#[then(expr = "the live log's task is {string}")]
async fn task_is(w: &mut GatewayWorld, status: String) {
    assert_eq!(
        w.reply().body["status"],
        status.as_str(),
        "{}",
        w.reply().body
    );
}

/// Reads the task's live-log stream to its end (the task has ended), resuming after
/// `last_id` when given.
async fn stream_log(w: &mut GatewayWorld, alias: &str, last_id: Option<String>) {
    let token = w.token(alias).await;
    let url = format!("{}/v1/tasks/{}/logs/stream", w.deployment().url, w.task());
    let mut request = w.api().http.get(url).bearer_auth(token);
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = tokio::time::timeout(Duration::from_secs(30), request.send())
        .await
        .expect("the stream answers")
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(30), response.text())
        .await
        .expect("the stream ends once the task has")
        .expect("a body");
    w.sse = body
        .split("\n\n")
        .filter(|frame| !frame.trim().is_empty() && !frame.starts_with(':'))
        .map(|frame| {
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.to_owned();
                }
            }
            (id, event, data)
        })
        .collect();
}

#[when(expr = "{string} streams the live log from the start")]
async fn streams_from_start(w: &mut GatewayWorld, alias: String) {
    stream_log(w, &alias, None).await;
}

#[when(expr = "{string} streams the live log again after the first event id it saw")]
async fn streams_after_first_id(w: &mut GatewayWorld, alias: String) {
    let first = w
        .sse
        .iter()
        .find_map(|(id, _, _)| id.clone())
        .expect("an event with an id");
    stream_log(w, &alias, Some(first)).await;
}

#[then(expr = "the stream's log lines are {string}, then {string}")]
async fn stream_lines(w: &mut GatewayWorld, expected: String, last: String) {
    let (logs, rest): (Vec<_>, Vec<_>) = w.sse.iter().partition(|(_, event, _)| event == "log");
    let lines: Vec<String> = logs
        .iter()
        .map(|(_, _, data)| {
            let line: Value = serde_json::from_str(data).expect("a log line");
            format!(
                "{}:{}",
                line["stream"].as_str().unwrap_or_default(),
                line["text"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(lines.join("|"), unescape(&expected), "{:?}", w.sse);
    assert_eq!(
        rest.iter()
            .map(|(_, event, _)| event.as_str())
            .collect::<Vec<_>>(),
        [last.as_str()],
        "{:?}",
        w.sse
    );
}
