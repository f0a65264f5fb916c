//! A job's calls to its hosted model (`POST /v1/jobs/{job}/inference`): taken only from
//! the node whose claim holds the job's lease, current and unexpired, and only for the
//! model its task was routed to. The call itself is the egress's.

use serde_json::Value;

use super::JobService;
use crate::error::{Error, Result};
use crate::ids::{JobId, NodeId};
use crate::job::Job;
use crate::task::Task;
use crate::wire::HostedCallRequest;
use crate::ErrorCode;

impl JobService {
    /// The job a hosted call names and its task, read at once (beside the signature's
    /// check: they are on the way to the call's first token).
    pub async fn hosted_call_read(
        &self,
        req: &HostedCallRequest,
        job_id: &JobId,
    ) -> Result<(Job, Task)> {
        let (job, task) = futures_util::future::join(
            self.tasks.job(&req.task_id, job_id),
            self.tasks.task(&req.task_id),
        )
        .await;
        let job = job?
            .ok_or_else(|| Error::not_found(ErrorCode::JobNotFound, format!("no job {job_id}")))?;
        let task = task?.ok_or_else(|| Error::task_not_found(req.task_id.as_str()))?;
        Ok((job, task))
    }

    /// Whether `req` may call `task`'s hosted model, for `node` holding `job` (both read
    /// by [`JobService::hosted_call_read`]): not for a stale or expired claim (409
    /// `stale_attempt`), a task whose model is not hosted, or another model (403
    /// `model_not_allowed`).
    pub fn check_hosted_call(
        &self,
        node: &NodeId,
        job: &Job,
        task: &Task,
        req: &HostedCallRequest,
    ) -> Result<()> {
        if job.task_id != req.task_id || task.id != req.task_id {
            return Err(Error::not_found(
                ErrorCode::JobNotFound,
                format!("no job {} in task {}", job.id, req.task_id),
            ));
        }
        job.check_claim(node, req.attempt, &req.lease_id)?;
        let now = self.clock.now();
        if job
            .lease
            .as_ref()
            .is_some_and(|lease| lease.expires_at <= now)
        {
            return Err(Error::conflict(
                ErrorCode::StaleAttempt,
                "the job's lease has run out: a model call needs a claim that holds it",
            ));
        }
        let model = match (task.hosted(), task.routed_model()) {
            (true, Some(model)) => model,
            _ => {
                return Err(Error::forbidden(
                    ErrorCode::ModelNotAllowed,
                    format!(
                        "task {}'s model is not hosted: its calls go to its node's model server",
                        task.id
                    ),
                ))
            }
        };
        let named = req.body.get("model").and_then(Value::as_str);
        if named != Some(model.as_str()) {
            return Err(Error::forbidden(
                ErrorCode::ModelNotAllowed,
                format!("this job may call only its task's model {model}"),
            )
            .with_param("model"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::ids::TaskId;
    use crate::memory::MemoryStore;
    use crate::node::NodeSettings;
    use crate::ports::PreferenceStore;
    use crate::preference::{PreferenceTarget, StoredPreference};
    use crate::principal::Principal;
    use crate::service::jobs::JobSettings;
    use crate::service::tasks::{ModelRouter, TaskService, TaskSettings};
    use crate::service::{NodeService, ProviderService};
    use crate::signing::NodeKeys;
    use crate::wire::{
        ClaimDecision, CreateProviderRequest, CreateTaskRequest, HostedCall, JobClaim,
        JobStartedRequest, ModelRoute, ProviderKind, ProviderModel,
    };

    struct World {
        tasks: TaskService,
        jobs: JobService,
        nodes: Arc<NodeService>,
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
        alice: Principal,
    }

    /// Tasks routed by a real router over the in-memory store: a provider `acme`
    /// offering `big`, and no node serving anything.
    async fn world() -> World {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 10:00 UTC)));
        let providers = Arc::new(ProviderService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            vec![],
        ));
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        providers
            .create(
                &root,
                CreateProviderRequest {
                    name: "acme".into(),
                    kind: ProviderKind::Openai,
                    base_url: "https://acme.example/v1".into(),
                    models: vec![ProviderModel {
                        name: "big".into(),
                        input_usd_per_mtok: 1.0,
                        output_usd_per_mtok: 2.0,
                    }],
                },
            )
            .await
            .unwrap();
        let nodes = Arc::new(NodeService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            NodeKeys::new(b"master".to_vec()),
            vec!["psk".into()],
            NodeSettings {
                queue_url: "q".into(),
                inference_queue_url: Some("q-inference".into()),
                heartbeat_interval_secs: 5,
                lease_secs: 60,
                default_timeout_secs: 3600,
                max_timeout_secs: 10800,
                stale_secs: 120,
            },
        ));
        let router = ModelRouter::new(store.clone(), nodes.clone(), providers);
        World {
            tasks: TaskService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                clock.clone(),
                TaskSettings::default(),
            )
            .with_router(Arc::new(router)),
            jobs: JobService::new(
                store.clone(),
                store.clone(),
                clock.clone(),
                NodeKeys::new(b"master".to_vec()),
                JobSettings::default(),
            )
            .with_preferences(store.clone()),
            nodes,
            store,
            clock,
            alice: Principal::test_user("alice"),
        }
    }

    async fn created(w: &World, req: CreateTaskRequest) -> (TaskId, JobId) {
        let task = w.tasks.create(&w.alice, req).await.unwrap();
        (
            task.task_id,
            w.store.enqueued().last().unwrap().job_id.clone(),
        )
    }

    async fn claimed(w: &World, node: &NodeId, task: &TaskId, job: &JobId, boot: &str) -> JobClaim {
        let started = JobStartedRequest {
            task_id: task.clone(),
            boot_id: boot.into(),
            receive_count: 1,
        };
        match w.jobs.started(node, job, started).await.unwrap() {
            ClaimDecision::Run(claim) => *claim,
            other => panic!("expected a claim, got {other:?}"),
        }
    }

    fn call(task: &TaskId, claim: &JobClaim, model: &str) -> HostedCallRequest {
        HostedCallRequest {
            task_id: task.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            call: HostedCall::ChatCompletions,
            body: json!({"model": model, "messages": []}),
        }
    }

    async fn allowed(w: &World, node: &NodeId, job: &JobId, req: &HostedCallRequest) -> Result<()> {
        let (job, task) = w.jobs.hosted_call_read(req, job).await.unwrap();
        w.jobs.check_hosted_call(node, &job, &task, req)
    }

    #[tokio::test]
    async fn a_hosted_task_goes_to_every_nodes_queue_and_its_claim_calls_only_its_model() {
        let w = world().await;
        let node = NodeId::generate();
        let (task, job) = created(
            &w,
            CreateTaskRequest {
                commands: Some(vec!["ask".into()]),
                model: Some("acme/big".into()),
                ..Default::default()
            },
        )
        .await;
        let message = w.store.enqueued().last().unwrap().clone();
        assert!(!message.inference, "on the queue nodes without models read");
        assert_eq!(message.model, None, "no node need serve it");
        let view = w.tasks.get(&w.alice, task.as_str()).await.unwrap();
        assert_eq!(view.routing.unwrap().via, ModelRoute::Egress);

        let claim = claimed(&w, &node, &task, &job, "b1").await;
        assert!(claim.spec.hosted && claim.spec.inference);
        assert_eq!(claim.spec.model.as_deref(), Some("acme/big"));
        assert!(allowed(&w, &node, &job, &call(&task, &claim, "acme/big"))
            .await
            .is_ok());
        let other = allowed(&w, &node, &job, &call(&task, &claim, "acme/other")).await;
        assert_eq!(other.unwrap_err().code, ErrorCode::ModelNotAllowed);
        // Another node, or the node's earlier claim after a restart, may not call.
        let stranger = allowed(
            &w,
            &NodeId::generate(),
            &job,
            &call(&task, &claim, "acme/big"),
        )
        .await;
        assert_eq!(stranger.unwrap_err().code, ErrorCode::StaleAttempt);
        let again = claimed(&w, &node, &task, &job, "b2").await;
        let stale = allowed(&w, &node, &job, &call(&task, &claim, "acme/big")).await;
        assert_eq!(stale.unwrap_err().code, ErrorCode::StaleAttempt);
        // A lease that ran out without a heartbeat no longer calls.
        w.clock.advance(time::Duration::seconds(61));
        let expired = allowed(&w, &node, &job, &call(&task, &again, "acme/big")).await;
        assert_eq!(expired.unwrap_err().code, ErrorCode::StaleAttempt);
    }

    #[tokio::test]
    async fn a_node_models_task_calls_nothing_through_the_egress() {
        let w = world().await;
        let node = NodeId::generate();
        let (task, job) = created(
            &w,
            CreateTaskRequest {
                commands: Some(vec!["ask".into()]),
                model: Some("tiny".into()),
                ..Default::default()
            },
        )
        .await;
        let claim = claimed(&w, &node, &task, &job, "b1").await;
        assert!(!claim.spec.hosted);
        let refused = allowed(&w, &node, &job, &call(&task, &claim, "tiny")).await;
        assert_eq!(refused.unwrap_err().code, ErrorCode::ModelNotAllowed);
    }

    #[tokio::test]
    async fn a_preferred_hosted_model_routes_prompts_and_an_unoffered_one_is_refused() {
        let w = world().await;
        let node = NodeId::generate();
        let value = StoredPreference {
            key: "task.default_model".into(),
            value: json!("acme/big"),
            updated_at: w.clock.now(),
        };
        w.store
            .put_preference(&PreferenceTarget::User(w.alice.user_id.clone()), &value)
            .await
            .unwrap();
        let (task, job) = created(
            &w,
            CreateTaskRequest {
                prompt: Some("What is 2+2?".into()),
                ..Default::default()
            },
        )
        .await;
        let routing = w
            .tasks
            .get(&w.alice, task.as_str())
            .await
            .unwrap()
            .routing
            .unwrap();
        assert_eq!(routing.model.as_deref(), Some("acme/big"));
        assert!(routing
            .reason
            .starts_with("task.default_model (user) names hosted acme/big"));
        let claim = claimed(&w, &node, &task, &job, "b1").await;
        assert!(claim.spec.hosted && !claim.spec.agent_chat);
        assert_eq!(claim.spec.model.as_deref(), Some("acme/big"));

        let refused = w
            .tasks
            .create(
                &w.alice,
                CreateTaskRequest {
                    commands: Some(vec!["ask".into()]),
                    model: Some("acme/huge".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::ModelNotFound);
    }

    #[tokio::test]
    async fn a_hosted_tasks_job_goes_only_to_a_node_that_runs_hosted_models() {
        use crate::ports::NodeStore;
        use crate::wire::{CapabilityReport, RegisterNodeRequest};
        let w = world().await;
        let register = RegisterNodeRequest {
            pre_shared_key: "psk".into(),
            node_name: "old-node".into(),
            capabilities: CapabilityReport::default(),
            node_secret: None,
        };
        let id = w.nodes.register(register).await.unwrap().node_id;
        let (task, job) = created(
            &w,
            CreateTaskRequest {
                commands: Some(vec!["ask".into()]),
                model: Some("acme/big".into()),
                ..Default::default()
            },
        )
        .await;
        let started = || JobStartedRequest {
            task_id: task.clone(),
            boot_id: "b1".into(),
            receive_count: 1,
        };
        let node = w.store.node(&id).await.unwrap().unwrap();
        let decision = w.jobs.started_on(&node, &job, started()).await.unwrap();
        assert!(
            matches!(&decision, ClaimDecision::Elsewhere { reason, .. } if reason.contains("hosted models")),
            "{decision:?}"
        );
        let report = CapabilityReport {
            hosted_models: true,
            ..CapabilityReport::default()
        };
        w.nodes.report_capabilities(&node, report).await.unwrap();
        let node = w.store.node(&id).await.unwrap().unwrap();
        let decision = w.jobs.started_on(&node, &job, started()).await.unwrap();
        assert!(matches!(decision, ClaimDecision::Run(_)), "{decision:?}");
    }
}
