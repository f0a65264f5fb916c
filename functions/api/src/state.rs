//! The services every handler reaches through axum's state, built once per process.

use std::sync::Arc;

use axum::extract::FromRef;
use cynode_aws::{Adapters, Clients, Resources};
use cynode_domain::clock::SystemClock;
use cynode_domain::memory::MemoryStore;
use cynode_domain::node::NodeSettings;
use cynode_domain::ports::{
    BlobStore, DeadLetters, JobQueue, NodeStore, ProjectStore, SessionStore, TaskStore,
    ThreadStore, UserStore,
};
use cynode_domain::service::{
    AuthService, ChatService, JobService, NodeService, PlanService, ProjectService,
    RecoveryService, TaskService,
};
use cynode_domain::session::AccessTokens;
use cynode_domain::signing::NodeKeys;

use crate::config::{ConfigError, GatewayConfig};

#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<AuthService>,
    pub tasks: Arc<TaskService>,
    pub nodes: Arc<NodeService>,
    pub jobs: Arc<JobService>,
    pub chat: Arc<ChatService>,
    pub recovery: Arc<RecoveryService>,
    pub projects: Arc<ProjectService>,
    pub plans: Arc<PlanService>,
}

impl FromRef<AppState> for Arc<AuthService> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Every port the services use: the AWS adapters in a deployment, the memory store in
/// the in-process property tests.
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub tasks: Arc<dyn TaskStore>,
    pub threads: Arc<dyn ThreadStore>,
    pub nodes: Arc<dyn NodeStore>,
    pub projects: Arc<dyn ProjectStore>,
    pub queue: Arc<dyn JobQueue>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue_url: String,
    pub inference_queue_url: String,
}

impl From<Adapters> for Ports {
    fn from(adapters: Adapters) -> Self {
        let queue = Arc::new(adapters.queue);
        Self {
            users: Arc::new(adapters.users),
            sessions: Arc::new(adapters.sessions),
            tasks: Arc::new(adapters.tasks),
            threads: Arc::new(adapters.threads),
            nodes: Arc::new(adapters.nodes),
            projects: Arc::new(adapters.projects),
            queue_url: queue.queue_url().to_owned(),
            inference_queue_url: queue.inference_queue_url().to_owned(),
            dead_letters: queue.clone(),
            queue,
            blobs: Arc::new(adapters.blobs),
        }
    }
}

impl Ports {
    /// Every port in one in-memory store (for in-process tests).
    pub fn memory(store: Arc<MemoryStore>) -> Self {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            tasks: store.clone(),
            threads: store.clone(),
            nodes: store.clone(),
            projects: store.clone(),
            queue: store.clone(),
            dead_letters: store.clone(),
            blobs: store,
            queue_url: "memory://jobs".into(),
            inference_queue_url: "memory://inference".into(),
        }
    }
}

impl AppState {
    /// Wires the services to the AWS adapters of the deployment named by the environment,
    /// and creates the configured admin user on first start.
    pub async fn from_env() -> anyhow::Result<Self> {
        let config = GatewayConfig::from_env()?;
        let resources = Resources::from_env().map_err(ConfigError::from)?;
        let clients = Clients::from_env().await;
        let state = Self::new(&config, Adapters::new(&clients, &resources).into());
        if let Some(password) = &config.admin_password {
            state
                .auth
                .bootstrap_admin(&config.admin_handle, password)
                .await
                .map_err(|err| anyhow::anyhow!("creating the admin user: {err}"))?;
        }
        Ok(state)
    }

    pub fn new(config: &GatewayConfig, ports: Ports) -> Self {
        let clock = Arc::new(SystemClock);
        let keys = NodeKeys::new(config.node_key_secret.clone());
        let Ports {
            users,
            sessions,
            tasks,
            threads,
            nodes,
            projects,
            queue,
            dead_letters,
            blobs,
            queue_url,
            inference_queue_url,
        } = ports;
        let project_service = Arc::new(ProjectService::new(projects.clone(), clock.clone()));
        let task_service = Arc::new(
            TaskService::new(
                tasks.clone(),
                queue.clone(),
                blobs.clone(),
                clock.clone(),
                config.tasks.clone(),
            )
            .with_projects(project_service.clone()),
        );
        Self {
            plans: Arc::new(PlanService::new(
                tasks.clone(),
                queue.clone(),
                clock.clone(),
                task_service.clone(),
                config.jobs.lease_secs,
            )),
            projects: project_service,
            recovery: Arc::new(
                RecoveryService::new(
                    tasks.clone(),
                    queue.clone(),
                    dead_letters,
                    clock.clone(),
                    config.recovery.clone(),
                    config.jobs.lease_secs,
                )
                .with_plan_policy(config.plans.clone()),
            ),
            chat: Arc::new(ChatService::new(
                threads,
                task_service.clone(),
                clock.clone(),
            )),
            auth: Arc::new(AuthService::new(
                users,
                sessions,
                AccessTokens::new(&config.jwt_secret, config.auth.access_ttl_secs),
                clock.clone(),
                config.auth.clone(),
            )),
            tasks: task_service,
            nodes: Arc::new(NodeService::new(
                nodes,
                tasks.clone(),
                clock.clone(),
                keys.clone(),
                config.node_pre_shared_keys.clone(),
                NodeSettings {
                    queue_url,
                    inference_queue_url: Some(inference_queue_url),
                    heartbeat_interval_secs: config.heartbeat_interval_secs,
                    lease_secs: config.jobs.lease_secs,
                    default_timeout_secs: config.default_timeout_secs,
                    max_timeout_secs: config.max_timeout_secs,
                    stale_secs: config.node_stale_secs,
                },
            )),
            jobs: Arc::new(
                JobService::new(tasks, blobs, clock, keys, config.jobs.clone()).with_planning(
                    queue,
                    projects,
                    config.plans.clone(),
                ),
            ),
        }
    }
}
