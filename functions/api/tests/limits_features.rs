//! `features/gateway/limits.feature`: per-user quotas on unfinished tasks and open
//! streams, and how long-lived streams end, against the real gateway on LocalStack with
//! small limits (`CYNODE_MAX_UNFINISHED_TASKS`, `CYNODE_MAX_OPEN_STREAMS`,
//! `CYNODE_STREAM_MAX_SECS`, `CYNODE_STREAM_CHECK_SECS`).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use serde_json::{json, Value};

use cynode_testkit::{unique_handle, Api, Deployment, DeploymentOptions, Reply};

struct Env {
    deployment: Deployment,
    admin_token: String,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get().expect("set up before the features run")
}

fn api() -> Api {
    Api::new(&env().deployment.url)
}

/// A stream being read: what arrived so far, and whether it ended.
struct OpenStream {
    text: tokio::sync::watch::Receiver<(String, bool)>,
    reader: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenStream")
    }
}

#[derive(Debug, Default, World)]
struct LimitsWorld {
    tokens: HashMap<String, String>,
    tasks: HashMap<String, Vec<String>>,
    last: Option<Reply>,
    streams: Vec<OpenStream>,
    /// The last event a stream ended with: its name and data.
    ended: Option<(String, Value)>,
}

impl LimitsWorld {
    async fn token(&mut self, alias: &str) -> String {
        if !self.tokens.contains_key(alias) {
            let token = api()
                .new_user(&env().admin_token, &unique_handle(alias), "a-long-password")
                .await
                .expect("a user");
            self.tokens.insert(alias.to_owned(), token);
        }
        self.tokens[alias].clone()
    }

    fn reply(&self) -> &Reply {
        self.last.as_ref().expect("a request was made")
    }

    async fn create_task(&mut self, alias: &str) -> Reply {
        let token = self.token(alias).await;
        let reply = api()
            .post("/v1/tasks", Some(&token), &json!({"commands": ["true"]}))
            .await;
        if reply.status == 201 {
            let id = reply.body["task_id"].as_str().unwrap().to_owned();
            self.tasks.entry(alias.to_owned()).or_default().push(id);
        }
        self.last = Some(reply.clone());
        reply
    }

    /// Opens a stream; a 200 is read in the background, anything else is the reply.
    async fn open_stream(&mut self, alias: &str, path: &str, body: Option<Value>) {
        let token = self.token(alias).await;
        let url = format!("{}{path}", env().deployment.url);
        let request = match body {
            Some(body) => api().http.post(url).json(&body),
            None => api().http.get(url),
        };
        let response = request.bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            let headers = response.headers().clone();
            let body = response.json().await.unwrap_or(Value::Null);
            self.last = Some(Reply {
                status,
                body,
                headers,
            });
            return;
        }
        self.last = Some(Reply {
            status,
            body: Value::Null,
            headers: response.headers().clone(),
        });
        let (tx, rx) = tokio::sync::watch::channel((String::new(), false));
        let reader = tokio::spawn(async move {
            let mut response = response;
            while let Ok(Some(chunk)) = response.chunk().await {
                tx.send_modify(|(text, _)| text.push_str(&String::from_utf8_lossy(&chunk)));
            }
            tx.send_modify(|(_, ended)| *ended = true);
        });
        self.streams.push(OpenStream { text: rx, reader });
    }

    fn first_task(&self, alias: &str) -> String {
        self.tasks[alias][0].clone()
    }
}

#[given(expr = "{string} has {int} queued tasks")]
async fn has_tasks(w: &mut LimitsWorld, alias: String, count: usize) {
    for _ in 0..count {
        let reply = w.create_task(&alias).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

#[when(expr = "{string} creates a commands task")]
async fn creates(w: &mut LimitsWorld, alias: String) {
    w.create_task(&alias).await;
}

#[when(expr = "{string} cancels his first task")]
async fn cancels_first(w: &mut LimitsWorld, alias: String) {
    let token = w.token(&alias).await;
    let task = w.first_task(&alias);
    let reply = api()
        .post(
            &format!("/v1/tasks/{task}/cancel"),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[then(expr = "the response status is {int}")]
async fn status_is(w: &mut LimitsWorld, status: u16) {
    assert_eq!(w.reply().status, status, "{}", w.reply().body);
}

#[then(expr = "the error code is {string}")]
async fn code_is(w: &mut LimitsWorld, code: String) {
    assert_eq!(
        w.reply().error_code(),
        Some(code.as_str()),
        "{}",
        w.reply().body
    );
}

#[then("the response has a Retry-After header")]
async fn retry_after(w: &mut LimitsWorld) {
    let header = w.reply().headers.get("retry-after").expect("Retry-After");
    assert!(header.to_str().unwrap().parse::<u64>().unwrap() > 0);
}

#[when(expr = "{string} opens {int} event streams of his task")]
async fn opens_streams(w: &mut LimitsWorld, alias: String, count: usize) {
    for _ in 0..count {
        let task = w.first_task(&alias);
        w.open_stream(&alias, &format!("/v1/events/tasks/{task}"), None)
            .await;
        assert_eq!(w.reply().status, 200, "{}", w.reply().body);
    }
}

#[when(expr = "{string} opens an event stream of his task")]
async fn opens_stream(w: &mut LimitsWorld, alias: String) {
    let task = w.first_task(&alias);
    w.open_stream(&alias, &format!("/v1/events/tasks/{task}"), None)
        .await;
}

#[when(expr = "{string} starts a streamed completion")]
async fn starts_completion(w: &mut LimitsWorld, alias: String) {
    let body = json!({"model": "cynodeai.pm", "stream": true,
        "messages": [{"role": "user", "content": "hello"}]});
    w.open_stream(&alias, "/v1/chat/completions", Some(body))
        .await;
}

#[then(expr = "{string} still has {int} task")]
async fn still_has(w: &mut LimitsWorld, alias: String, count: usize) {
    let token = w.token(&alias).await;
    let reply = api().get("/v1/tasks", Some(&token)).await;
    assert_eq!(
        reply.body["tasks"].as_array().map(Vec::len),
        Some(count),
        "{}",
        reply.body
    );
}

#[when(expr = "{string} closes one of his streams")]
async fn closes_one(w: &mut LimitsWorld, _alias: String) {
    let stream = w.streams.remove(0);
    stream.reader.abort();
    // The gateway notices at the stream's next keep-alive (every check interval).
    tokio::time::sleep(Duration::from_secs(5)).await;
}

#[when(expr = "{string} logs out")]
async fn logs_out(w: &mut LimitsWorld, alias: String) {
    let token = w.token(&alias).await;
    let reply = api()
        .post("/v1/auth/logout", Some(&token), &json!({}))
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[then(expr = "the stream ends with the event {string} within {int} seconds")]
async fn stream_ends_with(w: &mut LimitsWorld, name: String, seconds: u64) {
    let stream = w.streams.last_mut().expect("an open stream");
    let ended = tokio::time::timeout(
        Duration::from_secs(seconds),
        stream.text.wait_for(|(_, ended)| *ended),
    )
    .await
    .expect("the stream ended in time")
    .expect("the reader reports")
    .0
    .clone();
    let last = ended
        .split("\n\n")
        .filter(|event| event.starts_with("event: "))
        .last()
        .unwrap_or_else(|| panic!("no event: {ended}"));
    let event = last.lines().next().unwrap().trim_start_matches("event: ");
    let data = last
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .unwrap_or(Value::Null);
    assert_eq!(event, name, "{ended}");
    w.ended = Some((event.to_owned(), data));
}

#[then(expr = "that event's code is {string}")]
async fn event_code(w: &mut LimitsWorld, code: String) {
    let (_, data) = w.ended.as_ref().expect("an ended stream");
    assert_eq!(data["code"], code.as_str(), "{data}");
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let settings = [
        ("CYNODE_MAX_UNFINISHED_TASKS", "3"),
        ("CYNODE_MAX_OPEN_STREAMS", "2"),
        ("CYNODE_STREAM_MAX_SECS", "8"),
        ("CYNODE_STREAM_CHECK_SECS", "2"),
    ];
    let (deployment, admin_token) = cynode_testkit::feature_deployment(
        &runtime,
        "limits-features",
        DeploymentOptions {
            gateway_env: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..DeploymentOptions::default()
        },
    );
    let _ = ENV.set(Env {
        deployment,
        admin_token,
    });
    let feature = cynode_testkit::repo_root().join("features/gateway/limits.feature");
    let failed = runtime.block_on(async {
        LimitsWorld::cucumber()
            .fail_on_skipped()
            .with_default_cli()
            .run(feature)
            .await
            .execution_has_failed()
    });
    cynode_testkit::finish_features(failed, &env().deployment);
}
