//! The task service against the in-memory store.

use super::create::QUOTA_RETRY_AFTER_SECS;
use super::*;
use crate::clock::ManualClock;
use crate::limits::MAX_ATTACHMENT_BYTES;
use crate::limits::MAX_PROMPT_BYTES;
use crate::memory::MemoryStore;
use crate::ports::{BlobStore, TaskStore};
use crate::status::TaskStatus;
use crate::task::{StoredInput, TaskInput};
use crate::wire::{CreateAttachmentRequest, CreateTaskRequest};
use time::macros::datetime;

fn service() -> (TaskService, Arc<MemoryStore>) {
    service_with(TaskSettings::default())
}

fn service_with(settings: TaskSettings) -> (TaskService, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
    let service = TaskService::new(store.clone(), store.clone(), store.clone(), clock, settings);
    (service, store)
}

fn user(handle: &str) -> Principal {
    Principal::test_user(handle)
}

fn commands(cmds: &[&str]) -> CreateTaskRequest {
    CreateTaskRequest {
        commands: Some(cmds.iter().map(|c| c.to_string()).collect()),
        ..CreateTaskRequest::default()
    }
}

#[tokio::test]
async fn a_user_has_only_so_many_unfinished_tasks() {
    let (service, store) = service_with(TaskSettings {
        max_unfinished_per_user: 2,
        ..TaskSettings::default()
    });
    let (alice, bob) = (user("alice"), user("bob"));
    let first = service.create(&alice, commands(&["true"])).await.unwrap();
    service.create(&alice, commands(&["true"])).await.unwrap();
    let refused = service
        .create(&alice, commands(&["true"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "too_many_unfinished_tasks");
    assert_eq!(refused.retry_after_secs, Some(QUOTA_RETRY_AFTER_SECS));
    assert_eq!(store.enqueued().len(), 2, "nothing was queued for it");
    service.create(&bob, commands(&["true"])).await.unwrap();
    // A finished task frees a place.
    service
        .cancel(&alice, first.task_id.as_str())
        .await
        .unwrap();
    service.create(&alice, commands(&["true"])).await.unwrap();
}

#[tokio::test]
async fn a_commands_task_is_stored_queued_with_one_enqueued_job() {
    let (service, store) = service();
    let alice = user("alice");
    let view = service
        .create(&alice, commands(&["echo hello"]))
        .await
        .unwrap();
    assert_eq!(view.status, TaskStatus::Queued);
    assert_eq!(view.prompt, "echo hello");
    let messages = store.enqueued();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].task_id, view.task_id);
    let jobs = store.jobs(&view.task_id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, messages[0].job_id);
}

#[tokio::test]
async fn model_work_goes_on_the_inference_queue_and_shell_work_does_not() {
    let (service, store) = service();
    let prompt = CreateTaskRequest {
        prompt: Some("rm -rf /".into()),
        ..CreateTaskRequest::default()
    };
    let view = service.create(&user("alice"), prompt).await.unwrap();
    assert_eq!(view.status, TaskStatus::Queued);
    let with_model = CreateTaskRequest {
        model: Some("smollm2:135m".into()),
        ..commands(&["curl $OLLAMA_BASE_URL"])
    };
    let modelled = service.create(&user("alice"), with_model).await.unwrap();
    assert_eq!(modelled.model.as_deref(), Some("smollm2:135m"));
    service
        .create(&user("alice"), commands(&["true"]))
        .await
        .unwrap();
    let inference: Vec<bool> = store.enqueued().iter().map(|m| m.inference).collect();
    assert_eq!(inference, vec![true, true, false]);
    assert_eq!(store.jobs(&view.task_id).await.unwrap().len(), 1);

    let bad = CreateTaskRequest {
        model: Some("two words".into()),
        ..commands(&["true"])
    };
    let err = service.create(&user("alice"), bad).await.unwrap_err();
    assert_eq!(err.code, "invalid_model");
}

#[tokio::test]
async fn names_are_made_unique_per_user() {
    let (service, _) = service();
    let (alice, bob) = (user("alice"), user("bob"));
    let named = |name: &str| CreateTaskRequest {
        task_name: Some(name.into()),
        ..commands(&["true"])
    };
    let first = service.create(&alice, named("Build")).await.unwrap();
    let second = service.create(&alice, named("build")).await.unwrap();
    let bobs = service.create(&bob, named("build")).await.unwrap();
    assert_eq!(first.task_name.as_deref(), Some("build"));
    assert_eq!(second.task_name.as_deref(), Some("build-2"));
    assert_eq!(bobs.task_name.as_deref(), Some("build"));
    // A name resolves to the owner's task only.
    assert_eq!(
        service.get(&alice, "build").await.unwrap().task_id,
        first.task_id
    );
    assert_eq!(
        service.get(&bob, "build").await.unwrap().task_id,
        bobs.task_id
    );
}

#[tokio::test]
async fn other_users_tasks_are_not_found_by_id_or_name() {
    let (service, _) = service();
    let (alice, mallory) = (user("alice"), user("mallory"));
    let task = service
        .create(
            &alice,
            CreateTaskRequest {
                task_name: Some("secret".into()),
                ..commands(&["true"])
            },
        )
        .await
        .unwrap();
    let id = task.task_id.as_str();
    for reference in [id, "secret"] {
        assert_eq!(
            service.get(&mallory, reference).await.unwrap_err().code,
            "task_not_found"
        );
        assert_eq!(
            service.cancel(&mallory, reference).await.unwrap_err().code,
            "task_not_found"
        );
        assert_eq!(
            service.result(&mallory, reference).await.unwrap_err().code,
            "task_not_found"
        );
        assert_eq!(
            service
                .logs(&mallory, reference, None)
                .await
                .unwrap_err()
                .code,
            "task_not_found"
        );
    }
    assert_eq!(
        service.get(&alice, id).await.unwrap().status,
        TaskStatus::Queued
    );
}

#[tokio::test]
async fn listing_pages_through_every_task_newest_first() {
    let (service, _) = service();
    let alice = user("alice");
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            service
                .create(&alice, commands(&[&format!("echo {i}")]))
                .await
                .unwrap()
                .task_id,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = service
            .list(
                &alice,
                ListQuery {
                    limit: Some("3"),
                    cursor: cursor.as_deref(),
                    ..ListQuery::default()
                },
            )
            .await
            .unwrap();
        assert!(page.tasks.len() <= 3);
        seen.extend(page.tasks.into_iter().map(|t| t.task_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);
}

#[tokio::test]
async fn bad_list_parameters_are_validation_errors() {
    let (service, _) = service();
    let alice = user("alice");
    for (limit, cursor, status, code) in [
        (Some("0"), None, None, "invalid_limit"),
        (Some("201"), None, None, "invalid_limit"),
        (Some("ten"), None, None, "invalid_limit"),
        (None, Some("not-a-cursor"), None, "invalid_cursor"),
        (None, Some("djE6Z2FyYmFnZQ"), None, "invalid_cursor"),
        (None, None, Some("pending"), "invalid_status"),
    ] {
        let err = service
            .list(
                &alice,
                ListQuery {
                    status,
                    limit,
                    cursor,
                    project: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, code);
    }
    assert!(service
        .list(
            &alice,
            ListQuery {
                limit: Some("200"),
                ..ListQuery::default()
            },
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn cancel_ends_the_task_and_its_queued_job() {
    let (service, store) = service();
    let alice = user("alice");
    let task = service
        .create(&alice, commands(&["sleep 300"]))
        .await
        .unwrap();
    let outcome = service.cancel(&alice, task.task_id.as_str()).await.unwrap();
    assert_eq!(outcome.status, TaskStatus::Canceled);
    let jobs = store.jobs(&task.task_id).await.unwrap();
    assert_eq!(jobs[0].status, crate::status::JobStatus::Canceled);
    // Again: still fine, nothing changes.
    assert!(
        service
            .cancel(&alice, task.task_id.as_str())
            .await
            .unwrap()
            .canceled
    );
}

#[tokio::test]
async fn large_inputs_are_kept_in_the_blob_store() {
    let (service, _) = service();
    let alice = user("alice");
    let prompt = "é".repeat(MAX_PROMPT_BYTES / 2);
    let view = service
        .create(
            &alice,
            CreateTaskRequest {
                prompt: Some(prompt.clone()),
                ..CreateTaskRequest::default()
            },
        )
        .await
        .unwrap();
    let task = service
        .owned_task(&alice, view.task_id.as_str())
        .await
        .unwrap();
    assert!(matches!(task.input, StoredInput::Blob { .. }));
    assert!(view.prompt.len() <= crate::limits::PROMPT_PREVIEW_BYTES);
    assert_eq!(
        service.input_of(&task).await.unwrap(),
        TaskInput::Prompt { prompt }
    );
}

#[tokio::test]
async fn attachments_must_be_the_callers_and_uploaded() {
    let (service, store) = service();
    let (alice, bob) = (user("alice"), user("bob"));
    let upload = service
        .create_attachment(
            &alice,
            CreateAttachmentRequest {
                name: "data.csv".into(),
                size: 3,
            },
        )
        .await
        .unwrap();
    let with = |_: &Principal| CreateTaskRequest {
        attachments: vec![upload.attachment_id.clone()],
        ..commands(&["true"])
    };
    assert_eq!(
        service.create(&alice, with(&alice)).await.unwrap_err().code,
        "attachment_not_uploaded"
    );
    store
        .put(
            &format!("attachments/{}/{}", alice.user_id, upload.attachment_id),
            b"a,b".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(
        service.create(&bob, with(&bob)).await.unwrap_err().code,
        "unknown_attachment"
    );
    let task = service.create(&alice, with(&alice)).await.unwrap();
    assert_eq!(task.attachments[0].name, "data.csv");

    let bad = CreateAttachmentRequest {
        name: "../etc/passwd".into(),
        size: 1,
    };
    assert_eq!(
        service
            .create_attachment(&alice, bad)
            .await
            .unwrap_err()
            .code,
        "invalid_attachment_name"
    );
    let big = CreateAttachmentRequest {
        name: "big".into(),
        size: MAX_ATTACHMENT_BYTES + 1,
    };
    assert_eq!(
        service
            .create_attachment(&alice, big)
            .await
            .unwrap_err()
            .code,
        "attachment_too_large"
    );
}

#[tokio::test]
async fn a_task_may_belong_to_its_owners_project_only() {
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
    let projects = Arc::new(ProjectService::new(store.clone(), clock.clone()));
    let service = TaskService::new(
        store.clone(),
        store.clone(),
        store.clone(),
        clock,
        TaskSettings::default(),
    )
    .with_projects(projects.clone());
    let (alice, bob) = (user("alice"), user("bob"));
    let project = projects
        .create(
            &alice,
            crate::wire::CreateProjectRequest {
                name: "widgets".into(),
                repo_url: "https://github.com/acme/widgets.git".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let in_project = || CreateTaskRequest {
        project: Some("widgets".into()),
        ..commands(&["true"])
    };
    let task = service.create(&alice, in_project()).await.unwrap();
    assert_eq!(task.project_id, Some(project.project_id));
    assert_eq!(
        service.create(&bob, in_project()).await.unwrap_err().code,
        "project_not_found"
    );
    service.create(&alice, commands(&["true"])).await.unwrap();
    let in_widgets = |project| ListQuery {
        project: Some(project),
        ..ListQuery::default()
    };
    let listed = service.list(&alice, in_widgets("widgets")).await.unwrap();
    let ids: Vec<_> = listed.tasks.iter().map(|t| &t.task_id).collect();
    assert_eq!(ids, [&task.task_id], "only the project's task");
    let err = service.list(&bob, in_widgets("widgets")).await.unwrap_err();
    assert_eq!(err.code, "project_not_found");
}

#[tokio::test]
async fn deleting_a_task_removes_its_jobs_chunks_input_and_results_and_frees_its_name() {
    let (service, store) = service();
    let (alice, bob) = (user("alice"), user("bob"));
    let big = || CreateTaskRequest {
        prompt: Some("é".repeat(MAX_PROMPT_BYTES / 2)),
        task_name: Some("big".into()),
        ..CreateTaskRequest::default()
    };
    let view = service.create(&alice, big()).await.unwrap();
    let task = service.owned_task(&alice, "big").await.unwrap();
    let StoredInput::Blob { key: input } = task.input.clone() else {
        panic!("a large input is a blob");
    };
    let job = store.jobs(&task.id).await.unwrap().remove(0);
    let (stdout, _) = crate::job::output_keys(&task.id, &job.id, 1);
    store.put(&stdout, b"out".to_vec()).await.unwrap();
    store
        .put_chunk(&crate::ports::Chunk {
            task: task.id.clone(),
            job: job.id.clone(),
            attempt: 1,
            seq: 0,
            text: "partial".into(),
            end: None,
        })
        .await
        .unwrap();

    let err = service
        .delete(&bob, view.task_id.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.code, "task_not_found");
    service.delete(&alice, "big").await.unwrap();
    assert_eq!(
        service
            .get(&alice, view.task_id.as_str())
            .await
            .unwrap_err()
            .code,
        "task_not_found"
    );
    assert!(store.jobs(&task.id).await.unwrap().is_empty());
    let progress = store
        .answer_progress(&task.id, &job.id, 1, None)
        .await
        .unwrap();
    assert_eq!(progress, crate::ports::AnswerProgress::default());
    for key in [&input, &stdout] {
        assert_eq!(store.size(key).await.unwrap(), None, "{key} is gone");
    }
    let again = service.create(&alice, big()).await.unwrap();
    assert_eq!(
        again.task_name.as_deref(),
        Some("big"),
        "the name is free again"
    );
    let err = service
        .delete(&alice, view.task_id.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.code, "task_not_found");
}

#[tokio::test]
async fn an_admin_deletes_anyones_task_by_id() {
    let (service, store) = service();
    let alice = user("alice");
    let admin = Principal {
        is_admin: true,
        ..user("root")
    };
    let view = service
        .create(
            &alice,
            CreateTaskRequest {
                task_name: Some("mine".into()),
                ..commands(&["sleep 60"])
            },
        )
        .await
        .unwrap();
    let err = service.delete(&admin, "mine").await.unwrap_err();
    assert_eq!(err.code, "task_not_found", "names are per user");
    service.delete(&admin, view.task_id.as_str()).await.unwrap();
    assert!(store.task(&view.task_id).await.unwrap().is_none());
}

#[tokio::test]
async fn an_idempotency_key_creates_one_task_however_often_it_is_sent() {
    let (tasks, store) = service();
    let alice = user("alice");
    let req = || CreateTaskRequest {
        commands: Some(vec!["echo once".into()]),
        task_name: Some("nightly".into()),
        ..Default::default()
    };
    let (first, replayed) = tasks.create_once(&alice, req(), Some("k-1")).await.unwrap();
    assert!(!replayed);
    let sent = store.enqueued().len();
    let (again, replayed) = tasks.create_once(&alice, req(), Some("k-1")).await.unwrap();
    assert!(replayed);
    assert_eq!(again.task_id, first.task_id);
    assert_eq!(store.enqueued().len(), sent, "a replay sends no job");
    // Another key is another task (its name numbered), and keys are per user.
    let (other, _) = tasks.create_once(&alice, req(), Some("k-2")).await.unwrap();
    assert_ne!(other.task_id, first.task_id);
    let (bobs, replayed) = tasks
        .create_once(&user("bob"), req(), Some("k-1"))
        .await
        .unwrap();
    assert!(!replayed && bobs.task_id != first.task_id);
    let err = tasks
        .create_once(&alice, req(), Some(""))
        .await
        .unwrap_err();
    assert_eq!(err.code, "invalid_idempotency_key");
}

#[tokio::test]
async fn retention_removes_only_finished_tasks_older_than_it_and_is_off_at_zero() {
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
    let with_retention = |retention_secs| {
        TaskService::new(
            store.clone(),
            store.clone(),
            store.clone(),
            clock.clone(),
            TaskSettings {
                retention_secs,
                ..TaskSettings::default()
            },
        )
    };
    let (service, off) = (with_retention(3600), with_retention(0));
    let alice = user("alice");
    let old = service.create(&alice, commands(&["true"])).await.unwrap();
    service.cancel(&alice, old.task_id.as_str()).await.unwrap();
    let unfinished = service
        .create(&alice, commands(&["sleep 9"]))
        .await
        .unwrap();
    clock.advance(time::Duration::minutes(50));
    let recent = service.create(&alice, commands(&["true"])).await.unwrap();
    service
        .cancel(&alice, recent.task_id.as_str())
        .await
        .unwrap();
    clock.advance(time::Duration::minutes(20));

    assert_eq!(off.remove_expired().await.unwrap(), 0, "0 keeps everything");
    assert_eq!(service.remove_expired().await.unwrap(), 1);
    let mut left = Vec::new();
    for view in [&old, &unfinished, &recent] {
        left.push(store.task(&view.task_id).await.unwrap().is_some());
    }
    assert_eq!(left, [false, true, true]);
}
