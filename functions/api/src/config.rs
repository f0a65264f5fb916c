//! The gateway's settings, from the environment the deployment template sets.
//!
//! Secrets (`CYNODE_JWT_SECRET`, `CYNODE_NODE_KEY_SECRET`, `CYNODE_NODE_PSK`,
//! `CYNODE_ADMIN_PASSWORD`) are read here and handed to the services; nothing logs them.

use cynode_domain::job::RecoveryPolicy;
use cynode_domain::limits::{DEFAULT_JOB_TIMEOUT_SECS, MAX_JOB_TIMEOUT_SECS};
use cynode_domain::plan::PlanPolicy;
use cynode_domain::service::{AuthSettings, JobSettings, TaskSettings};

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
    pub jwt_secret: Vec<u8>,
    pub node_key_secret: Vec<u8>,
    /// The pre-shared keys nodes may register with: the current one and, while a
    /// rotation is under way, the previous one.
    pub node_pre_shared_keys: Vec<String>,
    pub admin_handle: String,
    pub admin_password: Option<String>,
    pub auth: AuthSettings,
    pub tasks: TaskSettings,
    pub jobs: JobSettings,
    pub recovery: RecoveryPolicy,
    /// Planner and worker attempts and the worker backoff.
    pub plans: PlanPolicy,
    /// How often the local gateway sweeps (in AWS a schedule invokes the sweeper).
    pub sweep_interval_secs: u64,
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

fn secret(env: Lookup, name: &'static str) -> Result<Vec<u8>, ConfigError> {
    let value = env(name).ok_or(ConfigError::Missing(
        name,
        "a random secret of at least 32 bytes",
    ))?;
    if value.len() < 32 {
        return Err(ConfigError::Invalid(
            name,
            "must be at least 32 bytes".into(),
        ));
    }
    Ok(value.into_bytes())
}

/// A pre-shared key shorter than this is refused at start.
const MIN_PSK_CHARS: usize = 16;

fn pre_shared_keys(env: Lookup) -> Result<Vec<String>, ConfigError> {
    let mut keys = Vec::new();
    for name in ["CYNODE_NODE_PSK", "CYNODE_NODE_PSK_PREVIOUS"] {
        let Some(key) = env(name).filter(|key| !key.is_empty()) else {
            continue;
        };
        if key.chars().count() < MIN_PSK_CHARS {
            return Err(ConfigError::Invalid(
                if name == "CYNODE_NODE_PSK" {
                    "CYNODE_NODE_PSK"
                } else {
                    "CYNODE_NODE_PSK_PREVIOUS"
                },
                format!("must be at least {MIN_PSK_CHARS} characters"),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
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
            jwt_secret: secret(env, "CYNODE_JWT_SECRET")?,
            node_key_secret: secret(env, "CYNODE_NODE_KEY_SECRET")?,
            node_pre_shared_keys: pre_shared_keys(env)?,
            admin_handle: env("CYNODE_ADMIN_HANDLE").unwrap_or_else(|| "admin".into()),
            admin_password: env("CYNODE_ADMIN_PASSWORD").filter(|p| !p.is_empty()),
            auth: AuthSettings {
                access_ttl_secs: number(env, "CYNODE_ACCESS_TOKEN_TTL_SECS", 900)?,
                refresh_ttl_secs: number(env, "CYNODE_REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
                max_login_failures: number(env, "CYNODE_LOGIN_MAX_FAILURES", 5)? as u32,
                login_window_secs: number(env, "CYNODE_LOGIN_WINDOW_SECS", 900)?,
            },
            tasks: TaskSettings {
                lease_secs,
                upload_url_ttl_secs: 900,
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
