//! The gateway's features (`features/gateway/*.feature`), against the real local stack:
//! a fresh CloudFormation stack on LocalStack and the `cynode-gateway` binary. Where a
//! scenario needs an edge node, the test plays one over the real protocol: it takes the
//! job off the real SQS queue and sends signed callbacks.
//!
//! This file holds the world, the deployment all scenarios share, and `main`; the steps
//! are in one module a feature.

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

mod api_keys;
mod assertions;
mod audit;
mod auth;
mod chat;
mod console;
mod credentials;
mod hosted;
mod logs;
mod nodes;
mod planning;
mod preferences;
mod tasks;
mod users;

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
    /// API keys created in this scenario, by name.
    api_keys: HashMap<String, api_keys::TestKey>,
    /// Access tokens of sign-ins besides each user's own, by name.
    sessions: HashMap<String, String>,
    /// A handle a scenario created, as sent and as the gateway should store it.
    created_handle: Option<(String, String)>,
    /// Where the scenario's reader of the live log is (`logs.feature`).
    log_cursor: String,
    /// The events of the last live-log stream read: (id, event, data).
    sse: Vec<(Option<String>, String, String)>,
    /// The chat thread a streamed chat message went to.
    thread: Option<String>,
    /// The Anthropic contract server of the scenario (`hosted_models.feature`).
    anthropic: Option<Arc<cynode_testkit::anthropic::AnthropicContract>>,
    /// The body of the last console page fetched (`console.feature`), or of the last
    /// hosted model's stream (`hosted_models.feature`).
    page: String,
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

    /// Moves the scenario onto a deployment of its own, whose gateway runs with
    /// `gateway_env`. Users made so far belong to the shared deployment: they are
    /// forgotten.
    async fn start_fresh(&mut self, gateway_env: Vec<(String, String)>) {
        let options = DeploymentOptions {
            gateway_env,
            ..DeploymentOptions::default()
        };
        let deployment =
            tokio::task::spawn_blocking(move || Deployment::start("gateway-fresh", options))
                .await
                .unwrap()
                .expect("a fresh deployment");
        self.fresh = Some(Own(Arc::new(deployment)));
        self.users.clear();
    }

    /// An access token of the admin of the scenario's deployment.
    async fn admin_token(&self) -> String {
        match &self.fresh {
            Some(own) => own.0.admin_token().await,
            None => env().admin_token.clone(),
        }
    }

    async fn user(&mut self, alias: &str) -> TestUser {
        if !self.users.contains_key(alias) {
            let handle = unique_handle(alias);
            let password = format!("{alias}-password-1");
            let admin = self.admin_token().await;
            let reply = self
                .api()
                .post(
                    "/v1/users",
                    Some(&admin),
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
        let body = json!({"pre_shared_key": psk, "node_name": name, "capabilities": {"agent_version": "test", "cpus": 1, "memory_mb": 512, "hosted_models": true}});
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
