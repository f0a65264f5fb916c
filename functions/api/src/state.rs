//! The services every handler reaches through axum's state, each built on first use
//! and kept for the life of the process (a warm Lambda environment).

use std::sync::{Arc, OnceLock};

use axum::extract::FromRef;
use cynode_aws::sts::StsCredentialIssuer;
use cynode_aws::{Adapters, Clients, Resources};
use cynode_domain::clock::SystemClock;
use cynode_domain::memory::MemoryStore;
use cynode_domain::node::NodeSettings;
use cynode_domain::ports::{
    ApiKeyStore, AuditLog, BlobStore, CredentialCipher, CredentialIssuer, CredentialStore,
    DeadLetters, JobQueue, LogStore, NodeStore, PreferenceStore, ProjectStore, ProviderStore,
    SessionStore, SettingsStore, SkillStore, StreamStore, TaskStore, ThreadStore, UsageStore,
    UserStore,
};
use cynode_domain::service::tasks::ModelRouter;
use cynode_domain::service::{
    ApiKeyService, AuditService, Auditor, AuthService, ChatService, CredentialService,
    EgressService, JobService, NodeService, PlanService, PreferenceService, ProjectService,
    ProviderService, RecoveryService, SettingsService, SkillService, StreamService, TaskService,
    UsageService, UserService,
};
use cynode_domain::session::AccessTokens;
use cynode_domain::signing::NodeKeys;
use cynode_domain::wire::SweepReport;

use crate::config::{ConfigError, GatewayConfig, SecretName, Secrets};

/// The services a function's handlers reach. Each is built on first use, so a function
/// builds only the services its own routes touch (the auth function never builds the
/// task service, the callbacks function never the auth service).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: GatewayConfig,
    ports: Ports,
    clock: Arc<SystemClock>,
    queue_credentials: Option<Arc<dyn CredentialIssuer>>,
    auth: OnceLock<Arc<AuthService>>,
    users: OnceLock<Arc<UserService>>,
    api_keys: OnceLock<Arc<ApiKeyService>>,
    tasks: OnceLock<Arc<TaskService>>,
    nodes: OnceLock<Arc<NodeService>>,
    jobs: OnceLock<Arc<JobService>>,
    chat: OnceLock<Arc<ChatService>>,
    recovery: OnceLock<Arc<RecoveryService>>,
    projects: OnceLock<Arc<ProjectService>>,
    stored_credentials: OnceLock<Arc<CredentialService>>,
    plans: OnceLock<Arc<PlanService>>,
    preferences: OnceLock<Arc<PreferenceService>>,
    audit: OnceLock<Arc<AuditService>>,
    settings: OnceLock<Arc<SettingsService>>,
    skills: OnceLock<Arc<SkillService>>,
    providers: OnceLock<Arc<ProviderService>>,
    egress: OnceLock<Arc<EgressService>>,
    egress_client: OnceLock<crate::egress::EgressClient>,
    streams: OnceLock<Arc<StreamService>>,
    usage: OnceLock<Arc<UsageService>>,
}

impl FromRef<AppState> for Arc<AuthService> {
    fn from_ref(state: &AppState) -> Self {
        state.auth().clone()
    }
}

/// Every port the services use: the AWS adapters in a deployment, the memory store in
/// the in-process property tests.
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    pub tasks: Arc<dyn TaskStore>,
    pub logs: Arc<dyn LogStore>,
    pub threads: Arc<dyn ThreadStore>,
    pub nodes: Arc<dyn NodeStore>,
    pub projects: Arc<dyn ProjectStore>,
    pub credentials: Arc<dyn CredentialStore>,
    /// Seals stored credentials; `None` where no key is configured.
    pub cipher: Option<Arc<dyn CredentialCipher>>,
    pub preferences: Arc<dyn PreferenceStore>,
    pub audit: Arc<dyn AuditLog>,
    pub settings: Arc<dyn SettingsStore>,
    pub skills: Arc<dyn SkillStore>,
    pub providers: Arc<dyn ProviderStore>,
    pub streams: Arc<dyn StreamStore>,
    pub usage: Arc<dyn UsageStore>,
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
            api_keys: Arc::new(adapters.api_keys),
            tasks: Arc::new(adapters.tasks),
            logs: Arc::new(adapters.logs),
            threads: Arc::new(adapters.threads),
            nodes: Arc::new(adapters.nodes),
            projects: Arc::new(adapters.projects),
            credentials: Arc::new(adapters.credentials),
            cipher: adapters
                .cipher
                .map(|cipher| Arc::new(cipher) as Arc<dyn CredentialCipher>),
            preferences: Arc::new(adapters.preferences),
            audit: Arc::new(adapters.audit),
            settings: Arc::new(adapters.settings),
            skills: Arc::new(adapters.skills),
            providers: Arc::new(adapters.providers),
            streams: Arc::new(adapters.streams),
            usage: Arc::new(adapters.usage),
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
            api_keys: store.clone(),
            tasks: store.clone(),
            logs: store.clone(),
            threads: store.clone(),
            nodes: store.clone(),
            projects: store.clone(),
            credentials: store.clone(),
            cipher: Some(store.clone()),
            preferences: store.clone(),
            audit: store.clone(),
            settings: store.clone(),
            skills: store.clone(),
            providers: store.clone(),
            streams: store.clone(),
            usage: store.clone(),
            queue: store.clone(),
            dead_letters: store.clone(),
            blobs: store,
            queue_url: "memory://jobs".into(),
            inference_queue_url: "memory://inference".into(),
        }
    }
}

impl AppState {
    /// Wires `function`'s services to the AWS adapters of the deployment named by the
    /// environment, with the secrets that function needs (fetched once, here). Nothing
    /// else happens at start: the admin is created by the bootstrap step, not here.
    pub async fn from_env(needed: &[SecretName]) -> anyhow::Result<Self> {
        let mut config = GatewayConfig::from_env()?;
        let resources = Resources::from_env().map_err(ConfigError::from)?;
        let clients = Clients::from_env().await;
        config.secrets =
            Secrets::fetch(needed, &clients.secrets, &|name| std::env::var(name).ok()).await?;
        let issuer = config.node_role_arn.clone().map(|role| {
            Arc::new(StsCredentialIssuer::new(
                clients.sts.clone(),
                role,
                config.node_credential_secs,
            )) as Arc<dyn CredentialIssuer>
        });
        Ok(Self::build(
            &config,
            Adapters::new(&clients, &resources).into(),
            issuer,
        ))
    }

    /// Services over `ports`, issuing nodes no queue credentials (in-process tests).
    pub fn new(config: &GatewayConfig, ports: Ports) -> Self {
        Self::build(config, ports, None)
    }

    fn build(
        config: &GatewayConfig,
        ports: Ports,
        credentials: Option<Arc<dyn CredentialIssuer>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                ports,
                clock: Arc::new(SystemClock),
                queue_credentials: credentials,
                auth: OnceLock::new(),
                users: OnceLock::new(),
                api_keys: OnceLock::new(),
                usage: OnceLock::new(),
                tasks: OnceLock::new(),
                nodes: OnceLock::new(),
                jobs: OnceLock::new(),
                chat: OnceLock::new(),
                recovery: OnceLock::new(),
                projects: OnceLock::new(),
                stored_credentials: OnceLock::new(),
                plans: OnceLock::new(),
                preferences: OnceLock::new(),
                audit: OnceLock::new(),
                settings: OnceLock::new(),
                skills: OnceLock::new(),
                providers: OnceLock::new(),
                egress: OnceLock::new(),
                egress_client: OnceLock::new(),
                streams: OnceLock::new(),
            }),
        }
    }

    /// The admin's handle and, in the bootstrap step, its password.
    pub fn admin_login(&self) -> (String, Option<String>) {
        let config = self.config();
        (
            config.admin_handle.clone(),
            config.secrets.admin_password.clone(),
        )
    }

    /// The settings this process started with.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    /// Node signing keys. A process that did not fetch the node key secret gets a random
    /// key nobody knows: it can verify no node signature, and it has no route that asks.
    fn node_keys(&self) -> NodeKeys {
        NodeKeys::new(
            self.config()
                .secrets
                .node_key
                .clone()
                .unwrap_or_else(unknown_key),
        )
    }

    pub fn auth(&self) -> &Arc<AuthService> {
        self.inner.auth.get_or_init(|| {
            let config = self.config();
            // Without the JWT key (the sweeper, the bootstrap step) no token verifies.
            let key = config.secrets.jwt_key.clone().unwrap_or_else(unknown_key);
            Arc::new(
                AuthService::new(
                    self.inner.ports.users.clone(),
                    self.inner.ports.sessions.clone(),
                    self.inner.ports.api_keys.clone(),
                    AccessTokens::new(&key, config.auth.access_ttl_secs),
                    self.inner.clock.clone(),
                    config.auth.clone(),
                )
                .with_audit(self.auditor()),
            )
        })
    }

    /// What every recording service writes the audit trail with.
    fn auditor(&self) -> Auditor {
        Auditor::new(
            self.inner.ports.audit.clone(),
            self.inner.clock.clone(),
            self.config().audit_retention_days,
        )
    }

    pub fn audit(&self) -> &Arc<AuditService> {
        self.inner.audit.get_or_init(|| {
            Arc::new(AuditService::new(
                self.inner.ports.audit.clone(),
                self.inner.ports.users.clone(),
                self.inner.clock.clone(),
                self.config().audit_retention_days,
            ))
        })
    }

    /// The system settings in force (each function's own short cache of them).
    pub fn settings(&self) -> &Arc<SettingsService> {
        self.inner.settings.get_or_init(|| {
            let config = self.config();
            Arc::new(
                SettingsService::new(
                    self.inner.ports.settings.clone(),
                    self.inner.clock.clone(),
                    config.deployment_settings(),
                    config.settings_cache_secs,
                )
                .with_audit(self.auditor()),
            )
        })
    }

    pub fn skills(&self) -> &Arc<SkillService> {
        self.inner.skills.get_or_init(|| {
            Arc::new(SkillService::new(
                self.inner.ports.skills.clone(),
                self.projects().clone(),
                self.inner.clock.clone(),
            ))
        })
    }

    /// The hosted model providers' registry.
    pub fn providers(&self) -> &Arc<ProviderService> {
        self.inner.providers.get_or_init(|| {
            let ports = &self.inner.ports;
            Arc::new(
                ProviderService::new(
                    ports.providers.clone(),
                    ports.credentials.clone(),
                    self.inner.clock.clone(),
                    self.inner.config.egress_plain_http_hosts.clone(),
                )
                .with_audit(self.auditor()),
            )
        })
    }

    /// The egress's rules: which provider model, which credential, within which limits,
    /// and the record of each call.
    pub fn egress(&self) -> &Arc<EgressService> {
        self.inner.egress.get_or_init(|| {
            let ports = &self.inner.ports;
            Arc::new(
                EgressService::new(
                    self.providers().clone(),
                    self.credentials().clone(),
                    ports.usage.clone(),
                    self.settings().clone(),
                    self.inner.clock.clone(),
                )
                .with_users(ports.users.clone())
                .with_audit(self.auditor()),
            )
        })
    }

    /// The egress's HTTP client, the one that calls providers.
    pub fn egress_client(&self) -> &crate::egress::EgressClient {
        self.inner.egress_client.get_or_init(|| {
            crate::egress::EgressClient::new(std::time::Duration::from_secs(
                self.inner.config.egress_timeout_secs,
            ))
        })
    }

    pub fn users(&self) -> &Arc<UserService> {
        self.inner.users.get_or_init(|| {
            Arc::new(
                UserService::new(self.inner.ports.users.clone(), self.inner.clock.clone())
                    .with_audit(self.auditor()),
            )
        })
    }

    pub fn api_keys(&self) -> &Arc<ApiKeyService> {
        self.inner.api_keys.get_or_init(|| {
            Arc::new(
                ApiKeyService::new(
                    self.inner.ports.api_keys.clone(),
                    self.inner.ports.users.clone(),
                    self.inner.clock.clone(),
                )
                .with_audit(self.auditor()),
            )
        })
    }

    pub fn usage(&self) -> &Arc<UsageService> {
        self.inner.usage.get_or_init(|| {
            Arc::new(
                UsageService::new(
                    self.inner.ports.usage.clone(),
                    self.inner.ports.users.clone(),
                    self.inner.clock.clone(),
                )
                .with_budget(self.settings().clone()),
            )
        })
    }

    pub fn projects(&self) -> &Arc<ProjectService> {
        self.inner.projects.get_or_init(|| {
            Arc::new(
                ProjectService::new(self.inner.ports.projects.clone(), self.inner.clock.clone())
                    .with_credentials(self.inner.ports.credentials.clone()),
            )
        })
    }

    /// Users' stored credentials.
    pub fn credentials(&self) -> &Arc<CredentialService> {
        self.inner.stored_credentials.get_or_init(|| {
            let ports = &self.inner.ports;
            Arc::new(
                CredentialService::new(
                    ports.credentials.clone(),
                    ports.cipher.clone(),
                    ports.projects.clone(),
                    self.inner.clock.clone(),
                )
                .with_audit(self.auditor()),
            )
        })
    }

    pub fn tasks(&self) -> &Arc<TaskService> {
        self.inner.tasks.get_or_init(|| {
            let ports = &self.inner.ports;
            Arc::new(
                TaskService::new(
                    ports.tasks.clone(),
                    ports.queue.clone(),
                    ports.blobs.clone(),
                    self.inner.clock.clone(),
                    self.config().tasks.clone(),
                )
                .with_projects(self.projects().clone())
                .with_settings(self.settings().clone())
                .with_logs(ports.logs.clone())
                .with_router(Arc::new(ModelRouter::new(
                    ports.preferences.clone(),
                    self.nodes().clone(),
                    self.providers().clone(),
                ))),
            )
        })
    }

    pub fn plans(&self) -> &Arc<PlanService> {
        self.inner.plans.get_or_init(|| {
            let ports = &self.inner.ports;
            Arc::new(PlanService::new(
                ports.tasks.clone(),
                ports.queue.clone(),
                self.inner.clock.clone(),
                self.tasks().clone(),
                self.config().jobs.lease_secs,
            ))
        })
    }

    pub fn preferences(&self) -> &Arc<PreferenceService> {
        self.inner.preferences.get_or_init(|| {
            Arc::new(
                PreferenceService::new(
                    self.inner.ports.preferences.clone(),
                    self.tasks().clone(),
                    self.projects().clone(),
                    self.inner.clock.clone(),
                )
                .with_audit(self.auditor()),
            )
        })
    }

    /// One sweep: recovery from faults, then retention of finished tasks.
    pub async fn sweep(&self) -> Result<SweepReport, cynode_domain::Error> {
        let mut report = self.recovery().sweep().await?;
        report.expired_tasks = self.tasks().remove_expired().await?;
        Ok(report)
    }

    pub fn recovery(&self) -> &Arc<RecoveryService> {
        self.inner.recovery.get_or_init(|| {
            let ports = &self.inner.ports;
            let config = self.config();
            Arc::new(
                RecoveryService::new(
                    ports.tasks.clone(),
                    ports.queue.clone(),
                    ports.dead_letters.clone(),
                    self.inner.clock.clone(),
                    config.recovery.clone(),
                    config.jobs.lease_secs,
                )
                .with_plan_policy(config.plans.clone())
                .with_settings(self.settings().clone()),
            )
        })
    }

    pub fn streams(&self) -> &Arc<StreamService> {
        self.inner.streams.get_or_init(|| {
            let ports = &self.inner.ports;
            Arc::new(
                StreamService::new(
                    ports.streams.clone(),
                    ports.users.clone(),
                    ports.sessions.clone(),
                    ports.api_keys.clone(),
                    self.inner.clock.clone(),
                    self.config().streams.clone(),
                )
                .with_settings(self.settings().clone()),
            )
        })
    }

    pub fn chat(&self) -> &Arc<ChatService> {
        self.inner.chat.get_or_init(|| {
            Arc::new(ChatService::new(
                self.inner.ports.threads.clone(),
                self.tasks().clone(),
                self.inner.clock.clone(),
            ))
        })
    }

    pub fn nodes(&self) -> &Arc<NodeService> {
        self.inner.nodes.get_or_init(|| {
            let ports = &self.inner.ports;
            let config = self.config();
            let service = NodeService::new(
                ports.nodes.clone(),
                ports.tasks.clone(),
                self.inner.clock.clone(),
                self.node_keys(),
                config.secrets.node_psks.clone(),
                NodeSettings {
                    queue_url: ports.queue_url.clone(),
                    inference_queue_url: Some(ports.inference_queue_url.clone()),
                    heartbeat_interval_secs: config.heartbeat_interval_secs,
                    lease_secs: config.jobs.lease_secs,
                    default_timeout_secs: config.default_timeout_secs,
                    max_timeout_secs: config.max_timeout_secs,
                    stale_secs: config.node_stale_secs,
                },
            );
            let service = service
                .with_audit(self.auditor())
                .with_settings(self.settings().clone());
            Arc::new(match &self.inner.queue_credentials {
                Some(issuer) => service.with_credentials(issuer.clone()),
                None => service,
            })
        })
    }

    pub fn jobs(&self) -> &Arc<JobService> {
        self.inner.jobs.get_or_init(|| {
            let ports = &self.inner.ports;
            let config = self.config();
            Arc::new(
                JobService::new(
                    ports.tasks.clone(),
                    ports.blobs.clone(),
                    self.inner.clock.clone(),
                    self.node_keys(),
                    config.jobs.clone(),
                )
                .with_planning(
                    ports.queue.clone(),
                    ports.projects.clone(),
                    config.plans.clone(),
                )
                .with_credentials(self.credentials().clone())
                .with_settings(self.settings().clone())
                .with_logs(ports.logs.clone())
                .with_preferences(ports.preferences.clone())
                .with_skills(ports.skills.clone())
                .with_audit(self.auditor()),
            )
        })
    }
}

/// 32 random bytes: a key for a secret this process does not hold.
fn unknown_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).expect("the OS provides randomness");
    key
}
