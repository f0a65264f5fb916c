//! The DynamoDB, SQS and S3 adapters against the real LocalStack: uniqueness and
//! conditional writes, racing writers, paging past DynamoDB's 1 MB page, duplicate SQS
//! deliveries handled by the claim rules, presigned uploads, streamed chunks and chat
//! threads.

use std::sync::Arc;

use cynode_aws::{Adapters, Clients, Resources};
use cynode_domain::api_key::ApiKey;
use cynode_domain::chat::Thread;
use cynode_domain::clock::SystemClock;
use cynode_domain::ids::{NodeId, SessionId, TaskId, UserId};
use cynode_domain::job::Job;
use cynode_domain::ports::{
    AnswerProgress, ApiKeyStore, BlobStore, Chunk, NodeStore, SessionStore, StreamStore,
    TaskFilter, TaskStore, ThreadStore, UsageStore, UserStore, Write,
};
use cynode_domain::principal::Credential;
use cynode_domain::service::{JobService, JobSettings, Principal, TaskService, TaskSettings};
use cynode_domain::session::{RefreshState, RefreshToken, Session};
use cynode_domain::signing::NodeKeys;
use cynode_domain::status::{JobStatus, TaskStatus};
use cynode_domain::task::{StoredInput, Task, TaskInput};
use cynode_domain::usage::UsageEntry;
use cynode_domain::user::{User, UserUpdate};
use cynode_domain::wire::{AnswerEnd, ApiKeyScope, CreateApiKeyRequest, InferenceUsage, NodeState};
use cynode_domain::wire::{
    ClaimDecision, CreateTaskRequest, InputMode, JobMessage, JobStartedRequest,
};
use cynode_domain::StoreError;
use cynode_testkit::Stack;

fn resources(stack: &Stack) -> Resources {
    Resources::from_settings(|name| stack.get(name)).expect("stack outputs")
}

async fn adapters() -> (Adapters, Clients, &'static Stack) {
    let stack = Stack::shared();
    cynode_testkit::use_aws_env();
    let clients = Clients::from_env().await;
    (Adapters::new(&clients, &resources(stack)), clients, stack)
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn user(handle: &str) -> User {
    User::new(handle.into(), "$argon2id$stub".into(), false, now())
}

fn task(owner: &UserId, name: Option<&str>, input: TaskInput) -> Task {
    Task {
        id: TaskId::generate(),
        owner: owner.clone(),
        name: name.map(str::to_owned),
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
        created_at: now(),
        updated_at: now(),
        version: 1,
    }
}

fn commands(text: &str) -> TaskInput {
    TaskInput::Commands {
        commands: vec![text.to_owned()],
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        TaskId::generate().as_str()[5..].to_ascii_lowercase()
    )
}

#[tokio::test]
async fn handles_are_unique_and_users_round_trip() {
    let (a, _, _) = adapters().await;
    let handle = unique("alice");
    let alice = user(&handle);
    a.users.insert_user(&alice).await.unwrap();
    let again = a.users.insert_user(&user(&handle)).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(
        a.users.user_by_handle(&handle).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(a.users.user_by_id(&alice.id).await.unwrap(), Some(alice));
    assert_eq!(a.users.user_by_handle("nobody-here").await.unwrap(), None);
}

#[tokio::test]
async fn users_are_listed_changed_and_never_left_without_an_admin() {
    let (a, _, _) = adapters().await;
    let admin = |handle: &str| User {
        is_admin: true,
        ..user(&unique(handle))
    };
    let (first, second, carol) = (admin("first"), admin("second"), user(&unique("carol")));
    for one in [&first, &second, &carol] {
        a.users.insert_user(one).await.unwrap();
    }
    let listed = a.users.users().await.unwrap();
    for one in [&first, &second, &carol] {
        assert!(listed.contains(one), "{} is listed", one.handle);
    }

    let change = UserUpdate {
        disabled_at: Some(Some(now())),
        password: Some(("$argon2id$new".into(), now())),
        ..UserUpdate::default()
    };
    a.users.update_user(&carol.id, &change, None).await.unwrap();
    let stored = a.users.user_by_id(&carol.id).await.unwrap().unwrap();
    assert_eq!(stored, change.applied_to(&carol));
    let enable = UserUpdate {
        disabled_at: Some(None),
        is_admin: Some(true),
        ..UserUpdate::default()
    };
    a.users.update_user(&carol.id, &enable, None).await.unwrap();
    let stored = a.users.user_by_id(&carol.id).await.unwrap().unwrap();
    assert_eq!((stored.disabled_at, stored.is_admin), (None, true));

    // Two admins dropping each other at once, each counting on the other: one wins.
    let drop_admin = UserUpdate {
        is_admin: Some(false),
        ..UserUpdate::default()
    };
    let (one, two) = tokio::join!(
        a.users
            .update_user(&first.id, &drop_admin, Some(&second.id)),
        a.users
            .update_user(&second.id, &drop_admin, Some(&first.id)),
    );
    assert!(
        one.is_ok() != two.is_ok(),
        "exactly one wins: {one:?} {two:?}"
    );
    let mut admins = 0;
    for one in [&first, &second] {
        admins += a.users.user_by_id(&one.id).await.unwrap().unwrap().is_admin as usize;
    }
    assert_eq!(admins, 1);

    let gone = a
        .users
        .update_user(&UserId::generate(), &drop_admin, None)
        .await
        .unwrap_err();
    assert!(matches!(gone, StoreError::Conflict(_)), "{gone:?}");
}

#[tokio::test]
async fn login_failures_count_within_a_window_and_restart_after_it() {
    let (a, _, _) = adapters().await;
    let handle = unique("throttled");
    let t0 = now();
    let window = t0 + time::Duration::minutes(15);
    assert_eq!(
        a.users
            .record_login_failure(&handle, t0, window)
            .await
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        a.users
            .record_login_failure(&handle, t0, window)
            .await
            .unwrap()
            .count,
        2
    );
    // After the window ends the count starts over.
    let later = window + time::Duration::seconds(1);
    let fresh = a
        .users
        .record_login_failure(&handle, later, later + time::Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(fresh.count, 1);
    a.users.clear_login_failures(&handle).await.unwrap();
    assert_eq!(a.users.login_failures(&handle).await.unwrap(), None);
}

#[tokio::test]
async fn a_refresh_token_rotates_exactly_once() {
    let (a, _, _) = adapters().await;
    let session = Session {
        id: SessionId::generate(),
        user_id: UserId::generate(),
        created_at: now(),
        expires_at: now() + time::Duration::days(1),
        revoked_at: None,
    };
    let token = |hash: &str| RefreshToken {
        hash: hash.into(),
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        state: RefreshState::Active,
        expires_at: session.expires_at,
    };
    let first = unique("hash");
    a.sessions
        .insert_session(&session, &token(&first))
        .await
        .unwrap();
    a.sessions
        .rotate_refresh_token(&first, &token(&unique("hash")))
        .await
        .unwrap();
    // A second rotation of the same token (a replay, or a racing refresh) loses.
    let replay = a
        .sessions
        .rotate_refresh_token(&first, &token(&unique("hash")))
        .await
        .unwrap_err();
    assert!(matches!(replay, StoreError::Conflict(_)), "{replay:?}");
    assert_eq!(
        a.sessions
            .refresh_token(&first)
            .await
            .unwrap()
            .unwrap()
            .state,
        RefreshState::Rotated
    );
    a.sessions.revoke_session(&session.id, now()).await.unwrap();
    assert!(a
        .sessions
        .session(&session.id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
}

#[tokio::test]
async fn api_keys_round_trip_list_per_user_and_revoke_once() {
    let (a, _, _) = adapters().await;
    let alice = UserId::generate();
    let request = |name: &str, days| CreateApiKeyRequest {
        name: name.into(),
        scope: ApiKeyScope::All,
        expires_in_days: days,
    };
    let (first, _) = ApiKey::create(&alice, &request("editor", Some(30)), now()).unwrap();
    let (second, _) = ApiKey::create(&alice, &request("web ui", None), now()).unwrap();
    let (bobs, _) = ApiKey::create(&UserId::generate(), &request("bob's", None), now()).unwrap();
    for key in [&first, &second, &bobs] {
        a.api_keys.insert_api_key(key).await.unwrap();
    }
    assert!(matches!(
        a.api_keys.insert_api_key(&first).await,
        Err(StoreError::Conflict(_))
    ));
    // Stored times keep whole seconds and below as RFC 3339 writes them.
    let read = a.api_keys.api_key(&first.id).await.unwrap().unwrap();
    assert_eq!(
        (read.hash.as_str(), read.scope, read.expires_at),
        (first.hash.as_str(), first.scope, first.expires_at)
    );
    let mut listed: Vec<_> = a
        .api_keys
        .api_keys_of(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    listed.sort();
    assert_eq!(listed, ["editor", "web ui"]);

    let used = now();
    a.api_keys.touch_api_key(&first.id, used).await.unwrap();
    let revoked = now() + time::Duration::seconds(5);
    a.api_keys.revoke_api_key(&first.id, revoked).await.unwrap();
    a.api_keys
        .revoke_api_key(&first.id, revoked + time::Duration::hours(1))
        .await
        .unwrap();
    let read = a.api_keys.api_key(&first.id).await.unwrap().unwrap();
    assert_eq!(
        read.last_used_at.map(|t| t.unix_timestamp()),
        Some(used.unix_timestamp())
    );
    assert_eq!(
        read.revoked_at.map(|t| t.unix_timestamp()),
        Some(revoked.unix_timestamp())
    );
    // Changing a key that does not exist creates nothing.
    let (ghost, _) = ApiKey::create(&alice, &request("ghost", None), now()).unwrap();
    a.api_keys.revoke_api_key(&ghost.id, now()).await.unwrap();
    assert_eq!(a.api_keys.api_key(&ghost.id).await.unwrap(), None);
}

#[tokio::test]
async fn usage_rows_add_up_inside_the_commit_and_read_back_by_day_range() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let entry = |day: &str, model: &str, prompt| UsageEntry {
        user: owner.clone(),
        day: day.into(),
        model: model.into(),
        usage: InferenceUsage {
            calls: 1,
            prompt_tokens: prompt,
            completion_tokens: 5,
            refused_calls: 0,
        },
        cost_micro_usd: 0,
    };
    let task = task(&owner, None, commands("true"));
    a.tasks.insert_task(&task, &[]).await.unwrap();
    let mut next = task.clone();
    next.version = 2;
    let first = entry("2026-12-05", "smollm2:135m", 10);
    a.tasks
        .commit(&[Write::Task(&next), Write::Usage(&first)])
        .await
        .unwrap();
    // A commit that loses its race adds nothing.
    let lost = a
        .tasks
        .commit(&[Write::Task(&next), Write::Usage(&first)])
        .await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))));
    for e in [
        entry("2026-12-05", "smollm2:135m", 20),
        entry("2026-12-05", "cynodeai.pm", 1),
        entry("2026-12-04", "smollm2:135m", 100),
        entry("2026-12-06", "smollm2:135m", 1000),
    ] {
        a.tasks.commit(&[Write::Usage(&e)]).await.unwrap();
    }
    let mut rows: Vec<_> = a
        .usage
        .usage(&owner, "2026-12-05", "2026-12-05")
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.day,
                r.model,
                r.calls,
                r.prompt_tokens,
                r.completion_tokens,
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("2026-12-05".to_owned(), "cynodeai.pm".to_owned(), 1, 1, 5),
            (
                "2026-12-05".to_owned(),
                "smollm2:135m".to_owned(),
                2,
                30,
                10
            ),
        ]
    );
    assert_eq!(
        a.usage
            .usage(&owner, "2026-12-04", "2026-12-06")
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(a
        .usage
        .usage(&UserId::generate(), "2026-12-04", "2026-12-06")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn hosted_model_calls_add_their_cost_and_count_their_minute() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let call = |cost| UsageEntry {
        user: owner.clone(),
        day: "2026-12-07".into(),
        model: "router/org/big".into(),
        usage: InferenceUsage {
            calls: 1,
            prompt_tokens: 100,
            completion_tokens: 50,
            refused_calls: 0,
        },
        cost_micro_usd: cost,
    };
    a.usage.add_usage(&call(200)).await.unwrap();
    a.usage.add_usage(&call(31)).await.unwrap();
    let rows = a
        .usage
        .usage(&owner, "2026-12-01", "2026-12-07")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].calls, rows[0].prompt_tokens, rows[0].cost_micro_usd),
        (2, 200, 231)
    );

    let expires = now() + time::Duration::hours(1);
    let minute = "2026-12-07T10:15";
    assert_eq!(a.usage.minute_tokens(&owner, minute).await.unwrap(), 0);
    for tokens in [150, 25] {
        a.usage
            .add_minute_tokens(&owner, minute, tokens, expires)
            .await
            .unwrap();
    }
    assert_eq!(a.usage.minute_tokens(&owner, minute).await.unwrap(), 175);
    assert_eq!(
        a.usage
            .minute_tokens(&owner, "2026-12-07T10:16")
            .await
            .unwrap(),
        0
    );
    // Minute counts are not usage rows.
    assert_eq!(
        a.usage
            .usage(&owner, "2026-12-07", "2026-12-07")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn task_names_are_unique_per_owner() {
    let (a, _, _) = adapters().await;
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let first = task(&alice, Some("build"), commands("true"));
    a.tasks.insert_task(&first, &[]).await.unwrap();
    let clash = a
        .tasks
        .insert_task(&task(&alice, Some("build"), commands("true")), &[])
        .await
        .unwrap_err();
    assert!(matches!(clash, StoreError::Conflict(_)), "{clash:?}");
    a.tasks
        .insert_task(&task(&bob, Some("build"), commands("true")), &[])
        .await
        .unwrap();
    assert_eq!(
        a.tasks
            .task_by_name(&alice, "build")
            .await
            .unwrap()
            .map(|t| t.id),
        Some(first.id)
    );
}

#[tokio::test]
async fn a_planned_tasks_plan_image_and_job_roles_round_trip() {
    use cynode_domain::plan::{parse_draft, JobRole, Plan};
    let (a, _, _) = adapters().await;
    let mut stored = task(&UserId::generate(), None, commands("true"));
    stored.image = Some("localhost/cynode-sandbox:alt".into());
    let mut plan = Plan::new(true);
    let draft = parse_draft(
        r#"{"subtasks":[{"title":"One","spec":"s","acceptance":"a","depends_on":[]},
                        {"title":"Two","spec":"s","acceptance":"a","depends_on":[1]}]}"#,
    )
    .unwrap();
    plan.accept(&stored.id, draft, now());
    stored.plan = Some(plan);
    let planner = Job::queued_as(
        cynode_domain::ids::JobId::generate(),
        &stored,
        JobRole::Plan,
        now(),
    );
    let worker = Job::queued_as(
        cynode_domain::ids::JobId::generate(),
        &stored,
        JobRole::Work { subtask: 2 },
        now(),
    );
    a.tasks
        .insert_task(&stored, &[planner.clone(), worker.clone()])
        .await
        .unwrap();
    assert_eq!(a.tasks.task(&stored.id).await.unwrap().unwrap(), stored);
    let mut jobs = a.tasks.jobs(&stored.id).await.unwrap();
    jobs.sort_by_key(|job| job.id.to_string());
    let mut expected = vec![planner, worker];
    expected.sort_by_key(|job| job.id.to_string());
    assert_eq!(jobs, expected);
}

#[tokio::test]
async fn conditional_writes_let_exactly_one_racing_writer_win() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let stored = task(&owner, None, commands("sleep 1"));
    let job = Job::queued(cynode_domain::ids::JobId::generate(), &stored, now());
    a.tasks
        .insert_task(&stored, std::slice::from_ref(&job))
        .await
        .unwrap();

    // Two writers read version 1 and both try to write version 2.
    let running = stored.with_status(TaskStatus::Running, now());
    let canceled = stored.with_status(TaskStatus::Canceled, now());
    let (first_write, second_write) = ([Write::Task(&running)], [Write::Task(&canceled)]);
    let (one, two) = tokio::join!(a.tasks.commit(&first_write), a.tasks.commit(&second_write));
    assert!(
        one.is_ok() != two.is_ok(),
        "exactly one must win: {one:?} {two:?}"
    );
    let loser = one.err().or(two.err()).unwrap();
    assert!(matches!(loser, StoreError::Conflict(_)), "{loser:?}");

    // A transaction with one stale item writes nothing at all.
    let current = a.tasks.task(&stored.id).await.unwrap().unwrap();
    let stale_task = current.with_status(TaskStatus::Failed, now());
    let mut stale_job = job.clone();
    stale_job.version = 5;
    let err = a
        .tasks
        .commit(&[Write::Task(&stale_task), Write::Job(&stale_job)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(a.tasks.task(&stored.id).await.unwrap().unwrap(), current);
}

#[tokio::test]
async fn listing_pages_by_owner_and_status_newest_first() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let mut created = Vec::new();
    for i in 0..25 {
        let mut t = task(&owner, None, commands(&format!("echo {i}")));
        if i % 5 == 0 {
            t.status = TaskStatus::Failed;
        }
        a.tasks.insert_task(&t, &[]).await.unwrap();
        created.push(t);
    }
    a.tasks
        .insert_task(&task(&UserId::generate(), None, commands("not mine")), &[])
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after: Option<TaskId> = None;
    let mut pages = 0;
    loop {
        let page = a
            .tasks
            .list_tasks(&owner, TaskFilter::default(), 10, after.as_ref())
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.tasks.iter().map(|t| t.id.clone()));
        match page.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let expected: Vec<TaskId> = created.iter().rev().map(|t| t.id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let failed = a
        .tasks
        .list_tasks(
            &owner,
            TaskFilter {
                status: Some(TaskStatus::Failed),
                project: None,
            },
            50,
            None,
        )
        .await
        .unwrap();
    let expected: Vec<TaskId> = created
        .iter()
        .rev()
        .filter(|t| t.status == TaskStatus::Failed)
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(
        failed
            .tasks
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(failed.last, None);

    // The quota's count: by status, no further than asked.
    assert_eq!(
        a.tasks
            .count_tasks(&owner, &[TaskStatus::Queued], 100)
            .await
            .unwrap(),
        20
    );
    assert_eq!(
        a.tasks
            .count_tasks(&owner, &[TaskStatus::Queued, TaskStatus::Failed], 7)
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        a.tasks
            .count_tasks(&owner, &[TaskStatus::Running], 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        a.tasks
            .count_tasks(&owner, &[TaskStatus::Queued, TaskStatus::Failed], 100)
            .await
            .unwrap(),
        25
    );
}

#[tokio::test]
async fn open_streams_are_leases_that_expire() {
    let (a, _, _) = adapters().await;
    let (owner, other) = (UserId::generate(), UserId::generate());
    let later = now() + time::Duration::seconds(60);
    a.streams.put_stream(&owner, "s1", later).await.unwrap();
    a.streams.put_stream(&owner, "s2", later).await.unwrap();
    a.streams
        .put_stream(&owner, "gone", now() - time::Duration::seconds(1))
        .await
        .unwrap();
    a.streams.put_stream(&other, "s1", later).await.unwrap();
    assert_eq!(a.streams.open_streams(&owner, now()).await.unwrap(), 2);
    // Renewing is putting again; closing removes.
    a.streams.put_stream(&owner, "s1", later).await.unwrap();
    a.streams.remove_stream(&owner, "s2").await.unwrap();
    assert_eq!(a.streams.open_streams(&owner, now()).await.unwrap(), 1);
    assert_eq!(
        a.streams
            .open_streams(&owner, later + time::Duration::seconds(1))
            .await
            .unwrap(),
        0,
        "expired leases do not count"
    );
    assert_eq!(a.streams.open_streams(&other, now()).await.unwrap(), 1);
}

/// DynamoDB (and moto) return at most 1 MB per query: a page of large items arrives in
/// several responses, and the adapter must keep reading until the page is full.
#[tokio::test]
async fn a_page_larger_than_one_dynamodb_response_is_complete() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let big = "x".repeat(40 * 1024);
    let mut created = Vec::new();
    for _ in 0..30 {
        let t = task(
            &owner,
            None,
            TaskInput::Prompt {
                prompt: big.clone(),
            },
        );
        a.tasks.insert_task(&t, &[]).await.unwrap();
        created.push(t.id);
    }
    // 30 items of ~45 KB each: ~1.3 MB, more than one DynamoDB response holds.
    let page = a
        .tasks
        .list_tasks(&owner, TaskFilter::default(), 30, None)
        .await
        .unwrap();
    assert_eq!(page.tasks.len(), 30);
    assert_eq!(page.last, None);
    created.reverse();
    assert_eq!(
        page.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        created
    );
    assert!(page.tasks.iter().all(|t| t.mode == InputMode::Prompt));
}

#[tokio::test]
async fn signatures_are_remembered_once() {
    let (a, _, _) = adapters().await;
    let signature = unique("v1=sig");
    let until = now() + time::Duration::minutes(10);
    assert!(a.nodes.remember_signature(&signature, until).await.unwrap());
    assert!(!a.nodes.remember_signature(&signature, until).await.unwrap());
}

#[tokio::test]
async fn configuration_versions_replace_only_the_version_read() {
    // Each test stack has one CONFIG item; use a private stack so this test owns it.
    let stack = Stack::provision(5).expect("a private stack");
    cynode_testkit::use_aws_env();
    let clients = Clients::from_env().await;
    let nodes = Adapters::new(&clients, &resources(&stack)).nodes;
    let first = cynode_domain::node::ConfigRecord {
        version: "01A".into(),
        fingerprint: "a".into(),
    };
    let second = cynode_domain::node::ConfigRecord {
        version: "01B".into(),
        fingerprint: "b".into(),
    };
    nodes.replace_config(None, &first).await.unwrap();
    assert!(matches!(
        nodes.replace_config(None, &second).await,
        Err(StoreError::Conflict(_))
    ));
    nodes.replace_config(Some(&first), &second).await.unwrap();
    assert!(matches!(
        nodes.replace_config(Some(&first), &second).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(nodes.current_config().await.unwrap(), Some(second));

    let node = cynode_domain::node::Node {
        id: NodeId::generate(),
        name: unique("gpu"),
        capabilities: Default::default(),
        registered_at: now(),
        updated_at: now(),
        acked_config_version: None,
        last_seen_at: now(),
        state: NodeState::Enabled,
        labels: vec![],
        identity: Default::default(),
    };
    nodes.insert_node(&node).await.unwrap();
    assert!(matches!(
        nodes.insert_node(&node).await,
        Err(StoreError::Conflict(_))
    ));
    nodes.record_ack(&node.id, "01B", now()).await.unwrap();
    assert_eq!(
        nodes.acked_nodes().await.unwrap(),
        vec![(node.id.clone(), "01B".to_owned())]
    );
    let stored = nodes.node_by_name(&node.name).await.unwrap().unwrap();
    assert_eq!(stored.acked_config_version.as_deref(), Some("01B"));

    // An operator's state and labels survive the node's own updates, which carry a
    // stale copy.
    nodes
        .set_node_state(&node.id, NodeState::Draining)
        .await
        .unwrap();
    let labels = vec!["gpu".to_owned(), "trusted".to_owned()];
    nodes.set_node_labels(&node.id, &labels).await.unwrap();
    let later = now() + time::Duration::seconds(90);
    nodes
        .update_node(&cynode_domain::node::Node {
            capabilities: cynode_domain::wire::CapabilityReport {
                cpus: 8,
                ..Default::default()
            },
            ..node.clone()
        })
        .await
        .unwrap();
    nodes.touch_node(&node.id, later).await.unwrap();
    let stored = nodes.node(&node.id).await.unwrap().unwrap();
    assert_eq!(stored.state, NodeState::Draining);
    assert_eq!(stored.labels, labels);
    assert_eq!(stored.capabilities.cpus, 8);
    assert_eq!(stored.acked_config_version.as_deref(), Some("01B"));
    assert_eq!(stored.last_seen_at.unix_timestamp(), later.unix_timestamp());
    assert!(matches!(
        nodes
            .set_node_state(&NodeId::generate(), NodeState::Disabled)
            .await,
        Err(StoreError::Conflict(_))
    ));
}

/// The sweep's two sources: the sparse index of unfinished jobs, paged by job id, and
/// the real dead-letter queue.
#[tokio::test]
async fn unfinished_jobs_and_dead_letters_are_found_for_the_sweep() {
    let (a, clients, stack) = adapters().await;
    let owner = UserId::generate();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let t = task(&owner, None, commands("true"));
        let job = Job::queued(cynode_domain::ids::JobId::generate(), &t, now());
        a.tasks
            .insert_task(&t, std::slice::from_ref(&job))
            .await
            .unwrap();
        ids.push((t, job));
    }
    let all_active = |page: u32| {
        let tasks = a.tasks.clone();
        async move {
            let (mut seen, mut after) = (Vec::new(), None::<String>);
            loop {
                let (jobs, next) = tasks.active_jobs(page, after.as_deref()).await.unwrap();
                seen.extend(jobs.into_iter().map(|job| job.id));
                match next {
                    Some(cursor) => after = Some(cursor),
                    None => return seen,
                }
            }
        }
    };
    let seen = all_active(2).await;
    for (_, job) in &ids {
        assert!(
            seen.contains(&job.id),
            "unfinished job {} is listed",
            job.id
        );
    }
    // A finished job leaves the index.
    let (t, job) = &ids[0];
    let mut done = job.clone();
    done.status = JobStatus::Completed;
    done.version += 1;
    a.tasks.commit(&[Write::Job(&done)]).await.unwrap();
    let seen = all_active(100).await;
    assert!(!seen.contains(&job.id), "task {} finished", t.id);
    assert!(seen.contains(&ids[1].1.id));

    use cynode_domain::ports::DeadLetters;
    let body = format!("dead-{}", unique("letter"));
    clients
        .sqs
        .send_message()
        .queue_url(stack.resource("CYNODE_JOBS_DLQ_URL"))
        .message_body(&body)
        .send()
        .await
        .unwrap();
    let mut found = None;
    for _ in 0..20 {
        let letters = a.queue.receive_dead(10, 30).await.unwrap();
        found = letters.into_iter().find(|letter| letter.body == body);
        if found.is_some() {
            break;
        }
    }
    let letter = found.expect("the dead letter is received");
    a.queue.delete_dead(&letter.receipt).await.unwrap();
}

/// SQS delivers at least once: the same job message arriving twice must not run the job
/// twice. The real queue, tables and claim rules decide.
#[tokio::test]
async fn duplicate_deliveries_of_a_job_are_claimed_once() {
    let (a, clients, stack) = adapters().await;
    let store = Arc::new(a.tasks.clone());
    let blobs = Arc::new(a.blobs.clone());
    let clock = Arc::new(SystemClock);
    let tasks = TaskService::new(
        store.clone(),
        Arc::new(a.queue.clone()),
        blobs.clone(),
        clock.clone(),
        TaskSettings::default(),
    );
    let jobs = JobService::new(
        store,
        blobs,
        clock,
        NodeKeys::new(b"k".to_vec()),
        JobSettings::default(),
    );
    let alice = Principal {
        user_id: UserId::generate(),
        handle: "alice".into(),
        is_admin: false,
        credential: Credential::Session(SessionId::generate()),
    };
    let view = tasks
        .create(
            &alice,
            CreateTaskRequest {
                commands: Some(vec!["echo hi".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Receive the job's message twice: once, then again after making it visible at once
    // (what a lost delete or an expired visibility timeout looks like to the node).
    let queue = &stack.resource("CYNODE_JOBS_QUEUE_URL");
    let mut deliveries = Vec::new();
    for _ in 0..40 {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in out.messages.unwrap_or_default() {
            let parsed: JobMessage = serde_json::from_str(message.body().unwrap()).unwrap();
            let receipt = message.receipt_handle().unwrap().to_owned();
            if parsed.task_id == view.task_id {
                deliveries.push(parsed);
            }
            clients
                .sqs
                .change_message_visibility()
                .queue_url(queue)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
        if deliveries.len() >= 2 {
            break;
        }
    }
    assert!(deliveries.len() >= 2, "the message was not redelivered");
    assert_eq!(
        deliveries[0], deliveries[1],
        "both deliveries carry the same job"
    );

    let node = NodeId::generate();
    let started = JobStartedRequest {
        task_id: view.task_id.clone(),
        boot_id: "boot".into(),
        receive_count: 1,
    };
    let first = jobs
        .started(&node, &deliveries[0].job_id, started.clone())
        .await
        .unwrap();
    let second = jobs
        .started(&node, &deliveries[1].job_id, started.clone())
        .await
        .unwrap();
    let ClaimDecision::Run(claim) = first else {
        panic!("the first delivery runs: {first:?}")
    };
    assert!(
        matches!(second, ClaimDecision::Retry { .. }),
        "the duplicate waits: {second:?}"
    );

    let report = cynode_domain::wire::JobResultReport {
        task_id: view.task_id.clone(),
        attempt: claim.attempt,
        lease_id: claim.lease_id.clone(),
        status: cynode_domain::status::JobOutcome::Completed,
        exit_code: Some(0),
        failed_command: None,
        error: None,
        stdout: "hi\n".into(),
        stderr: String::new(),
        truncated: Default::default(),
        raw: Default::default(),
        started_at: now(),
        ended_at: now(),
        usage: None,
        work: None,
        // What a chat's answer carries beyond its text is stored with the job's output.
        answer: Some(cynode_domain::wire::ChatAnswer {
            finish_reason: "tool_calls".into(),
            tool_calls: vec![cynode_domain::wire::ToolCall {
                id: "call_1".into(),
                kind: "function".into(),
                function: cynode_domain::wire::FunctionCall {
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
            }],
            logprobs: None,
        }),
        progress: None,
    };
    assert!(
        !jobs
            .result(&node, &deliveries[0].job_id, report.clone())
            .await
            .unwrap()
            .duplicate
    );
    assert!(
        jobs.result(&node, &deliveries[0].job_id, report)
            .await
            .unwrap()
            .duplicate
    );
    let third = jobs
        .started(&node, &deliveries[0].job_id, started)
        .await
        .unwrap();
    assert_eq!(
        third,
        ClaimDecision::Discard {
            status: JobStatus::Completed
        }
    );
    let result = tasks.result(&alice, view.task_id.as_str()).await.unwrap();
    assert_eq!(result.stdout.as_deref(), Some("hi\n"));
    let answer = result.answer.expect("the answer was stored");
    assert_eq!(answer.finish_reason, "tool_calls");
    assert_eq!(answer.tool_calls[0].function.name, "get_weather");
}

#[tokio::test]
async fn blobs_round_trip_and_presigned_uploads_land() {
    let (a, _, _) = adapters().await;
    let key = unique("blobs/test");
    assert_eq!(a.blobs.get(&key).await.unwrap(), None);
    assert_eq!(a.blobs.size(&key).await.unwrap(), None);
    a.blobs.put(&key, b"hello".to_vec()).await.unwrap();
    assert_eq!(
        a.blobs.get(&key).await.unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(a.blobs.size(&key).await.unwrap(), Some(5));

    let upload_key = unique("attachments/test");
    let url = a.blobs.upload_url(&upload_key, 3, 60).await.unwrap();
    let put = reqwest::Client::new()
        .put(&url)
        .body("abc")
        .send()
        .await
        .unwrap();
    assert!(
        put.status().is_success(),
        "the presigned upload was refused: {}",
        put.status()
    );
    assert_eq!(a.blobs.size(&upload_key).await.unwrap(), Some(3));
    let download = a.blobs.download_url(&upload_key, 60).await.unwrap();
    assert!(download.contains("X-Amz-Signature"), "{download}");
}

#[tokio::test]
async fn streamed_chunks_are_stored_once_and_read_in_order_with_their_job() {
    let (adapters, _, _) = adapters().await;
    let owner = UserId::generate();
    let stored = task(&owner, None, commands("true"));
    // Two jobs in one task's partition (as in a planned task), ids in both orders
    // around the one read: the other's chunks and item must not be taken for its.
    let (first, second) = (
        Job::queued(cynode_domain::ids::JobId::generate(), &stored, now()),
        Job::queued(cynode_domain::ids::JobId::generate(), &stored, now()),
    );
    adapters
        .tasks
        .insert_task(&stored, &[first.clone(), second.clone()])
        .await
        .unwrap();
    let task = stored.id.clone();
    let chunk = |job: &Job, attempt: u32, seq: u32, text: &str| Chunk {
        task: task.clone(),
        job: job.id.clone(),
        attempt,
        seq,
        text: text.into(),
        end: None,
    };
    for job in [&first, &second] {
        // Out of order, one twice (a retried callback keeps the first text), and seq 10
        // after 9: the zero-padded keys sort numerically.
        for c in [
            chunk(job, 1, 1, "b"),
            chunk(job, 1, 0, "a"),
            chunk(job, 1, 1, "changed"),
            chunk(job, 1, 10, "k"),
            chunk(job, 1, 9, "j"),
            chunk(job, 2, 0, "next attempt"),
        ] {
            adapters.tasks.put_chunk(&c).await.unwrap();
        }
    }
    let read = |job: Job, attempt: u32, after: Option<u32>| {
        let (tasks, task) = (adapters.tasks.clone(), task.clone());
        async move {
            let progress = tasks
                .answer_progress(&task, &job.id, attempt, after)
                .await
                .unwrap();
            assert_eq!(
                progress.job.as_ref(),
                Some(&job),
                "the job comes with its chunks"
            );
            assert!(progress.chunks.iter().all(|c| c.job == job.id));
            progress
                .chunks
                .into_iter()
                .map(|c| (c.attempt, c.seq, c.text))
                .collect::<Vec<_>>()
        }
    };
    for job in [&first, &second] {
        let all = read(job.clone(), 1, None).await;
        let expected = [(1, 0, "a"), (1, 1, "b"), (1, 9, "j"), (1, 10, "k")]
            .into_iter()
            .chain([(2, 0, "next attempt")])
            .map(|(a, s, t)| (a, s, t.to_owned()))
            .collect::<Vec<_>>();
        assert_eq!(all, expected);
        let after = read(job.clone(), 1, Some(1)).await;
        assert_eq!(
            after.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
            [(1, 9), (1, 10), (2, 0)]
        );
        assert_eq!(read(job.clone(), 2, Some(0)).await, []);
        // A job not yet claimed (attempt 0): every attempt's chunks.
        assert_eq!(read(job.clone(), 0, None).await.len(), 5);
    }
    // The last chunk says how the answer ended, and reads back the same.
    let end = AnswerEnd {
        finish_reason: "length".into(),
        usage: InferenceUsage {
            calls: 1,
            prompt_tokens: 12,
            completion_tokens: 64,
            refused_calls: 0,
        },
    };
    let last = Chunk {
        end: Some(end.clone()),
        ..chunk(&first, 2, 1, "")
    };
    adapters.tasks.put_chunk(&last).await.unwrap();
    let progress = adapters
        .tasks
        .answer_progress(&task, &first.id, 2, Some(0))
        .await
        .unwrap();
    assert_eq!(progress.chunks, [last]);
    // No job, no chunks: nothing, not an error.
    let missing = adapters
        .tasks
        .answer_progress(&TaskId::generate(), &first.id, 0, None)
        .await
        .unwrap();
    assert_eq!(missing, AnswerProgress::default());
    // Chunks never show up as jobs of the task.
    assert_eq!(adapters.tasks.jobs(&task).await.unwrap().len(), 2);
}

#[tokio::test]
async fn threads_are_versioned_listed_per_owner_and_deleted() {
    let (adapters, _, _) = adapters().await;
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let first = Thread::new(alice.clone(), "m".into(), "first question", now());
    let first = first.with_exchange("first question", "first answer", now());
    adapters.threads.put_thread(&first).await.unwrap();
    // A writer that read version 0 loses to the one that wrote version 1.
    let stale = Thread::new(alice.clone(), "m".into(), "x", now());
    let stale = Thread {
        id: first.id.clone(),
        ..stale
    }
    .with_exchange("q", "a", now());
    assert!(matches!(
        adapters.threads.put_thread(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    let second_turn = first.with_exchange("again", "yes", now());
    adapters.threads.put_thread(&second_turn).await.unwrap();
    let other = Thread::new(alice.clone(), "m".into(), "second thread", now()).with_exchange(
        "q",
        "a",
        now(),
    );
    adapters.threads.put_thread(&other).await.unwrap();
    adapters
        .threads
        .put_thread(
            &Thread::new(bob.clone(), "m".into(), "bob's", now()).with_exchange("q", "a", now()),
        )
        .await
        .unwrap();

    let stored = adapters.threads.thread(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.messages.len(), 4);
    assert_eq!(stored.version, 2);
    let listed = adapters.threads.list_threads(&alice, 10).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|t| t.id.clone()).collect();
    assert_eq!(
        ids,
        [other.id.clone(), first.id.clone()],
        "newest first, alice's only"
    );
    assert!(
        listed.iter().all(|t| t.messages.is_empty()),
        "listings carry no messages"
    );

    adapters.threads.delete_thread(&stored).await.unwrap();
    assert!(adapters.threads.thread(&first.id).await.unwrap().is_none());
    assert_eq!(
        adapters
            .threads
            .list_threads(&alice, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Projects live in their owner's partition: names unique per owner, a versioned update,
/// the credential kept apart (set, replaced, removed with the project), and a delete that
/// takes all three items.
#[tokio::test]
async fn projects_keep_names_per_owner_and_their_credential_apart() {
    use cynode_domain::ports::ProjectStore;
    use cynode_domain::project::{CredentialChange, Project};
    use cynode_domain::wire::{CreateProjectRequest, UpdateProjectRequest};
    let (a, _, _) = adapters().await;
    let projects = a.projects.clone();
    let owner = UserId::generate();
    let request = |name: &str| CreateProjectRequest {
        name: name.into(),
        repo_url: "file:///srv/git/widgets.git".into(),
        credential: Some("token-1".into()),
        test_command: Some("make test".into()),
        forge_url: Some("https://api.github.com".into()),
        ..Default::default()
    };
    let (project, credential) = Project::create(&owner, request("widgets"), now()).unwrap();
    projects
        .insert_project(&project, &credential)
        .await
        .unwrap();
    let (same_name, cred) = Project::create(&owner, request("widgets"), now()).unwrap();
    assert!(matches!(
        projects.insert_project(&same_name, &cred).await,
        Err(StoreError::Conflict(_))
    ));
    let (other, cred) = Project::create(&UserId::generate(), request("widgets"), now()).unwrap();
    projects.insert_project(&other, &cred).await.unwrap();

    assert_eq!(
        projects.project(&owner, &project.id).await.unwrap(),
        Some(project.clone())
    );
    assert_eq!(
        projects.project_by_name(&owner, "widgets").await.unwrap(),
        Some(project.clone())
    );
    assert_eq!(
        projects.project(&owner, &other.id).await.unwrap(),
        None,
        "not the owner's"
    );
    assert_eq!(
        projects.list_projects(&owner).await.unwrap(),
        vec![project.clone()]
    );
    assert_eq!(
        projects.credential(&project).await.unwrap().as_deref(),
        Some("token-1")
    );

    let change = UpdateProjectRequest {
        default_branch: Some("develop".into()),
        credential: Some("token-2".into()),
        ..Default::default()
    };
    let (updated, cred) = project.updated(change.clone(), now()).unwrap();
    projects.update_project(&updated, &cred).await.unwrap();
    assert!(
        matches!(
            projects.update_project(&updated, &cred).await,
            Err(StoreError::Conflict(_))
        ),
        "an update of a stale version loses"
    );
    assert_eq!(
        projects.credential(&updated).await.unwrap().as_deref(),
        Some("token-2")
    );
    let (removed, cred) = updated
        .updated(
            UpdateProjectRequest {
                credential: Some(String::new()),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    assert_eq!(cred, CredentialChange::Remove);
    projects.update_project(&removed, &cred).await.unwrap();
    assert_eq!(projects.credential(&removed).await.unwrap(), None);

    projects.delete_project(&removed).await.unwrap();
    assert_eq!(
        projects.project_by_name(&owner, "widgets").await.unwrap(),
        None
    );
    assert!(projects.list_projects(&owner).await.unwrap().is_empty());
    // The name is free again.
    let (again, cred) = Project::create(&owner, request("widgets"), now()).unwrap();
    projects.insert_project(&again, &cred).await.unwrap();
}

#[tokio::test]
async fn a_deleted_task_leaves_no_item_or_object_behind_and_its_name_is_free() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let project = cynode_domain::ids::ProjectId::generate();
    let stored = Task {
        idempotency_key: Some("retry-me".into()),
        project_id: Some(project.clone()),
        ..task(&owner, Some("doomed"), commands("true"))
    };
    let other = task(&owner, Some("kept"), commands("true"));
    // More jobs and chunks than one batch of deletes takes (25).
    let jobs: Vec<Job> = (0..3)
        .map(|_| Job::queued(cynode_domain::ids::JobId::generate(), &stored, now()))
        .collect();
    a.tasks.insert_task(&stored, &jobs).await.unwrap();
    a.tasks.insert_task(&other, &[]).await.unwrap();
    for job in &jobs {
        for seq in 0..10 {
            let chunk = Chunk {
                task: stored.id.clone(),
                job: job.id.clone(),
                attempt: 1,
                seq,
                text: format!("chunk {seq}"),
                end: None,
            };
            a.tasks.put_chunk(&chunk).await.unwrap();
        }
    }
    let results = format!("results/{}/", stored.id);
    for name in ["a/1/stdout", "a/1/stderr", "b/1/stdout.raw"] {
        a.blobs
            .put(&format!("{results}{name}"), b"x".to_vec())
            .await
            .unwrap();
    }
    let kept = format!("results/{}/a/1/stdout", other.id);
    a.blobs.put(&kept, b"x".to_vec()).await.unwrap();

    let in_project = TaskFilter {
        status: None,
        project: Some(&project),
    };
    let page = a
        .tasks
        .list_tasks(&owner, in_project, 10, None)
        .await
        .unwrap();
    assert_eq!(page.tasks, vec![stored.clone()], "only the project's task");

    assert_eq!(a.blobs.delete_prefix(&results).await.unwrap(), 3);
    a.tasks.delete_task(&stored).await.unwrap();
    assert_eq!(a.tasks.task(&stored.id).await.unwrap(), None);
    assert!(a.tasks.jobs(&stored.id).await.unwrap().is_empty());
    let progress = a
        .tasks
        .answer_progress(&stored.id, &jobs[0].id, 1, None)
        .await
        .unwrap();
    assert_eq!(progress, AnswerProgress::default());
    assert_eq!(a.tasks.task_by_name(&owner, "doomed").await.unwrap(), None);
    assert_eq!(
        a.tasks
            .task_by_idempotency_key(&owner, "retry-me")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        a.blobs.size(&format!("{results}a/1/stdout")).await.unwrap(),
        None
    );
    // The name is free again; the other task and its output are untouched.
    a.tasks
        .insert_task(&task(&owner, Some("doomed"), commands("true")), &[])
        .await
        .unwrap();
    assert_eq!(a.tasks.task(&other.id).await.unwrap(), Some(other.clone()));
    assert_eq!(a.blobs.size(&kept).await.unwrap(), Some(1));
    // Deleting what is gone changes nothing.
    a.tasks.delete_task(&stored).await.unwrap();
    assert_eq!(a.blobs.delete_prefix(&results).await.unwrap(), 0);
}

#[tokio::test]
async fn finished_tasks_are_found_by_when_they_last_changed() {
    let (a, _, _) = adapters().await;
    let owner = UserId::generate();
    let long_ago = now() - time::Duration::days(400);
    let at = |status: TaskStatus, updated_at| Task {
        status,
        updated_at,
        ..task(&owner, None, commands("true"))
    };
    let old_finished = at(TaskStatus::Completed, long_ago);
    let old_running = at(TaskStatus::Running, long_ago);
    let new_finished = at(TaskStatus::Failed, now());
    for one in [&old_finished, &old_running, &new_finished] {
        a.tasks.insert_task(one, &[]).await.unwrap();
    }
    // Other tests' tasks share the table: only these three are looked for.
    let cutoff = now() - time::Duration::days(1);
    let found = a.tasks.finished_before(cutoff, 10_000).await.unwrap();
    let ids: Vec<&TaskId> = found.iter().map(|t| &t.id).collect();
    assert!(ids.contains(&&old_finished.id), "the old finished task");
    assert!(!ids.contains(&&old_running.id), "an unfinished task never");
    assert!(!ids.contains(&&new_finished.id), "a recent one not yet");
    assert!(found
        .iter()
        .all(|t| t.status.is_terminal() && t.updated_at < cutoff));
}

#[tokio::test]
async fn preferences_are_kept_per_target_and_go_with_their_task_and_project() {
    use cynode_domain::ports::{PreferenceStore, ProjectStore};
    use cynode_domain::preference::{PreferenceTarget, StoredPreference};
    use cynode_domain::project::Project;
    use cynode_domain::wire::CreateProjectRequest;
    let (a, _, _) = adapters().await;
    let prefs = a.preferences.clone();
    let owner = UserId::generate();
    let value = |key: &str, value: serde_json::Value| StoredPreference {
        key: key.into(),
        value,
        updated_at: now().replace_nanosecond(0).unwrap(),
    };
    let the_task = task(&owner, None, commands("true"));
    a.tasks.insert_task(&the_task, &[]).await.unwrap();
    let (project, credential) = Project::create(
        &owner,
        CreateProjectRequest {
            name: unique("prefs"),
            repo_url: "file:///srv/git/prefs.git".into(),
            ..Default::default()
        },
        now(),
    )
    .unwrap();
    a.projects
        .insert_project(&project, &credential)
        .await
        .unwrap();
    let targets = [
        PreferenceTarget::User(owner.clone()),
        PreferenceTarget::Project(project.id.clone()),
        PreferenceTarget::Task(the_task.id.clone()),
    ];
    for (n, target) in targets.iter().enumerate() {
        let steps = value("agent.max_steps", serde_json::json!(n + 1));
        prefs.put_preference(target, &steps).await.unwrap();
        // Setting it again replaces it.
        let steps = value("agent.max_steps", serde_json::json!(n + 2));
        prefs.put_preference(target, &steps).await.unwrap();
        let model = value("task.default_model", serde_json::json!("tiny"));
        prefs.put_preference(target, &model).await.unwrap();
        let mut stored = prefs.preferences(target).await.unwrap();
        stored.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(stored, vec![steps, model], "{target:?}");
    }
    assert!(prefs
        .delete_preference(&targets[0], "task.default_model")
        .await
        .unwrap());
    assert!(!prefs
        .delete_preference(&targets[0], "task.default_model")
        .await
        .unwrap());
    assert_eq!(prefs.preferences(&targets[0]).await.unwrap().len(), 1);
    // The task's values are in its partition, but never taken for a job of it.
    assert!(a.tasks.jobs(&the_task.id).await.unwrap().is_empty());
    a.tasks.delete_task(&the_task).await.unwrap();
    assert!(prefs.preferences(&targets[2]).await.unwrap().is_empty());
    a.projects.delete_project(&project).await.unwrap();
    assert!(prefs.preferences(&targets[1]).await.unwrap().is_empty());
    assert_eq!(
        prefs.preferences(&targets[0]).await.unwrap().len(),
        1,
        "the user's stay"
    );
}

#[tokio::test]
async fn audit_events_read_back_newest_first_by_month_and_by_user() {
    use cynode_domain::audit::{Actor, AuditRecord};
    use cynode_domain::ports::AuditLog;
    use cynode_domain::principal::Principal;
    let (a, _, _) = adapters().await;
    let audit = a.audit.clone();
    let alice = Principal {
        user_id: UserId::generate(),
        handle: unique("alice"),
        is_admin: false,
        credential: Credential::Session(SessionId::generate()),
    };
    // A month of its own, so that events of other tests do not mix in.
    let month_start = time::macros::datetime!(2031-07-01 00:00 UTC);
    let mut recorded = Vec::new();
    for n in 0..4 {
        let record = if n % 2 == 0 {
            AuditRecord::new("api_key.create", Actor::of(&alice), format!("api_key:{n}"))
        } else {
            AuditRecord::new("node.register", Actor::Anonymous, format!("node:{n}")).failed("bad")
        };
        let event = record.stamped(month_start + time::Duration::minutes(n));
        audit
            .record(&event, now() + time::Duration::days(1))
            .await
            .unwrap();
        recorded.push(event);
    }
    let newest_first: Vec<_> = recorded.iter().rev().cloned().collect();
    let month = audit.month_events("2031-07", None, 10).await.unwrap();
    assert_eq!(month, newest_first);
    let before = &recorded[2].entry.event_id;
    let older = audit
        .month_events("2031-07", Some(before), 10)
        .await
        .unwrap();
    assert_eq!(older, vec![recorded[1].clone(), recorded[0].clone()]);
    assert_eq!(
        audit.month_events("2031-07", None, 1).await.unwrap().len(),
        1
    );
    let hers = audit.user_events(&alice.user_id, None, 10).await.unwrap();
    assert_eq!(hers, vec![recorded[2].clone(), recorded[0].clone()]);
    assert!(audit
        .month_events("2031-06", None, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn settings_are_versioned_and_another_instance_reads_a_change_after_its_cache_time() {
    use cynode_domain::clock::ManualClock;
    use cynode_domain::ports::SettingsStore;
    use cynode_domain::principal::Principal;
    use cynode_domain::service::SettingsService;
    use cynode_domain::settings::Settings;
    use cynode_domain::wire::SetSettingRequest;
    // The settings item is one per deployment: no other test of this process writes it.
    let (a, _, _) = adapters().await;
    let store: Arc<dyn SettingsStore> = Arc::new(a.settings.clone());
    let clock = Arc::new(ManualClock::new(now()));
    let deployment = Settings {
        max_unfinished_tasks: 100,
        max_open_streams: 8,
        node_stale_secs: 120,
        task_retention_secs: 0,
        planner_max_attempts: 3,
        worker_max_attempts: 3,
        egress: Default::default(),
    };
    let writer = SettingsService::new(store.clone(), clock.clone(), deployment, 10);
    let reader = SettingsService::new(store.clone(), clock.clone(), deployment, 10);
    assert_eq!(reader.current().await.unwrap(), deployment);
    let admin = Principal {
        user_id: UserId::generate(),
        handle: "root".into(),
        is_admin: true,
        credential: Credential::Session(SessionId::generate()),
    };
    let set = |value: serde_json::Value| SetSettingRequest {
        value,
        version: None,
    };
    let first = writer
        .set(&admin, "nodes.stale_secs", set(serde_json::json!(300)))
        .await
        .unwrap();
    assert_eq!(
        reader.current().await.unwrap().node_stale_secs,
        120,
        "cached"
    );
    clock.advance(time::Duration::seconds(11));
    assert_eq!(reader.current().await.unwrap().node_stale_secs, 300);
    // A change made from an older version loses.
    let stored = store.settings().await.unwrap().unwrap();
    assert_eq!(Some(stored.version.clone()), first.version);
    let mut stale = stored.clone();
    stale.version = "01JD0000000000000000000001".into();
    store
        .replace_settings(Some(&stored.version), &stale)
        .await
        .unwrap();
    assert!(matches!(
        store.replace_settings(Some(&stored.version), &stored).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.replace_settings(None, &stored).await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn skills_are_kept_per_owner_by_name_and_replaced_by_name() {
    use cynode_domain::ids::ProjectId;
    use cynode_domain::ports::SkillStore;
    use cynode_domain::skill::Skill;
    let (a, _, _) = adapters().await;
    let skills = a.skills.clone();
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let at = now().replace_nanosecond(0).unwrap();
    let skill = |owner: &UserId, name: &str, body: &str, project: Option<ProjectId>| {
        Skill::new(owner, name, body.into(), &["word".into()], project, at).unwrap()
    };
    let first = skill(&alice, "style", "one", None);
    skills.put_skill(&first).await.unwrap();
    let replaced = skill(&alice, "style", "two", Some(ProjectId::generate()));
    skills.put_skill(&replaced).await.unwrap();
    skills
        .put_skill(&skill(&alice, "other", "three", None))
        .await
        .unwrap();
    skills
        .put_skill(&skill(&bob, "style", "bob's", None))
        .await
        .unwrap();
    assert_eq!(
        skills.skill(&alice, "style").await.unwrap(),
        Some(replaced.clone())
    );
    let mut hers = skills.skills(&alice).await.unwrap();
    hers.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(hers.len(), 2);
    assert_eq!(hers[1], replaced);
    assert!(skills.delete_skill(&alice, "style").await.unwrap());
    assert!(!skills.delete_skill(&alice, "style").await.unwrap());
    assert_eq!(skills.skill(&alice, "style").await.unwrap(), None);
    assert_eq!(skills.skills(&bob).await.unwrap().len(), 1, "bob's stays");
}

/// Stored credentials over DynamoDB and KMS: the value is stored only sealed, opens only
/// under its own owner and credential, a rotation replaces it in the same transaction as
/// the description, a stale version loses, and a delete takes both items.
#[tokio::test]
async fn stored_credentials_are_sealed_with_kms_bound_to_their_owner_and_credential() {
    use cynode_domain::credential::StoredCredential;
    use cynode_domain::ports::{CredentialCipher, CredentialStore};
    use cynode_domain::wire::CreateCredentialRequest;
    let (a, clients, stack) = adapters().await;
    let cipher = a.cipher.clone().expect("the stack has a credentials key");
    let store = a.credentials.clone();
    let at = now().replace_nanosecond(0).unwrap();
    let request = |value: &str| CreateCredentialRequest {
        name: "forge-bot".into(),
        provider: "github".into(),
        value: value.into(),
        description: None,
    };
    let (alice, bob) = (UserId::generate(), UserId::generate());
    let hers = StoredCredential::create(&alice, &request("ghp_adapter_one"), at).unwrap();
    let sealed = cipher
        .seal("ghp_adapter_one", &hers.seal_context())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed.0).contains("ghp_adapter_one"));
    store.insert_credential(&hers, &sealed).await.unwrap();
    let again = StoredCredential::create(&alice, &request("x"), at).unwrap();
    assert!(matches!(
        store.insert_credential(&again, &sealed).await,
        Err(StoreError::Conflict(_))
    ));
    let his = StoredCredential::create(&bob, &request("ghp_bobs"), at).unwrap();
    let his_sealed = cipher.seal("ghp_bobs", &his.seal_context()).await.unwrap();
    store.insert_credential(&his, &his_sealed).await.unwrap();

    assert_eq!(
        store.stored_credential(&alice, "forge-bot").await.unwrap(),
        Some(hers.clone())
    );
    assert_eq!(store.credentials(&alice).await.unwrap(), vec![hers.clone()]);
    let stored = store.sealed_value(&hers).await.unwrap().unwrap();
    assert_eq!(
        cipher.open(&stored, &hers.seal_context()).await.unwrap(),
        "ghp_adapter_one"
    );
    // Her ciphertext under his context (a value copied onto his item) does not open.
    assert!(matches!(
        cipher.open(&stored, &his.seal_context()).await,
        Err(StoreError::Corrupt(_))
    ));
    // The raw item holds the sealed bytes and nothing readable.
    let raw = clients
        .dynamodb
        .scan()
        .table_name(format!(
            "{}-credentials",
            stack.get("CYNODE_PREFIX").unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(!format!("{:?}", raw.items()).contains("ghp_adapter_one"));

    let rotated = hers.rotated(at);
    let new_sealed = cipher
        .seal("ghp_adapter_two", &rotated.seal_context())
        .await
        .unwrap();
    store
        .update_credential(&rotated, Some(&new_sealed))
        .await
        .unwrap();
    let stale = hers.rotated(at);
    assert!(matches!(
        store.update_credential(&stale, None).await,
        Err(StoreError::Conflict(_))
    ));
    let opened = cipher
        .open(
            &store.sealed_value(&rotated).await.unwrap().unwrap(),
            &rotated.seal_context(),
        )
        .await
        .unwrap();
    assert_eq!(opened, "ghp_adapter_two");
    assert!(matches!(
        store.delete_credential(&hers).await,
        Err(StoreError::Conflict(_))
    ));
    store.delete_credential(&rotated).await.unwrap();
    assert_eq!(
        store.stored_credential(&alice, "forge-bot").await.unwrap(),
        None
    );
    assert_eq!(store.sealed_value(&rotated).await.unwrap(), None);
    assert_eq!(store.credentials(&bob).await.unwrap().len(), 1, "his stays");
}

#[tokio::test]
async fn providers_are_created_once_and_take_their_attachments_with_them() {
    use cynode_domain::ports::ProviderStore;
    use cynode_domain::provider::{Provider, ProviderCredential};
    use cynode_domain::wire::{CreateProviderRequest, ProviderKind, ProviderModel};
    use cynode_domain::StoreError;
    let (a, _, _) = adapters().await;
    let providers = a.providers.clone();
    let at = now().replace_nanosecond(0).unwrap();
    let provider = Provider::new(
        CreateProviderRequest {
            name: format!("router-{}", UserId::generate()),
            kind: ProviderKind::Anthropic,
            base_url: "https://api.example.com/v1".into(),
            models: vec![ProviderModel {
                name: "claude-x".into(),
                input_usd_per_mtok: 3.0,
                output_usd_per_mtok: 15.0,
            }],
        },
        &[],
        at,
    )
    .unwrap();
    // Names are kept as slugs, as tasks' are.
    let name = provider.name.clone();
    assert!(name.starts_with("router-user-"), "{name}");
    providers.create_provider(&provider).await.unwrap();
    assert!(matches!(
        providers.create_provider(&provider).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        providers.provider(&name).await.unwrap(),
        Some(provider.clone())
    );
    assert!(providers.providers().await.unwrap().contains(&provider));

    let (alice, admin) = (UserId::generate(), UserId::generate());
    let attachment = |owner: &UserId, credential: &str, for_everyone: bool| ProviderCredential {
        provider: name.clone(),
        owner: owner.clone(),
        credential_name: credential.into(),
        for_everyone,
        attached_at: at,
    };
    providers
        .attach(&attachment(&alice, "mine", false))
        .await
        .unwrap();
    providers
        .attach(&attachment(&admin, "team", true))
        .await
        .unwrap();
    assert_eq!(
        providers.attachment(&name, Some(&alice)).await.unwrap(),
        Some(attachment(&alice, "mine", false))
    );
    assert_eq!(
        providers.attachment(&name, None).await.unwrap(),
        Some(attachment(&admin, "team", true))
    );
    // The admin's own attachment is not the system's.
    assert_eq!(
        providers.attachment(&name, Some(&admin)).await.unwrap(),
        None
    );
    assert!(providers.detach(&name, Some(&alice)).await.unwrap());
    assert!(!providers.detach(&name, Some(&alice)).await.unwrap());

    assert!(providers.delete_provider(&name).await.unwrap());
    assert_eq!(providers.attachment(&name, None).await.unwrap(), None);
    assert_eq!(providers.provider(&name).await.unwrap(), None);
    assert!(!providers.delete_provider(&name).await.unwrap());
}
