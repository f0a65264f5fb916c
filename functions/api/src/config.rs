//! The gateway's settings, from the environment the deployment template sets, and its
//! secrets, from Secrets Manager.
//!
//! The environment names each secret by ARN (`CYNODE_JWT_SECRET_ID`,
//! `CYNODE_NODE_KEY_SECRET_ID`, `CYNODE_NODE_PSK_SECRET_ID`,
//! `CYNODE_ADMIN_PASSWORD_SECRET_ID`); a process fetches only the secrets its function
//! needs ([`SecretName`]), once, at start. The values go to the services and nowhere else:
//! no Debug output shows them and nothing logs them. Only in-process tests give values
//! themselves ([`Secrets::from_values`]).

use cynode_domain::job::RecoveryPolicy;
use cynode_domain::limits::{DEFAULT_JOB_TIMEOUT_SECS, MAX_JOB_TIMEOUT_SECS};
use cynode_domain::plan::PlanPolicy;
use cynode_domain::service::audit::DEFAULT_AUDIT_RETENTION_DAYS;
use cynode_domain::service::settings::DEFAULT_SETTINGS_CACHE_SECS;
use cynode_domain::service::{AuthSettings, JobSettings, StreamSettings, TaskSettings};
use cynode_domain::settings::Settings;

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Resources(#[from] cynode_aws::MissingSetting),
}

/// Everything the gateway needs besides the AWS resources.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The secrets this process fetched (see [`Secrets::fetch`]); empty until then.
    pub secrets: Secrets,
    pub admin_handle: String,
    /// How long a node's queue credentials last, and the role they are issued under
    /// (`CYNODE_NODE_ROLE_ARN`; none: nodes get no credentials from the gateway).
    pub node_credential_secs: u32,
    pub node_role_arn: Option<String>,
    pub auth: AuthSettings,
    pub tasks: TaskSettings,
    pub jobs: JobSettings,
    /// Open streams per user and how long one lasts.
    pub streams: StreamSettings,
    pub recovery: RecoveryPolicy,
    /// Planner and worker attempts and the worker backoff.
    pub plans: PlanPolicy,
    /// How often the local gateway sweeps (in AWS a schedule invokes the sweeper).
    pub sweep_interval_secs: u64,
    /// Seconds a function keeps the system settings it read
    /// (`CYNODE_SETTINGS_CACHE_SECS`, 10).
    pub settings_cache_secs: u64,
    /// Days an audit event is kept (`CYNODE_AUDIT_RETENTION_DAYS`, 365).
    pub audit_retention_days: u32,
    /// Hosts a provider's base URL may name over plain http, such as a vLLM on the
    /// local network (`CYNODE_EGRESS_PLAIN_HTTP_HOSTS`, comma-separated; none).
    pub egress_plain_http_hosts: Vec<String>,
    /// Seconds the egress waits for a provider: for its answer's first byte, and then
    /// between two pieces of a streamed answer (`CYNODE_EGRESS_TIMEOUT_SECS`, 120).
    pub egress_timeout_secs: u64,
    pub heartbeat_interval_secs: u64,
    /// A node not seen for this long does not count for `/readyz`.
    pub node_stale_secs: u64,
    pub default_timeout_secs: u64,
    pub max_timeout_secs: u64,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("admin_handle", &self.admin_handle)
            .field("auth", &self.auth)
            .field("tasks", &self.tasks)
            .field("jobs", &self.jobs)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A count that may be 0 (a quota of 0: no limit).
fn count(env: Lookup, name: &'static str, default: u32) -> Result<u32, ConfigError> {
    match env(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| ConfigError::Invalid(name, format!("'{text}' is not a whole number"))),
    }
}

fn number(env: Lookup, name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match env(name) {
        None => Ok(default),
        Some(text) => text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            ConfigError::Invalid(name, format!("'{text}' is not a positive integer"))
        }),
    }
}

impl GatewayConfig {
    /// The system settings this deployment starts with (admins override them at run
    /// time: `SettingsService`).
    pub fn deployment_settings(&self) -> Settings {
        Settings {
            max_unfinished_tasks: self.tasks.max_unfinished_per_user,
            max_open_streams: self.streams.max_open_per_user,
            node_stale_secs: self.node_stale_secs,
            task_retention_secs: self.tasks.retention_secs,
            planner_max_attempts: self.plans.max_planner_attempts,
            worker_max_attempts: self.plans.max_worker_attempts,
            // No limits until an admin sets them (`egress.*` settings).
            egress: Default::default(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&|name| std::env::var(name).ok())
    }

    /// The settings from `env` (the environment, or a test's own table).
    pub fn from_settings(env: Lookup) -> Result<Self, ConfigError> {
        let lease_secs = number(env, "CYNODE_JOB_LEASE_SECS", 60)?;
        let heartbeat_interval_secs = number(env, "CYNODE_HEARTBEAT_INTERVAL_SECS", 5)?;
        if heartbeat_interval_secs * 2 > lease_secs {
            return Err(ConfigError::Invalid(
                "CYNODE_HEARTBEAT_INTERVAL_SECS",
                format!("must be at most half of CYNODE_JOB_LEASE_SECS ({lease_secs})"),
            ));
        }
        let max_timeout_secs = number(env, "CYNODE_MAX_JOB_TIMEOUT_SECS", MAX_JOB_TIMEOUT_SECS)?
            .min(MAX_JOB_TIMEOUT_SECS);
        Ok(Self {
            secrets: Secrets::default(),
            admin_handle: env("CYNODE_ADMIN_HANDLE").unwrap_or_else(|| "admin".into()),
            node_credential_secs: number(env, "CYNODE_NODE_CREDENTIAL_SECS", 3600)?.clamp(900, 3600)
                as u32,
            node_role_arn: env("CYNODE_NODE_ROLE_ARN").filter(|arn| !arn.is_empty()),
            auth: AuthSettings {
                access_ttl_secs: number(env, "CYNODE_ACCESS_TOKEN_TTL_SECS", 900)?,
                refresh_ttl_secs: number(env, "CYNODE_REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
                max_login_failures: number(env, "CYNODE_LOGIN_MAX_FAILURES", 5)? as u32,
                login_window_secs: number(env, "CYNODE_LOGIN_WINDOW_SECS", 900)?,
            },
            tasks: TaskSettings {
                lease_secs,
                upload_url_ttl_secs: 900,
                max_unfinished_per_user: count(env, "CYNODE_MAX_UNFINISHED_TASKS", 100)?,
                retention_secs: number(env, "CYNODE_TASK_RETENTION_SECS", 0)?,
            },
            streams: StreamSettings {
                max_open_per_user: count(env, "CYNODE_MAX_OPEN_STREAMS", 8)?,
                max_lifetime_secs: number(env, "CYNODE_STREAM_MAX_SECS", 330)?.max(5),
                check_secs: number(env, "CYNODE_STREAM_CHECK_SECS", 30)?.min(30),
            },
            jobs: JobSettings {
                lease_secs,
                download_url_ttl_secs: 3600,
            },
            recovery: RecoveryPolicy {
                stale_after_secs: number(env, "CYNODE_RECOVERY_STALE_SECS", 600)?,
                max_redrives: number(env, "CYNODE_RECOVERY_MAX_REQUEUES", 3)? as u32,
            },
            plans: PlanPolicy {
                max_planner_attempts: number(env, "CYNODE_PLANNER_MAX_ATTEMPTS", 3)?.max(1) as u32,
                max_worker_attempts: number(env, "CYNODE_WORKER_MAX_ATTEMPTS", 3)?.max(1) as u32,
                ..PlanPolicy::default()
            },
            sweep_interval_secs: number(env, "CYNODE_SWEEP_INTERVAL_SECS", 60)?,
            settings_cache_secs: count(
                env,
                "CYNODE_SETTINGS_CACHE_SECS",
                DEFAULT_SETTINGS_CACHE_SECS as u32,
            )?
            .min(300) as u64,
            audit_retention_days: number(
                env,
                "CYNODE_AUDIT_RETENTION_DAYS",
                u64::from(DEFAULT_AUDIT_RETENTION_DAYS),
            )?
            .min(3650) as u32,
            egress_plain_http_hosts: env("CYNODE_EGRESS_PLAIN_HTTP_HOSTS")
                .unwrap_or_default()
                .split(',')
                .map(|host| host.trim().to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
            egress_timeout_secs: number(env, "CYNODE_EGRESS_TIMEOUT_SECS", 120)?.min(900),
            heartbeat_interval_secs,
            node_stale_secs: number(env, "CYNODE_NODE_STALE_SECS", 120)?,
            default_timeout_secs: number(
                env,
                "CYNODE_DEFAULT_JOB_TIMEOUT_SECS",
                DEFAULT_JOB_TIMEOUT_SECS,
            )?
            .min(max_timeout_secs),
            max_timeout_secs,
        })
    }
}

/// A secret some function needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretName {
    /// Signs and checks user access tokens: every function with user routes.
    JwtKey,
    /// Derives node signing keys: the nodes and callbacks functions.
    NodeKey,
    /// What nodes register with: the nodes function.
    NodePsk,
    /// The first admin's password: the bootstrap step only.
    AdminPassword,
}

impl SecretName {
    pub const ALL: [SecretName; 4] = [
        SecretName::JwtKey,
        SecretName::NodeKey,
        SecretName::NodePsk,
        SecretName::AdminPassword,
    ];

    /// The variable holding the secret's ARN (or name) in Secrets Manager.
    pub fn id_variable(self) -> &'static str {
        match self {
            SecretName::JwtKey => "CYNODE_JWT_SECRET_ID",
            SecretName::NodeKey => "CYNODE_NODE_KEY_SECRET_ID",
            SecretName::NodePsk => "CYNODE_NODE_PSK_SECRET_ID",
            SecretName::AdminPassword => "CYNODE_ADMIN_PASSWORD_SECRET_ID",
        }
    }

    /// The variable an in-process test may put the value itself in.
    fn value_variable(self) -> &'static str {
        match self {
            SecretName::JwtKey => "CYNODE_JWT_SECRET",
            SecretName::NodeKey => "CYNODE_NODE_KEY_SECRET",
            SecretName::NodePsk => "CYNODE_NODE_PSK",
            SecretName::AdminPassword => "CYNODE_ADMIN_PASSWORD",
        }
    }

    fn check(self, value: &str) -> Result<(), ConfigError> {
        let (min, what) = match self {
            SecretName::JwtKey | SecretName::NodeKey => (32, "bytes"),
            SecretName::NodePsk => (MIN_PSK_CHARS, "characters"),
            SecretName::AdminPassword => (8, "characters"),
        };
        let len = if what == "bytes" {
            value.len()
        } else {
            value.chars().count()
        };
        if len < min {
            return Err(ConfigError::Invalid(
                self.id_variable(),
                format!("the secret must be at least {min} {what}"),
            ));
        }
        Ok(())
    }
}

/// A pre-shared key shorter than this is refused at start.
const MIN_PSK_CHARS: usize = 16;

/// The secret values one process holds. Debug shows which are present, never a value.
#[derive(Clone, Default)]
pub struct Secrets {
    pub jwt_key: Option<Vec<u8>>,
    pub node_key: Option<Vec<u8>>,
    /// The pre-shared keys nodes may register with: the current one and, during a
    /// rotation, the previous one (the secret's `AWSPREVIOUS` version).
    pub node_psks: Vec<String>,
    pub admin_password: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("jwt_key", &self.jwt_key.is_some())
            .field("node_key", &self.node_key.is_some())
            .field("node_psks", &self.node_psks.len())
            .field("admin_password", &self.admin_password.is_some())
            .finish()
    }
}

impl Secrets {
    /// Fetches `needed` from Secrets Manager, each named by its `*_SECRET_ID` variable,
    /// all at once (one round trip of cold start, however many secrets).
    pub async fn fetch(
        needed: &[SecretName],
        store: &cynode_aws::secrets::SecretStore,
        env: Lookup<'_>,
    ) -> Result<Self, ConfigError> {
        let mut ids = Vec::with_capacity(needed.len());
        for &name in needed {
            let id =
                env(name.id_variable())
                    .filter(|id| !id.is_empty())
                    .ok_or(ConfigError::Missing(
                        name.id_variable(),
                        "the ARN of the secret in Secrets Manager",
                    ))?;
            ids.push((name, id));
        }
        let fetched = futures_util::future::try_join_all(ids.iter().map(|(name, id)| async move {
            let unreadable = |err: cynode_aws::secrets::SecretError| {
                ConfigError::Invalid(name.id_variable(), err.to_string())
            };
            let (current, previous) = if *name == SecretName::NodePsk {
                let (current, previous) =
                    futures_util::future::join(store.current(id), store.previous(id)).await;
                (current.map_err(unreadable)?, previous.map_err(unreadable)?)
            } else {
                (store.current(id).await.map_err(unreadable)?, None)
            };
            Ok::<_, ConfigError>((*name, current, previous))
        }))
        .await?;
        let mut secrets = Secrets::default();
        for (name, current, previous) in fetched {
            secrets.set(name, current, previous)?;
        }
        Ok(secrets)
    }

    /// The values given in `env` itself (in-process tests).
    pub fn from_values(needed: &[SecretName], env: Lookup<'_>) -> Result<Self, ConfigError> {
        let mut secrets = Secrets::default();
        for &name in needed {
            let value = env(name.value_variable()).filter(|v| !v.is_empty()).ok_or(
                ConfigError::Missing(name.value_variable(), "a secret value"),
            )?;
            secrets.set(name, value, None)?;
        }
        Ok(secrets)
    }

    fn set(
        &mut self,
        name: SecretName,
        value: String,
        previous: Option<String>,
    ) -> Result<(), ConfigError> {
        name.check(&value)?;
        match name {
            SecretName::JwtKey => self.jwt_key = Some(value.into_bytes()),
            SecretName::NodeKey => self.node_key = Some(value.into_bytes()),
            SecretName::NodePsk => {
                self.node_psks = std::iter::once(value)
                    .chain(previous.filter(|p| name.check(p).is_ok()))
                    .collect();
            }
            SecretName::AdminPassword => self.admin_password = Some(value),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_and_never_shown() {
        let env = |name: &str| match name {
            "CYNODE_JWT_SECRET" => Some("j".repeat(32)),
            "CYNODE_NODE_PSK" => Some("short".into()),
            _ => None,
        };
        let secrets = Secrets::from_values(&[SecretName::JwtKey], &env).unwrap();
        assert!(format!("{secrets:?}").contains("jwt_key: true"));
        assert!(!format!("{secrets:?}").contains("jjjj"));
        assert!(matches!(
            Secrets::from_values(&[SecretName::NodePsk], &env),
            Err(ConfigError::Invalid(..))
        ));
        assert!(matches!(
            Secrets::from_values(&[SecretName::NodeKey], &env),
            Err(ConfigError::Missing(..))
        ));
    }
}
