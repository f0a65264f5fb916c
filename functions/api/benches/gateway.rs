//! p50/p99 of `POST /v1/tasks` and `GET /v1/tasks/{id}` through the local gateway
//! against LocalStack, next to the DynamoDB/SQS calls those handlers make, measured in
//! the same run on the same stack:
//!
//! - create = session and user lookup (two GetItems at once) + the unfinished-task quota (a COUNT Query on
//!   the queued and the running partition of the owner's index, at once) + SendMessage +
//!   TransactWriteItems (task + job)
//! - get    = session and user lookup (two GetItems at once) + GetItem (task)
//!
//! Both sides are a user without a backlog: each task is canceled after its timed create
//! (untimed), so the quota's count reads what it would for a user who waits for results,
//! and no run meets the quota itself (100 unfinished tasks by default).
//!
//! Needs LocalStack (`localstack/up --no-provision`). `cargo bench -p cynode-api --bench gateway`
//! (`-- 200` for another request count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cynode_aws::{Adapters, Clients, Resources};
use cynode_domain::ids::{JobId, SessionId, TaskId, UserId};
use cynode_domain::job::Job;
use cynode_domain::ports::{JobQueue, SessionStore, TaskStore, UserStore, Write};
use cynode_domain::status::TaskStatus;
use cynode_domain::task::{StoredInput, Task, TaskInput};
use cynode_testkit::{summarize, Api, Deployment, DeploymentOptions};
use serde_json::json;

/// What every request's authentication reads: the session and its user, at once.
async fn who_is_calling(adapters: &Adapters, session: &SessionId, user: &UserId) {
    let (session, user) = tokio::join!(
        adapters.sessions.session(session),
        adapters.users.user_by_id(user)
    );
    session.unwrap();
    user.unwrap();
}

fn new_task(owner: &UserId) -> (Task, Job) {
    let now = time::OffsetDateTime::now_utc();
    let input = TaskInput::Commands {
        commands: vec!["true".into()],
    };
    let task = Task {
        id: TaskId::generate(),
        owner: owner.clone(),
        name: None,
        mode: input.mode(),
        prompt_preview: input.preview(),
        input: StoredInput::Inline(input),
        attachments: vec![],
        timeout_secs: None,
        model: None,
        idempotency_key: None,
        project_id: None,
        image: None,
        plan: None,
        routing: None,
        status: TaskStatus::Queued,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let job = Job::queued(JobId::generate(), &task, now);
    (task, job)
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let deployment = Deployment::start("bench-gateway", DeploymentOptions::default())
        .unwrap_or_else(|err| {
            panic!("cannot start the bench deployment (is LocalStack running?): {err:#}")
        });
    cynode_testkit::use_aws_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api = Api::new(&deployment.url);
        let (token, _) = api
            .login("admin", &deployment.secrets.admin_password)
            .await
            .expect("admin login");
        let body = json!({"commands": ["true"]});

        // Warm up connections and the gateway's first-request paths.
        for _ in 0..10 {
            api.post("/v1/tasks", Some(&token), &body).await;
        }

        // The same storage calls, straight through the adapters (thin SDK wrappers).
        let stack = &deployment.stack;
        let clients = Clients::from_env().await;
        let adapters = Adapters::new(
            &clients,
            &Resources::from_settings(|name| stack.get(name)).expect("stack outputs"),
        );
        let tasks = Arc::new(adapters.tasks.clone());
        let owner = UserId::generate();
        let session = SessionId::generate();

        // The two sides take turns, so that each meets the same tables (LocalStack's
        // queries slow down as a table grows).
        let mut create = Vec::with_capacity(count);
        let mut ids = Vec::with_capacity(count);
        let mut raw_create = Vec::with_capacity(count);
        let mut raw_ids = Vec::with_capacity(count);
        for _ in 0..count {
            let started = Instant::now();
            let reply = api.post("/v1/tasks", Some(&token), &body).await;
            create.push(started.elapsed());
            assert_eq!(reply.status, 201, "{}", reply.body);
            let id = reply.body["task_id"].as_str().unwrap().to_owned();
            let canceled = api
                .post(&format!("/v1/tasks/{id}/cancel"), Some(&token), &json!({}))
                .await;
            assert!(canceled.status < 300, "{}", canceled.body);
            ids.push(id);

            let (task, job) = new_task(&owner);
            let message = cynode_domain::job::message_for(&task, &job, 60, task.created_at);
            let started = Instant::now();
            who_is_calling(&adapters, &session, &owner).await;
            tasks
                .count_tasks(&owner, &[TaskStatus::Queued, TaskStatus::Running], 100)
                .await
                .unwrap();
            adapters.queue.enqueue(&message).await.unwrap();
            tasks
                .insert_task(&task, std::slice::from_ref(&job))
                .await
                .unwrap();
            raw_create.push(started.elapsed());
            let canceled = task.with_status(TaskStatus::Canceled, task.created_at);
            tasks.commit(&[Write::Task(&canceled)]).await.unwrap();
            raw_ids.push(task.id);
        }
        let mut get = Vec::with_capacity(count);
        let mut raw_get = Vec::with_capacity(count);
        for (id, raw_id) in ids.iter().zip(&raw_ids) {
            let started = Instant::now();
            let reply = api.get(&format!("/v1/tasks/{id}"), Some(&token)).await;
            get.push(started.elapsed());
            assert_eq!(reply.status, 200);
            let started = Instant::now();
            who_is_calling(&adapters, &session, &owner).await;
            tasks.task(raw_id).await.unwrap().unwrap();
            raw_get.push(started.elapsed());
        }

        println!("\n{count} requests each, sequential, one client, LocalStack on this machine:\n");
        let http_create = summarize("POST /v1/tasks (HTTP, local gateway)", create);
        let sdk_create = summarize(
            "  SDK: 2 GetItems at once + 2 COUNT Queries + SendMessage + TransactWrite",
            raw_create,
        );
        let http_get = summarize("GET /v1/tasks/{id} (HTTP, local gateway)", get);
        let sdk_get = summarize("  SDK: 2 GetItems at once + GetItem", raw_get);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "\ngateway overhead at p50: create {:+.2} ms ({:.2}x), get {:+.2} ms ({:.2}x)",
            ms(http_create) - ms(sdk_create),
            ms(http_create) / ms(sdk_create),
            ms(http_get) - ms(sdk_get),
            ms(http_get) / ms(sdk_get)
        );
    });
    deployment.shutdown();
}
