//! The services every handler reaches through axum's state, built once per process.

use std::sync::Arc;

use axum::extract::FromRef;
use cynode_aws::{Adapters, Clients, Resources};
use cynode_domain::clock::SystemClock;
use cynode_domain::node::NodeSettings;
use cynode_domain::service::{
    AuthService, ChatService, JobService, NodeService, RecoveryService, TaskService,
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
}

impl FromRef<AppState> for Arc<AuthService> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl AppState {
    /// Wires the services to the AWS adapters of the deployment named by the environment,
    /// and creates the configured admin user on first start.
    pub async fn from_env() -> anyhow::Result<Self> {
        let config = GatewayConfig::from_env()?;
        let resources = Resources::from_env().map_err(ConfigError::from)?;
        let clients = Clients::from_env().await;
        let state = Self::new(&config, Adapters::new(&clients, &resources));
        if let Some(password) = &config.admin_password {
            state
                .auth
                .bootstrap_admin(&config.admin_handle, password)
                .await
                .map_err(|err| anyhow::anyhow!("creating the admin user: {err}"))?;
        }
        Ok(state)
    }

    pub fn new(config: &GatewayConfig, adapters: Adapters) -> Self {
        let clock = Arc::new(SystemClock);
        let keys = NodeKeys::new(config.node_key_secret.clone());
        let queue_url = adapters.queue.queue_url().to_owned();
        let inference_queue_url = adapters.queue.inference_queue_url().to_owned();
        let Adapters {
            users,
            sessions,
            tasks,
            threads,
            nodes,
            queue,
            blobs,
        } = adapters;
        let (tasks, blobs, queue) = (Arc::new(tasks), Arc::new(blobs), Arc::new(queue));
        let task_service = Arc::new(TaskService::new(
            tasks.clone(),
            queue.clone(),
            blobs.clone(),
            clock.clone(),
            config.tasks.clone(),
        ));
        Self {
            recovery: Arc::new(RecoveryService::new(
                tasks.clone(),
                queue.clone(),
                queue,
                clock.clone(),
                config.recovery.clone(),
                config.jobs.lease_secs,
            )),
            chat: Arc::new(ChatService::new(
                Arc::new(threads),
                task_service.clone(),
                clock.clone(),
            )),
            auth: Arc::new(AuthService::new(
                Arc::new(users),
                Arc::new(sessions),
                AccessTokens::new(&config.jwt_secret, config.auth.access_ttl_secs),
                clock.clone(),
                config.auth.clone(),
            )),
            tasks: task_service,
            nodes: Arc::new(NodeService::new(
                Arc::new(nodes),
                tasks.clone(),
                clock.clone(),
                keys.clone(),
                config.node_pre_shared_key.clone(),
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
            jobs: Arc::new(JobService::new(
                tasks,
                blobs,
                clock,
                keys,
                config.jobs.clone(),
            )),
        }
    }
}
