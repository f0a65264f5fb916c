//! The gateway's features (`features/gateway/*.feature`), against the real local stack:
//! a fresh CloudFormation stack on LocalStack and the `cynode-gateway` binary. Where a
//! scenario needs an edge node, the test plays one over the real protocol: it takes the
//! job off the real SQS queue and sends signed callbacks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use reqwest::Method;
use serde_json::{json, Value};

use cynode_domain::ids::{SessionId, UserId};
use cynode_domain::session::AccessTokens;
use cynode_domain::signing::{
    self, Signed, HEADER_NODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use cynode_domain::wire::{AccessClaims, JobMessage};
use cynode_testkit::{unique_handle, Api, Deployment, DeploymentOptions, Reply, Stack};

struct Env {
    deployment: Deployment,
    admin_token: String,
    sqs: aws_sdk_sqs::Client,
}

static ENV: OnceLock<Env> = OnceLock::new();

/// Job messages taken off the queue, by task id (see `job_of_current_task`).
/// Job messages by task id, with the queue each came off (`jobs` or `inference`).
static MAILBOX: tokio::sync::Mutex<BTreeMap<String, (JobMessage, &'static str)>> =
    tokio::sync::Mutex::const_new(BTreeMap::new());

fn env() -> &'static Env {
    ENV.get()
        .expect("environment is set up before the features run")
}

/// A deployment a scenario made for itself.
struct Own(Arc<Deployment>);

impl std::fmt::Debug for Own {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Deployment({})", self.0.url)
    }
}

#[derive(Debug, Clone)]
struct TestUser {
    handle: String,
    password: String,
    token: Option<String>,
    refresh: Option<String>,
}

#[derive(Debug, Clone)]
struct TestNode {
    id: String,
    name: String,
    secret: String,
    key: String,
    boot: String,
    config_version: String,
}

#[derive(Debug, Default, World)]
struct GatewayWorld {
    users: HashMap<String, TestUser>,
    /// Tasks created in this scenario, oldest first.
    tasks: Vec<String>,
    /// Named tasks by owner alias: (id, name).
    named: HashMap<String, (String, String)>,
    last: Option<Reply>,
    remembered: Option<Reply>,
    replaced_refresh: Option<String>,
    node: Option<TestNode>,
    /// The current job: (task id, job id).
    job: Option<(String, String)>,
    /// The queue the current job's message came off.
    job_queue: Option<&'static str>,
    /// Claims of the current job, in order.
    claims: Vec<Value>,
    /// A streamed completion being read: its whole body once it ends.
    stream: Option<tokio::task::JoinHandle<String>>,
    attachment: Option<String>,
    pages: Vec<Vec<String>>,
    fresh: Option<Own>,
    /// Statuses of a burst of requests, in order.
    statuses: Vec<u16>,
    /// Who created the scenario's planned task.
    plan_owner: Option<String>,
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

impl GatewayWorld {
    fn deployment(&self) -> &Deployment {
        self.fresh.as_ref().map_or(&env().deployment, |own| &own.0)
    }

    fn api(&self) -> Api {
        Api::new(&self.deployment().url)
    }

    fn reply(&self) -> &Reply {
        self.last.as_ref().expect("a request was made")
    }

    fn task(&self) -> &str {
        self.tasks.last().expect("a task was created")
    }

    /// `path` with `{task}` standing for the scenario's newest task.
    fn path(&self, path: &str) -> String {
        match self.tasks.last() {
            Some(task) => path.replace("{task}", task),
            None => path.to_owned(),
        }
    }

    async fn user(&mut self, alias: &str) -> TestUser {
        if !self.users.contains_key(alias) {
            let handle = unique_handle(alias);
            let password = format!("{alias}-password-1");
            let reply = self
                .api()
                .post(
                    "/v1/users",
                    Some(&env().admin_token),
                    &json!({"handle": handle, "password": password}),
                )
                .await;
            assert_eq!(reply.status, 201, "creating {alias}: {}", reply.body);
            self.users.insert(
                alias.to_owned(),
                TestUser {
                    handle,
                    password,
                    token: None,
                    refresh: None,
                },
            );
        }
        self.users[alias].clone()
    }

    async fn login(&mut self, alias: &str) {
        let user = self.user(alias).await;
        let reply = self
            .api()
            .post(
                "/v1/auth/login",
                None,
                &json!({"handle": user.handle, "password": user.password}),
            )
            .await;
        assert_eq!(reply.status, 200, "login of {alias}: {}", reply.body);
        let entry = self.users.get_mut(alias).expect("user");
        entry.token = reply.body["access_token"].as_str().map(str::to_owned);
        entry.refresh = reply.body["refresh_token"].as_str().map(str::to_owned);
        self.last = Some(reply);
    }

    async fn token(&mut self, alias: &str) -> String {
        if self
            .users
            .get(alias)
            .and_then(|u| u.token.clone())
            .is_none()
        {
            self.login(alias).await;
        }
        self.users[alias].token.clone().expect("logged in")
    }

    async fn as_user(
        &mut self,
        alias: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let token = self.token(alias).await;
        let reply = self
            .api()
            .send(
                method,
                path,
                Some(&token),
                body.map(|b| b.to_string().into_bytes()),
            )
            .await;
        self.last = Some(reply.clone());
        reply
    }

    async fn create_task(&mut self, alias: &str, body: Value) -> Reply {
        let reply = self
            .as_user(alias, Method::POST, "/v1/tasks", Some(body))
            .await;
        if reply.status == 201 {
            self.tasks
                .push(reply.body["task_id"].as_str().expect("task id").to_owned());
        }
        reply
    }

    /// Sends a request signed by the test node with `key` (its node key or a job token).
    async fn signed(&mut self, method: Method, path: &str, body: &[u8], key: &str) -> Reply {
        let node = self.node.clone().expect("a test node is registered");
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let nonce = signing::new_nonce();
        let signature = signing::sign(
            key,
            &Signed {
                method: method.as_str(),
                path,
                timestamp,
                nonce: &nonce,
                body,
            },
        );
        let url = format!("{}{path}", self.deployment().url);
        let response = self
            .api()
            .http
            .request(method, url)
            .header(HEADER_NODE, &node.id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce)
            .header(HEADER_SIGNATURE, signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("gateway answers");
        let reply = to_reply(response).await;
        self.last = Some(reply.clone());
        reply
    }

    /// The claim the test node got for `attempt`.
    fn claim_of_attempt(&self, attempt: u64) -> Value {
        self.claims
            .iter()
            .find(|c| c["attempt"] == attempt)
            .cloned()
            .expect("that attempt's claim")
    }

    async fn register_node(&mut self, psk: &str) -> Reply {
        let name = unique_handle("test-node");
        let body = json!({"pre_shared_key": psk, "node_name": name, "capabilities": {"agent_version": "test", "cpus": 1, "memory_mb": 512}});
        let reply = self.api().post("/v1/nodes/register", None, &body).await;
        if reply.status == 200 {
            self.node = Some(TestNode {
                id: reply.body["node_id"].as_str().unwrap().to_owned(),
                name: name.clone(),
                secret: reply.body["node_secret"].as_str().unwrap().to_owned(),
                key: reply.body["node_key"].as_str().unwrap().to_owned(),
                boot: unique_handle("boot"),
                config_version: reply.body["config"]["config_version"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            });
        }
        self.last = Some(reply.clone());
        reply
    }

    /// Finds the current task's job on the real queue, as a node would receive it.
    /// Scenarios run concurrently, so whoever receives a message files it in the shared
    /// mailbox (and deletes it from the queue) for the scenario whose task it is.
    async fn job_of_current_task(&mut self) -> (String, String) {
        let task = self.task().to_owned();
        if let Some(job) = self.job.clone().filter(|(t, _)| *t == task) {
            return job;
        }
        for _ in 0..30 {
            let mut mailbox = MAILBOX.lock().await;
            if let Some((message, queue)) = mailbox.remove(&task) {
                let job = (task.clone(), message.job_id.to_string());
                self.job = Some(job.clone());
                self.job_queue = Some(queue);
                return job;
            }
            receive_all(&mut mailbox, &self.deployment().stack).await;
        }
        panic!("no message for task {task} came off the queue");
    }

    async fn claim(&mut self, boot: &str) -> Reply {
        let (task, job) = self.job_of_current_task().await;
        self.claim_job(&task, &job, boot).await
    }

    /// Claims `job` of `task` as the test node, as booted `boot`; keeps the claim.
    async fn claim_job(&mut self, task: &str, job: &str, boot: &str) -> Reply {
        let key = self.node.as_ref().expect("node").key.clone();
        let body = json!({"task_id": task, "boot_id": boot, "receive_count": 1}).to_string();
        let reply = self
            .signed(
                Method::POST,
                &format!("/v1/jobs/{job}/started"),
                body.as_bytes(),
                &key,
            )
            .await;
        assert_eq!(reply.status, 200, "claim: {}", reply.body);
        self.claims.push(reply.body.clone());
        reply
    }

    async fn report(&mut self, claim: &Value, stdout: &str, stderr: &str) -> Reply {
        self.report_fields(claim, json!({"stdout": stdout, "stderr": stderr}))
            .await
    }

    /// Reports the current job completed under `claim`, with `fields` over the defaults.
    async fn report_fields(&mut self, claim: &Value, fields: Value) -> Reply {
        let (task, job) = self.job.clone().expect("a claimed job");
        let now = cynode_domain::clock::rfc3339(time::OffsetDateTime::now_utc());
        let mut body = json!({
            "task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"],
            "status": "completed", "exit_code": 0, "stdout": "", "stderr": "",
            "truncated": {"stdout": false, "stderr": false}, "started_at": now, "ended_at": now,
        });
        for (key, value) in fields.as_object().expect("fields") {
            body[key] = value.clone();
        }
        let token = claim["job_token"].as_str().expect("job token").to_owned();
        self.signed(
            Method::POST,
            &format!("/v1/jobs/{job}/result"),
            body.to_string().as_bytes(),
            &token,
        )
        .await
    }
}

/// Takes what the queue has (waiting up to a second) into the mailbox.
/// Receives from both of a deployment's queues into the mailbox.
async fn receive_all(
    mailbox: &mut BTreeMap<String, (JobMessage, &'static str)>,
    stack: &Stack,
) -> usize {
    let jobs = stack.resource("CYNODE_JOBS_QUEUE_URL");
    let inference = stack.resource("CYNODE_INFERENCE_QUEUE_URL");
    receive_into(mailbox, &jobs, "jobs").await
        + receive_into(mailbox, &inference, "inference").await
}

async fn receive_into(
    mailbox: &mut BTreeMap<String, (JobMessage, &'static str)>,
    queue: &str,
    label: &'static str,
) -> usize {
    let out = env()
        .sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("SQS receive");
    let messages = out.messages.unwrap_or_default();
    for message in &messages {
        let parsed: JobMessage =
            serde_json::from_str(message.body().unwrap_or_default()).expect("a job message");
        mailbox.insert(parsed.task_id.to_string(), (parsed, label));
        env()
            .sqs
            .delete_message()
            .queue_url(queue)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("SQS delete");
    }
    messages.len()
}

async fn to_reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    }
}

// ------------------------------------------------------------------ users and auth

#[given(expr = "a user {string}")]
async fn a_user(w: &mut GatewayWorld, alias: String) {
    w.user(&alias).await;
}

#[given(expr = "a user {string} who is logged in")]
async fn a_user_logged_in(w: &mut GatewayWorld, alias: String) {
    w.login(&alias).await;
}

#[given(expr = "{string} is logged in")]
async fn is_logged_in(w: &mut GatewayWorld, alias: String) {
    w.login(&alias).await;
}

#[when(expr = "{string} logs in")]
async fn logs_in(w: &mut GatewayWorld, alias: String) {
    let user = w.user(&alias).await;
    w.last = Some(
        w.api()
            .post(
                "/v1/auth/login",
                None,
                &json!({"handle": user.handle, "password": user.password}),
            )
            .await,
    );
    if let Some(entry) = w.users.get_mut(&alias) {
        let body = &w.last.as_ref().unwrap().body;
        entry.token = body["access_token"].as_str().map(str::to_owned);
        entry.refresh = body["refresh_token"].as_str().map(str::to_owned);
    }
}

async fn login_attempt(w: &mut GatewayWorld, alias: &str, password: &str) {
    let handle = match w.users.get(alias) {
        Some(user) => user.handle.clone(),
        None => unique_handle(alias),
    };
    w.last = Some(
        w.api()
            .post(
                "/v1/auth/login",
                None,
                &json!({"handle": handle, "password": password}),
            )
            .await,
    );
}

#[when(expr = "{string} logs in with the password {string}")]
async fn logs_in_with(w: &mut GatewayWorld, alias: String, password: String) {
    login_attempt(w, &alias, &password).await;
}

#[when(expr = "{int} wrong passwords for {string} arrive at once from {word}")]
async fn spray(w: &mut GatewayWorld, count: u32, alias: String, source: String) {
    let handle = w.users[&alias].handle.clone();
    let url = format!("{}/v1/auth/login", w.deployment().url);
    let http = w.api().http.clone();
    let attempts = (0..count).map(|i| {
        let (http, url, handle, source) =
            (http.clone(), url.clone(), handle.clone(), source.clone());
        tokio::spawn(async move {
            http.post(&url)
                .header("x-forwarded-for", source)
                .json(&json!({"handle": handle, "password": format!("spray-{i}")}))
                .send()
                .await
                .expect("the gateway answers")
                .status()
                .as_u16()
        })
    });
    w.statuses.clear();
    for attempt in attempts {
        w.statuses.push(attempt.await.unwrap());
    }
}

#[then(expr = "at most {int} of them were checked and the rest got 429")]
async fn at_most_checked(w: &mut GatewayWorld, limit: usize) {
    let checked = w.statuses.iter().filter(|s| **s == 401).count();
    let throttled = w.statuses.iter().filter(|s| **s == 429).count();
    assert!(
        checked <= limit,
        "{checked} passwords were checked: {:?}",
        w.statuses
    );
    assert_eq!(checked + throttled, w.statuses.len(), "{:?}", w.statuses);
}

#[when(expr = "{string} logs in from {word}")]
async fn logs_in_from(w: &mut GatewayWorld, alias: String, source: String) {
    let user = &w.users[&alias];
    let body = json!({"handle": user.handle, "password": user.password});
    let response = w
        .api()
        .http
        .post(format!("{}/v1/auth/login", w.deployment().url))
        .header("x-forwarded-for", source)
        .json(&body)
        .send()
        .await;
    w.last = Some(to_reply(response.expect("gateway answers")).await);
}

#[when(expr = "{string} creates a task with commands {string} and the Idempotency-Key {string}")]
async fn creates_idempotent(w: &mut GatewayWorld, alias: String, commands: String, key: String) {
    let token = w.users[&alias].token.clone().expect("has a token");
    let response = w
        .api()
        .http
        .post(format!("{}/v1/tasks", w.deployment().url))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"commands": [commands]}))
        .send()
        .await;
    let reply = to_reply(response.expect("gateway answers")).await;
    w.statuses.push(reply.status);
    w.tasks.push(
        reply.body["task_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    w.last = Some(reply);
}

#[then(expr = "both answers name the same task, the first 201 and the second 200")]
async fn same_task_twice(w: &mut GatewayWorld) {
    assert_eq!(w.statuses, vec![201, 200]);
    assert_eq!(w.tasks.len(), 2);
    assert_eq!(w.tasks[0], w.tasks[1]);
    assert!(!w.tasks[0].is_empty());
}

#[when(expr = "{string} logs in with the password {string} {int} times")]
async fn logs_in_with_times(w: &mut GatewayWorld, alias: String, password: String, times: u32) {
    for _ in 0..times {
        login_attempt(w, &alias, &password).await;
        assert_eq!(w.reply().status, 401, "{}", w.reply().body);
    }
}

#[when(regex = r#"^"(\w[\w-]*)" asks who (?:she|he) is$"#)]
async fn asks_who(w: &mut GatewayWorld, alias: String) {
    let token = w.users[&alias].token.clone().expect("has a token");
    w.last = Some(w.api().get("/v1/users/me", Some(&token)).await);
}

#[then(regex = r#"^"(\w[\w-]*)" can ask who (?:she|he) is$"#)]
async fn can_ask_who(w: &mut GatewayWorld, alias: String) {
    asks_who(w, alias).await;
    assert_eq!(w.reply().status, 200, "{}", w.reply().body);
}

#[when(expr = "{string} refreshes her session")]
async fn refreshes(w: &mut GatewayWorld, alias: String) {
    let refresh = w.users[&alias]
        .refresh
        .clone()
        .expect("has a refresh token");
    let reply = w
        .api()
        .post("/v1/auth/refresh", None, &json!({"refresh_token": refresh}))
        .await;
    if reply.status == 200 {
        let entry = w.users.get_mut(&alias).unwrap();
        w.replaced_refresh = entry.refresh.take();
        entry.token = reply.body["access_token"].as_str().map(str::to_owned);
        entry.refresh = reply.body["refresh_token"].as_str().map(str::to_owned);
    }
    w.last = Some(reply);
}

#[when(expr = "{string} refreshes with the replaced refresh token")]
async fn refreshes_with_replaced(w: &mut GatewayWorld, _alias: String) {
    let refresh = w
        .replaced_refresh
        .clone()
        .expect("a replaced refresh token");
    w.last = Some(
        w.api()
            .post("/v1/auth/refresh", None, &json!({"refresh_token": refresh}))
            .await,
    );
}

#[then("the new refresh token differs from the old one")]
async fn refresh_differs(w: &mut GatewayWorld) {
    let new = w.reply().body["refresh_token"]
        .as_str()
        .expect("new refresh token");
    assert_ne!(Some(new), w.replaced_refresh.as_deref());
}

#[when(expr = "{string} logs out")]
async fn logs_out(w: &mut GatewayWorld, alias: String) {
    w.as_user(&alias, Method::POST, "/v1/auth/logout", None)
        .await;
}

#[when(expr = "{string} creates a user {string}")]
async fn creates_user(w: &mut GatewayWorld, alias: String, new: String) {
    let body = json!({"handle": unique_handle(&new), "password": "a-long-password"});
    w.as_user(&alias, Method::POST, "/v1/users", Some(body))
        .await;
}

fn claims_of(token: &str) -> AccessClaims {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64 payload");
    serde_json::from_slice(&bytes).expect("claims")
}

#[when(regex = r"^I ask who I am with (.+)$")]
async fn ask_with(w: &mut GatewayWorld, how: String) {
    let token: Option<String> = if how == "no token" {
        None
    } else if let Some(raw) = how.strip_prefix("the token ") {
        Some(raw.trim_matches('"').to_owned())
    } else if how == "a token signed with another key" {
        let claims = AccessClaims {
            sub: UserId::generate(),
            handle: "x".into(),
            adm: true,
            sid: SessionId::generate(),
            iat: 0,
            exp: i64::MAX / 2,
        };
        Some(
            AccessTokens::new(b"some-other-key-some-other-key-1234", 60)
                .sign(&claims)
                .unwrap(),
        )
    } else if let Some(alias) = how.strip_prefix("an expired token of ") {
        let alias = alias.trim_matches('"');
        let real = w.token(alias).await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            iat: now - 120,
            exp: now - 60,
            ..claims_of(&real)
        };
        Some(
            AccessTokens::new(w.deployment().secrets.jwt_secret.as_bytes(), 60)
                .sign(&claims)
                .unwrap(),
        )
    } else {
        panic!("unknown token kind: {how}");
    };
    w.last = Some(w.api().get("/v1/users/me", token.as_deref()).await);
}

// ------------------------------------------------------------------ generic assertions

#[then(expr = "the response status is {int}")]
async fn status_is(w: &mut GatewayWorld, status: u16) {
    assert_eq!(w.reply().status, status, "body: {}", w.reply().body);
}

#[then(expr = "the error code is {string}")]
async fn error_code_is(w: &mut GatewayWorld, code: String) {
    assert_eq!(
        w.reply().error_code(),
        Some(code.as_str()),
        "body: {}",
        w.reply().body
    );
}

#[then("the error has a message and a request id")]
async fn error_has_message(w: &mut GatewayWorld) {
    let error = &w.reply().body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    assert!(
        error["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
}

#[then(regex = r#"^the response field "([^"]+)" is ("(?:[^"\\]|\\.)*"|true|false|-?\d+)$"#)]
async fn field_is(w: &mut GatewayWorld, field: String, expected: String) {
    let expected: Value =
        if let Some(text) = expected.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
            Value::String(unescape(text))
        } else {
            serde_json::from_str(&expected).expect("a JSON literal")
        };
    assert_eq!(w.reply().body[&field], expected, "body: {}", w.reply().body);
}

#[then(regex = r#"^the response field "([^"]+)" is (\w+)'s handle$"#)]
async fn field_is_handle(w: &mut GatewayWorld, field: String, alias: String) {
    assert_eq!(
        w.reply().body[&field].as_str(),
        Some(w.users[&alias].handle.as_str())
    );
}

#[then(expr = "the response has no field {string}")]
async fn no_field(w: &mut GatewayWorld, field: String) {
    assert!(
        w.reply().body.get(&field).is_none(),
        "body: {}",
        w.reply().body
    );
}

#[then("the response has an access token and a refresh token")]
async fn has_tokens(w: &mut GatewayWorld) {
    let body = &w.reply().body;
    assert_eq!(
        body["access_token"].as_str().map(|t| t.split('.').count()),
        Some(3),
        "{body}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rt_")),
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
}

#[then(regex = r"^the response has an? ([A-Za-z-]+) header$")]
async fn has_header(w: &mut GatewayWorld, header: String) {
    assert!(
        w.reply().headers.contains_key(header.as_str()),
        "headers: {:?}",
        w.reply().headers
    );
}

#[then("I remember the response")]
async fn remember(w: &mut GatewayWorld) {
    w.remembered = w.last.clone();
}

#[then("the response is the same error as the one I remembered")]
async fn same_error(w: &mut GatewayWorld) {
    let (a, b) = (w.remembered.as_ref().unwrap(), w.reply());
    assert_eq!(a.status, b.status);
    assert_eq!(a.body["error"]["code"], b.body["error"]["code"]);
    assert_eq!(a.body["error"]["message"], b.body["error"]["message"]);
}

#[when(expr = "I get {string}")]
async fn i_get(w: &mut GatewayWorld, path: String) {
    w.last = Some(w.api().get(&path, None).await);
}

#[when(expr = "{string} gets {string}")]
async fn user_gets(w: &mut GatewayWorld, alias: String, path: String) {
    let path = w.path(&path);
    w.as_user(&alias, Method::GET, &path, None).await;
}

#[when(expr = "{string} sends DELETE to {string}")]
async fn user_deletes(w: &mut GatewayWorld, alias: String, path: String) {
    w.as_user(&alias, Method::DELETE, &path, None).await;
}

#[when(regex = r#"^"(\w+)" posts to "([^"]+)" the body (.+)$"#)]
async fn posts_body(w: &mut GatewayWorld, alias: String, path: String, body: String) {
    let path = w.path(&path);
    // "nobody" sends no token.
    let token = match alias.as_str() {
        "nobody" => None,
        _ => Some(w.token(&alias).await),
    };
    w.last = Some(
        w.api()
            .send(
                Method::POST,
                &path,
                token.as_deref(),
                Some(body.into_bytes()),
            )
            .await,
    );
}

#[when(regex = r#"^"(\w+)" patches "([^"]+)" with the body (.+)$"#)]
async fn patches_body(w: &mut GatewayWorld, alias: String, path: String, body: String) {
    let token = w.token(&alias).await;
    w.last = Some(
        w.api()
            .send(Method::PATCH, &path, Some(&token), Some(body.into_bytes()))
            .await,
    );
}

#[then(expr = "the response body does not contain {string}")]
async fn body_lacks(w: &mut GatewayWorld, text: String) {
    let body = w.reply().body.to_string();
    assert!(!body.contains(&text), "{body}");
}

#[when(expr = "{string} posts to {string} a body of {int} bytes")]
async fn posts_size(w: &mut GatewayWorld, alias: String, path: String, size: usize) {
    let frame = r#"{"prompt": ""}"#.len();
    let body = format!(r#"{{"prompt": "{}"}}"#, "x".repeat(size - frame));
    assert_eq!(body.len(), size);
    let token = w.token(&alias).await;
    w.last = Some(
        w.api()
            .send(Method::POST, &path, Some(&token), Some(body.into_bytes()))
            .await,
    );
}

// ------------------------------------------------------------------ tasks

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

// ------------------------------------------------------------------ nodes

#[given("a fresh deployment")]
async fn fresh(w: &mut GatewayWorld) {
    let deployment = tokio::task::spawn_blocking(|| {
        Deployment::start("gateway-fresh", DeploymentOptions::default())
    })
    .await
    .unwrap()
    .expect("a fresh deployment");
    w.fresh = Some(Own(Arc::new(deployment)));
}

#[when("a test node registers with the right pre-shared key")]
async fn registers(w: &mut GatewayWorld) {
    let psk = w.deployment().secrets.node_psk.clone();
    let reply = w.register_node(&psk).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[when(expr = "a test node registers with the pre-shared key {string}")]
async fn registers_with(w: &mut GatewayWorld, psk: String) {
    w.register_node(&psk).await;
}

#[when("the test node acknowledges its configuration")]
async fn acknowledges(w: &mut GatewayWorld) {
    let node = w.node.clone().unwrap();
    let body = json!({"config_version": node.config_version, "applied": true}).to_string();
    let reply = w
        .signed(
            Method::POST,
            "/v1/nodes/config/ack",
            body.as_bytes(),
            &node.key,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[given(expr = "the test node reports the model {string}")]
#[when(expr = "the test node reports the model {string}")]
async fn reports_model(w: &mut GatewayWorld, model: String) {
    let node = w.node.clone().unwrap();
    let body = json!({"agent_version": "test", "cpus": 1, "memory_mb": 512,
        "inference": {"endpoint": "http://127.0.0.1:11434", "reachable": true, "models": [model]}})
    .to_string();
    let reply = w
        .signed(
            Method::POST,
            "/v1/nodes/capabilities",
            body.as_bytes(),
            &node.key,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[when("the task's job message is dead-lettered")]
async fn dead_letter(w: &mut GatewayWorld) {
    w.job = None;
    let (task, job) = w.job_of_current_task().await;
    let message = json!({
        "v": 1, "task_id": task, "job_id": job, "attempt": 1, "lease_secs": 30,
        "enqueued_at": "2026-11-22T10:00:00Z"
    });
    env()
        .sqs
        .send_message()
        .queue_url(w.deployment().stack.resource("CYNODE_JOBS_DLQ_URL"))
        .message_body(message.to_string())
        .send()
        .await
        .expect("SQS send to the dead-letter queue");
}

#[when(
    regex = r"^an admin (lists the dead letters|runs the recovery sweep|redrives the dead letters)$"
)]
async fn admin_recovery(w: &mut GatewayWorld, what: String) {
    let token = env().admin_token.clone();
    let reply = match what.as_str() {
        "lists the dead letters" => w.api().get("/v1/admin/dead-letters", Some(&token)).await,
        "runs the recovery sweep" => {
            w.api()
                .post("/v1/admin/sweep", Some(&token), &json!({}))
                .await
        }
        _ => {
            w.api()
                .post("/v1/admin/dead-letters/redrive", Some(&token), &json!({}))
                .await
        }
    };
    assert_eq!(reply.status, 200, "{}", reply.body);
    w.last = Some(reply);
}

#[then("the dead letters include the task's job, queued")]
async fn dead_letters_include(w: &mut GatewayWorld) {
    let (_, job) = w.job.clone().expect("the current job");
    let letters = w.reply().body["dead_letters"]
        .as_array()
        .expect("a list")
        .clone();
    assert!(
        letters
            .iter()
            .any(|l| l["job_id"] == job.as_str() && l["job_status"] == "queued"),
        "{letters:?}"
    );
}

#[then(expr = "the task is queued again with reason {string}")]
async fn queued_with_reason(w: &mut GatewayWorld, reason: String) {
    let task = w.task().to_owned();
    let token = w.users["alice"].token.clone().expect("alice is logged in");
    let reply = w
        .api()
        .get(&format!("/v1/tasks/{task}/result"), Some(&token))
        .await;
    assert_eq!(reply.body["status"], "queued", "{}", reply.body);
    assert_eq!(
        reply.body["jobs"][0]["reason"],
        reason.as_str(),
        "{}",
        reply.body
    );
}

#[then("the task's job message is back on its queue at once")]
async fn back_on_queue(w: &mut GatewayWorld) {
    let task = w.task().to_owned();
    // The sweep's own requeue waits 30 s; the redriven message is there at once.
    for _ in 0..8 {
        let mut mailbox = MAILBOX.lock().await;
        if mailbox.remove(&task).is_some() {
            return;
        }
        receive_all(&mut mailbox, &w.deployment().stack).await;
    }
    panic!("the redriven message for {task} did not come back");
}

#[when(expr = "another machine registers the test node's name {word}")]
async fn registers_same_name(w: &mut GatewayWorld, how: String) {
    let node = w.node.clone().expect("a registered test node");
    let psk = w.deployment().secrets.node_psk.clone();
    let mut body = json!({"pre_shared_key": psk, "node_name": node.name, "capabilities": {"agent_version": "test", "cpus": 1, "memory_mb": 512}});
    match how.as_str() {
        "without-its-secret" => {}
        "with-its-secret" => body["node_secret"] = json!(node.secret),
        other => panic!("unknown way: {other}"),
    }
    w.last = Some(w.api().post("/v1/nodes/register", None, &body).await);
}

#[then("the test node's old key no longer signs")]
async fn old_key_dead(w: &mut GatewayWorld) {
    fetch_config(w, "signed with its key".into()).await;
    assert_eq!(w.reply().status, 401, "{}", w.reply().body);
    assert_eq!(w.reply().error_code(), Some("bad_signature"));
}

#[given("a registered test node")]
async fn registered_node(w: &mut GatewayWorld) {
    registers(w).await;
    acknowledges(w).await;
}

#[when(regex = r"^the test node fetches its configuration (.+)$")]
async fn fetch_config(w: &mut GatewayWorld, how: String) {
    let node = w.node.clone().unwrap();
    let path = "/v1/nodes/config";
    let url = format!("{}{path}", w.deployment().url);
    let send = |timestamp: i64, key: &str, nonce: &str| {
        let signature = signing::sign(
            key,
            &Signed {
                method: "GET",
                path,
                timestamp,
                nonce,
                body: b"",
            },
        );
        w.api()
            .http
            .get(&url)
            .header(HEADER_NODE, &node.id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce.to_owned())
            .header(HEADER_SIGNATURE, signature)
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = match how.as_str() {
        "without signing" => w.api().http.get(&url).send().await,
        "signed with the wrong key" => send(now, "0123456789", "n1").send().await,
        "signed 10 minutes ago" => send(now - 600, &node.key, "n1").send().await,
        "signed at the lowest i64 time" => send(i64::MIN, &node.key, "n1").send().await,
        "signed with its key" => send(now, &node.key, &unique_handle("n")).send().await,
        "twice with the same signature" => {
            let first = send(now, &node.key, "same-nonce")
                .send()
                .await
                .expect("first");
            assert_eq!(first.status().as_u16(), 200, "the first request is fine");
            send(now, &node.key, "same-nonce").send().await
        }
        other => panic!("unknown way: {other}"),
    };
    w.last = Some(to_reply(response.expect("gateway answers")).await);
}

#[when("the test node claims the task's job")]
async fn claims(w: &mut GatewayWorld) {
    let boot = w.node.as_ref().unwrap().boot.clone();
    w.claim(&boot).await;
}

#[when("the test node restarts and claims the task's job again")]
async fn claims_after_restart(w: &mut GatewayWorld) {
    let boot = unique_handle("boot");
    w.node.as_mut().unwrap().boot = boot.clone();
    w.claim(&boot).await;
}

#[when("the test node claims the task's job again without restarting")]
async fn claims_again(w: &mut GatewayWorld) {
    claims(w).await;
}

#[then(expr = "the claim is attempt {int}")]
async fn claim_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = w.claims.last().unwrap();
    assert_eq!(claim["decision"], "run", "{claim}");
    assert_eq!(claim["attempt"], attempt, "{claim}");
}

#[then(expr = "the claim decision is {string}")]
async fn claim_decision(w: &mut GatewayWorld, decision: String) {
    assert_eq!(w.claims.last().unwrap()["decision"], decision.as_str());
}

#[when(expr = "the test node reports the job completed with stdout {string} and stderr {string}")]
async fn reports(w: &mut GatewayWorld, stdout: String, stderr: String) {
    let claim = w
        .claims
        .iter()
        .rev()
        .find(|c| c["decision"] == "run")
        .cloned()
        .expect("a run claim");
    w.report(&claim, &unescape(&stdout), &unescape(&stderr))
        .await;
}

#[when(expr = "the test node reports attempt {int} of the job completed")]
async fn reports_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = w.claim_of_attempt(attempt);
    w.report(&claim, "first\n", "").await;
}

// ------------------------------------------------------------------ chat

#[when(expr = "{string} starts a streamed completion with the model {string}")]
async fn starts_stream(w: &mut GatewayWorld, alias: String, model: String) {
    let token = w.token(&alias).await;
    let url = format!("{}/v1/chat/completions", w.deployment().url);
    let body = json!({"model": model, "stream": true,
        "messages": [{"role": "user", "content": "Say hello."}]});
    let response = w
        .api()
        .http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let task = response.headers()["x-cynode-task-id"]
        .to_str()
        .unwrap()
        .to_owned();
    w.tasks.push(task);
    let reading = tokio::spawn(async move {
        (response.text().await).unwrap_or_else(|err| format!("(the stream broke off: {err})"))
    });
    w.stream = Some(reading);
}

async fn send_chunk(w: &mut GatewayWorld, claim: &Value, seq: u32, text: &str) -> Reply {
    let (task, job) = w.job.clone().expect("a claimed job");
    let body = json!({"task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"],
        "seq": seq, "text": text})
    .to_string();
    let token = claim["job_token"].as_str().expect("job token").to_owned();
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/chunks"),
        body.as_bytes(),
        &token,
    )
    .await
}

#[when(expr = "the test node streams the chunks {string}, {string} and {string}")]
async fn streams_chunks(w: &mut GatewayWorld, a: String, b: String, c: String) {
    let claim = w.claims.last().cloned().expect("a claim");
    for (seq, text) in [a, b, c].iter().enumerate() {
        let reply = send_chunk(w, &claim, seq as u32, text).await;
        assert_eq!(reply.status, 204, "{}", reply.body);
        // Give the reader a chance to relay each chunk on its own.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[when(expr = "the test node sends the chunk {string} again as chunk {int}")]
async fn chunk_again(w: &mut GatewayWorld, text: String, seq: u32) {
    let claim = w.claims.last().cloned().expect("a claim");
    let reply = send_chunk(w, &claim, seq, &text).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// The current claim (lease and token) writing under another attempt's number.
fn current_claim_as_attempt(w: &GatewayWorld, attempt: u64) -> Value {
    let mut claim = w.claims.last().cloned().expect("a claim");
    claim["attempt"] = json!(attempt);
    claim
}

#[when(expr = "the test node streams a chunk naming attempt {int} under its current claim")]
async fn chunk_naming_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = current_claim_as_attempt(w, attempt);
    send_chunk(w, &claim, 7, "overwrite").await;
}

#[when(
    expr = "the test node asks to upload raw output naming attempt {int} under its current claim"
)]
async fn upload_naming_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = current_claim_as_attempt(w, attempt);
    let (task, job) = w.job.clone().expect("a claimed job");
    let body = json!({"task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"],
        "stream": "stdout", "size": 5})
    .to_string();
    let token = claim["job_token"].as_str().expect("job token").to_owned();
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/output"),
        body.as_bytes(),
        &token,
    )
    .await;
}

#[when(expr = "the test node streams a chunk under attempt {int}")]
async fn chunk_of_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = w.claim_of_attempt(attempt);
    send_chunk(w, &claim, 0, "stale").await;
}

#[then(
    expr = "the stream carries {string} in {int} deltas, then the finish reason {string} and [DONE]"
)]
async fn stream_carries(w: &mut GatewayWorld, text: String, deltas: usize, finish: String) {
    let reading = w.stream.take().expect("a stream");
    let body = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the stream ends")
        .unwrap();
    let events: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{body}");
    let parsed: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("a JSON event"))
        .collect();
    let texts: Vec<&str> = parsed
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(texts.concat(), text, "{body}");
    assert_eq!(texts.len(), deltas, "{body}");
    assert_eq!(
        parsed[0]["choices"][0]["delta"]["role"], "assistant",
        "{body}"
    );
    assert!(
        parsed
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == finish.as_str()),
        "{body}"
    );
    assert!(
        parsed
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk"),
        "{body}"
    );
}

#[then(expr = "the model list holds {string} and {string}")]
async fn model_list(w: &mut GatewayWorld, a: String, b: String) {
    let ids: Vec<&str> = w.reply().body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&a.as_str()) && ids.contains(&b.as_str()),
        "{ids:?}"
    );
}

#[then(expr = "the OpenAI error has type {string} and code {string}")]
async fn openai_error(w: &mut GatewayWorld, kind: String, code: String) {
    let error = &w.reply().body["error"];
    assert_eq!(error["type"], kind.as_str(), "{}", w.reply().body);
    assert_eq!(error["code"], code.as_str(), "{}", w.reply().body);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error.get("param").is_some(), "{}", w.reply().body);
}

#[when("the test node sends a heartbeat")]
async fn heartbeat(w: &mut GatewayWorld) {
    let claim = w.claims.last().cloned().unwrap();
    let (task, job) = w.job.clone().unwrap();
    let body = json!({"task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"]})
        .to_string();
    let token = claim["job_token"].as_str().unwrap().to_owned();
    let reply = w
        .signed(
            Method::POST,
            &format!("/v1/jobs/{job}/heartbeat"),
            body.as_bytes(),
            &token,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[when(expr = "the test node posts a result of {int} bytes")]
async fn posts_big_result(w: &mut GatewayWorld, size: usize) {
    let claim = w.claims.last().cloned().unwrap();
    let (_, job) = w.job.clone().unwrap();
    let token = claim["job_token"].as_str().unwrap().to_owned();
    let body = vec![b' '; size];
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/result"),
        &body,
        &token,
    )
    .await;
}

#[then(expr = "the claim offers the attachment {string} with content {string}")]
async fn claim_offers(w: &mut GatewayWorld, name: String, content: String) {
    let claim = w.claims.last().unwrap().clone();
    let attachment = &claim["spec"]["attachments"][0];
    assert_eq!(attachment["name"].as_str(), Some(name.as_str()), "{claim}");
    let url = attachment["url"].as_str().unwrap();
    let body = w
        .api()
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, unescape(&content));
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let deployment = Deployment::start(
        "gateway-features",
        DeploymentOptions {
            gateway_env: vec![
                ("CYNODE_LOGIN_MAX_FAILURES".into(), "3".into()),
                // Sweeps run when a scenario asks (`POST /v1/admin/sweep`), not on a timer.
                ("CYNODE_SWEEP_INTERVAL_SECS".into(), "86400".into()),
                // The spray scenario sends from several addresses through this header.
                ("CYNODE_TRUST_FORWARDED_FOR".into(), "1".into()),
            ],
            ..DeploymentOptions::default()
        },
    )
    .unwrap_or_else(|err| panic!("cannot start the test deployment: {err:#}"));
    let prepared = runtime.block_on(async {
        cynode_testkit::use_aws_env();
        let admin_token = deployment.admin_token().await;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Env {
            deployment,
            admin_token,
            sqs: aws_sdk_sqs::Client::new(&aws),
        }
    });
    let _ = ENV.set(prepared);
    let features = cynode_testkit::repo_root().join("features/gateway");
    let failed = runtime.block_on(async {
        GatewayWorld::cucumber()
            .max_concurrent_scenarios(4)
            .fail_on_skipped()
            .with_default_cli()
            // limits.feature runs on a deployment with small quotas (limits_features.rs).
            .filter_run(features, |feature, _, _| {
                !feature
                    .path
                    .as_ref()
                    .is_some_and(|path| path.ends_with("limits.feature"))
            })
            .await
            .execution_has_failed()
    });
    cynode_testkit::finish_features(failed, &env().deployment);
}

// ------------------------------------------------------------------ planned work

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
    async fn queued_run(&mut self, role: &str, subtask: Option<u64>) -> String {
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
