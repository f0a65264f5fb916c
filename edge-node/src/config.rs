//! The agent's configuration: command-line flags, then environment, then the config file
//! (TOML), then defaults. See `edge-node/edge.example.toml` for every setting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use cynode_protocol::limits::{DEFAULT_JOB_TIMEOUT_SECS, MAX_JOB_TIMEOUT_SECS};

use crate::inference::forwarder::ProxyLimits;
use crate::sandbox::disk::parse_size;
use crate::workspace::policy::RemotePolicy;

/// Where a node finds its model server when nothing says otherwise: Ollama's default.
pub const DEFAULT_INFERENCE_URL: &str = "http://127.0.0.1:11434";

#[derive(Debug, Parser)]
#[command(
    name = "cynode-edge",
    version,
    about = "CyNode edge-node agent: runs queued jobs in Podman sandboxes"
)]
pub struct Args {
    /// Config file (TOML).
    #[arg(short, long, env = "CYNODE_EDGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Gateway base URL.
    #[arg(long, env = "CYNODE_GATEWAY_URL")]
    pub gateway_url: Option<String>,
    /// Name this node registers under (default: the host name).
    #[arg(long, env = "CYNODE_NODE_NAME")]
    pub node_name: Option<String>,
    /// Where pending results and job scratch directories live.
    #[arg(long, env = "CYNODE_EDGE_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Jobs run at once.
    #[arg(long, env = "CYNODE_EDGE_SLOTS")]
    pub slots: Option<u32>,
    /// Sandbox image.
    #[arg(long, env = "CYNODE_SANDBOX_IMAGE")]
    pub image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    gateway_url: Option<String>,
    node_name: Option<String>,
    pre_shared_key: Option<String>,
    state_dir: Option<PathBuf>,
    job_slots: Option<u32>,
    shutdown_grace_secs: Option<u64>,
    config_poll_secs: Option<u64>,
    inference_url: Option<String>,
    podman: Option<String>,
    helpers_dir: Option<PathBuf>,
    #[serde(default)]
    sandbox: SandboxFile,
    #[serde(default)]
    inference: InferenceFile,
    #[serde(default)]
    remotes: RemotesFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemotesFile {
    file_roots: Option<Vec<PathBuf>>,
    private_hosts: Option<Vec<String>>,
    ssh_known_hosts: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InferenceFile {
    default_model: Option<String>,
    embeddings_url: Option<String>,
    max_request_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    max_concurrent_calls_per_job: Option<usize>,
    max_calls_per_job: Option<u32>,
    max_connections_per_job: Option<usize>,
    agent_max_steps: Option<u32>,
    capabilities_poll_secs: Option<u64>,
}

/// How jobs reach the node's models.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceSettings {
    /// The model prompt jobs use when the task names none (else the first one reported).
    pub default_model: Option<String>,
    /// Where embeddings are made, when not at the endpoint itself (llama.cpp's server
    /// makes them only when started with `--embeddings`, so it runs a second one; an
    /// Ollama serves both).
    pub embeddings_url: Option<String>,
    pub limits: ProxyLimits,
    /// Steps the prompt agent may take before it must answer.
    pub agent_max_steps: u32,
    /// How often the endpoint's models are checked again (changes are reported).
    pub capabilities_poll: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxFile {
    image: Option<String>,
    /// More images jobs may name (the default image is always allowed).
    images: Option<Vec<String>>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids: Option<u32>,
    workspace_size: Option<String>,
    disk_size: Option<String>,
    max_change_size: Option<String>,
    max_log_size: Option<String>,
    default_timeout_secs: Option<u64>,
    max_timeout_secs: Option<u64>,
    /// Sandboxes for script and commands jobs kept started ahead of them.
    warm_containers: Option<u32>,
    /// Pods (with their inference sidecar) for jobs with a model kept started ahead of them.
    warm_pods: Option<u32>,
}

/// Limits every sandbox runs under.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxLimits {
    /// The image jobs run in unless they name another.
    pub image: String,
    /// The images jobs may name: `image` and `sandbox.images`.
    pub allowed_images: Vec<String>,
    /// Podman memory size (`512m`); swap is capped to the same.
    pub memory: String,
    pub cpus: f64,
    pub pids: u32,
    /// Size of the writable `/workspace` tmpfs.
    pub workspace_size: String,
    /// Size of a worker's own disk (its checkout and `/out`).
    pub disk_bytes: u64,
    /// Largest change (git bundle) a worker may hand back.
    pub max_change_bytes: u64,
    /// Live log one attempt ships while it runs; the rest is only in its result.
    pub max_log_bytes: u64,
    pub default_timeout_secs: u64,
    pub max_timeout_secs: u64,
    /// How many sandboxes of each kind are kept started ahead of jobs (each runs exactly
    /// one job and is then removed).
    pub warm: WarmSizes,
}

/// The warm pool's size (see `sandbox::podman::warm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WarmSizes {
    /// Containers in the default image for script and commands jobs.
    pub containers: u32,
    /// Pods with their inference sidecar for jobs with a model (on nodes with models).
    pub pods: u32,
}

/// The most sandboxes of one kind a node keeps warm.
const MAX_WARM: u32 = 16;

impl SandboxLimits {
    /// The image a job runs in: the one it names, if this node allows it.
    pub fn image_for(&self, named: Option<&str>) -> Option<&str> {
        match named {
            None => Some(&self.image),
            Some(name) => self
                .allowed_images
                .iter()
                .find(|allowed| allowed.as_str() == name)
                .map(String::as_str),
        }
    }

    /// The timeout a job runs under: its own request, else the default, never past the
    /// maximum (the node's, and the gateway's when it sets a lower one).
    pub fn timeout_for(&self, requested: Option<u64>, gateway_max: u64) -> Duration {
        let max = self.max_timeout_secs.min(gateway_max).max(1);
        Duration::from_secs(requested.unwrap_or(self.default_timeout_secs).clamp(1, max))
    }
}

#[derive(Clone)]
pub struct EdgeConfig {
    pub gateway_url: String,
    pub node_name: String,
    pub pre_shared_key: String,
    pub state_dir: PathBuf,
    pub job_slots: u32,
    pub shutdown_grace: Duration,
    pub config_poll: Duration,
    /// `None`: this node serves no models (set `inference_url = ""`).
    pub inference_url: Option<String>,
    pub inference: InferenceSettings,
    pub podman: String,
    /// Where `cynode-inference-proxy` and `cynode-prompt-agent` are (mounted read-only
    /// into pods); default: beside the `cynode-edge` binary.
    pub helpers_dir: PathBuf,
    pub sandbox: SandboxLimits,
    /// Where planned work's repositories and forges may be.
    pub remotes: RemotePolicy,
}

impl std::fmt::Debug for EdgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeConfig")
            .field("gateway_url", &self.gateway_url)
            .field("node_name", &self.node_name)
            .field("state_dir", &self.state_dir)
            .field("job_slots", &self.job_slots)
            .field("inference_url", &self.inference_url)
            .field("inference", &self.inference)
            .field("sandbox", &self.sandbox)
            .field("remotes", &self.remotes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config file {0} is not valid: {1}")]
    Parse(PathBuf, String),
    #[error("{0}")]
    Invalid(String),
}

fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("cynode-edge");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/cynode-edge"),
        None => PathBuf::from("/var/lib/cynode-edge"),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "edge-node".into())
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|err| ConfigError::Read(path.to_owned(), err))?;
    toml::from_str(&text).map_err(|err| ConfigError::Parse(path.to_owned(), err.to_string()))
}

impl EdgeConfig {
    pub fn load(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let pre_shared_key = std::env::var("CYNODE_NODE_PSK")
            .ok()
            .or(file.pre_shared_key)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "no pre-shared key: set CYNODE_NODE_PSK or pre_shared_key in the config file"
                        .into(),
                )
            })?;
        let sandbox = sandbox_limits(args.image, file.sandbox)?;
        let inference = inference_settings(file.inference)?;
        let job_slots = args.slots.or(file.job_slots).unwrap_or(2);
        if !(1..=64).contains(&job_slots) {
            return Err(ConfigError::Invalid(format!(
                "job slots must be 1-64, got {job_slots}"
            )));
        }
        Ok(Self {
            gateway_url: args
                .gateway_url
                .or(file.gateway_url)
                .unwrap_or_else(|| "http://127.0.0.1:8080".into())
                .trim_end_matches('/')
                .to_owned(),
            node_name: args.node_name.or(file.node_name).unwrap_or_else(host_name),
            pre_shared_key,
            state_dir: args
                .state_dir
                .or(file.state_dir)
                .unwrap_or_else(default_state_dir),
            job_slots,
            shutdown_grace: Duration::from_secs(file.shutdown_grace_secs.unwrap_or(30)),
            config_poll: Duration::from_secs(file.config_poll_secs.unwrap_or(60).max(5)),
            inference_url: Some(
                std::env::var("CYNODE_INFERENCE_URL")
                    .ok()
                    .or(file.inference_url)
                    .unwrap_or_else(|| DEFAULT_INFERENCE_URL.into()),
            )
            .filter(|url| !url.trim().is_empty()),
            inference,
            podman: file.podman.unwrap_or_else(|| "podman".into()),
            helpers_dir: match file.helpers_dir {
                Some(dir) => dir,
                None => std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(Path::to_path_buf))
                    .ok_or_else(|| {
                        ConfigError::Invalid(
                            "cannot tell where cynode-edge is; set helpers_dir".into(),
                        )
                    })?,
            },
            sandbox,
            remotes: RemotePolicy {
                file_roots: file.remotes.file_roots.unwrap_or_default(),
                private_hosts: file.remotes.private_hosts.unwrap_or_default(),
                ssh_known_hosts: file.remotes.ssh_known_hosts,
            },
        })
    }
}

/// The `[sandbox]` settings, with `image` (from the command line) first.
fn sandbox_limits(image: Option<String>, file: SandboxFile) -> Result<SandboxLimits, ConfigError> {
    let image = image
        .or(file.image)
        .unwrap_or_else(|| "localhost/cynode-sandbox:latest".into());
    let mut allowed_images = vec![image.clone()];
    for extra in file.images.unwrap_or_default() {
        if !allowed_images.contains(&extra) {
            allowed_images.push(extra);
        }
    }
    let sandbox = SandboxLimits {
        image,
        allowed_images,
        memory: file.memory.unwrap_or_else(|| "512m".into()),
        cpus: file.cpus.unwrap_or(1.0),
        pids: file.pids.unwrap_or(256),
        workspace_size: file.workspace_size.unwrap_or_else(|| "256m".into()),
        disk_bytes: size_setting("sandbox.disk_size", file.disk_size, "4g")?,
        max_change_bytes: size_setting("sandbox.max_change_size", file.max_change_size, "256m")?,
        max_log_bytes: size_setting("sandbox.max_log_size", file.max_log_size, "64m")?,
        default_timeout_secs: file
            .default_timeout_secs
            .unwrap_or(DEFAULT_JOB_TIMEOUT_SECS),
        max_timeout_secs: file
            .max_timeout_secs
            .unwrap_or(MAX_JOB_TIMEOUT_SECS)
            .min(MAX_JOB_TIMEOUT_SECS),
        warm: WarmSizes {
            containers: file.warm_containers.unwrap_or(2),
            pods: file.warm_pods.unwrap_or(1),
        },
    };
    if sandbox.warm.containers > MAX_WARM || sandbox.warm.pods > MAX_WARM {
        return Err(ConfigError::Invalid(format!(
            "sandbox.warm_containers and sandbox.warm_pods may be at most {MAX_WARM}"
        )));
    }
    if sandbox.cpus <= 0.0 || sandbox.pids == 0 {
        return Err(ConfigError::Invalid(
            "sandbox.cpus and sandbox.pids must be positive".into(),
        ));
    }
    Ok(sandbox)
}

/// The `[inference]` settings.
fn inference_settings(file: InferenceFile) -> Result<InferenceSettings, ConfigError> {
    let defaults = ProxyLimits::default();
    let inference = InferenceSettings {
        default_model: std::env::var("CYNODE_DEFAULT_MODEL")
            .ok()
            .or(file.default_model)
            .filter(|m| !m.is_empty()),
        embeddings_url: std::env::var("CYNODE_EMBEDDINGS_URL")
            .ok()
            .or(file.embeddings_url)
            .filter(|url| !url.trim().is_empty()),
        limits: ProxyLimits {
            max_request_bytes: file.max_request_bytes.unwrap_or(defaults.max_request_bytes),
            request_timeout: file
                .request_timeout_secs
                .map_or(defaults.request_timeout, Duration::from_secs),
            max_concurrent_calls: file
                .max_concurrent_calls_per_job
                .unwrap_or(defaults.max_concurrent_calls),
            max_calls: file.max_calls_per_job.unwrap_or(defaults.max_calls),
            max_connections: file
                .max_connections_per_job
                .unwrap_or(defaults.max_connections),
        },
        agent_max_steps: file.agent_max_steps.unwrap_or(8),
        capabilities_poll: Duration::from_secs(file.capabilities_poll_secs.unwrap_or(30).max(1)),
    };
    if inference.limits.max_request_bytes == 0
        || inference.limits.request_timeout.is_zero()
        || inference.limits.max_concurrent_calls == 0
        || inference.limits.max_calls == 0
        || inference.limits.max_connections < inference.limits.max_concurrent_calls
        || !(1..=64).contains(&inference.agent_max_steps)
    {
        return Err(ConfigError::Invalid(
            "inference.max_request_bytes, request_timeout_secs, max_concurrent_calls_per_job and max_calls_per_job must be positive, max_connections_per_job at least max_concurrent_calls_per_job, agent_max_steps 1-64".into(),
        ));
    }
    Ok(inference)
}

/// A size setting (`4g`, `256m`, bytes), at least 1 MiB.
fn size_setting(name: &str, value: Option<String>, default: &str) -> Result<u64, ConfigError> {
    let text = value.unwrap_or_else(|| default.into());
    parse_size(&text)
        .filter(|bytes| *bytes >= 1 << 20)
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{name} must be a size of at least 1m, like 4g or 512m; got '{text}'"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(default: u64, max: u64) -> SandboxLimits {
        SandboxLimits {
            image: "i".into(),
            allowed_images: vec!["i".into()],
            memory: "64m".into(),
            cpus: 1.0,
            pids: 10,
            workspace_size: "1m".into(),
            disk_bytes: 1 << 30,
            max_change_bytes: 1 << 20,
            max_log_bytes: 1 << 20,
            default_timeout_secs: default,
            max_timeout_secs: max,
            warm: Default::default(),
        }
    }

    #[test]
    fn jobs_get_the_default_image_or_an_allowed_one_they_name() {
        let mut limits = limits(60, 60);
        limits.allowed_images.push("busybox:latest".into());
        assert_eq!(limits.image_for(None), Some("i"));
        assert_eq!(
            limits.image_for(Some("busybox:latest")),
            Some("busybox:latest")
        );
        assert_eq!(limits.image_for(Some("evil:latest")), None);
    }

    #[test]
    fn job_timeouts_default_and_are_capped() {
        let node = limits(3600, 10800);
        assert_eq!(node.timeout_for(None, 10800), Duration::from_secs(3600));
        assert_eq!(node.timeout_for(Some(20), 10800), Duration::from_secs(20));
        assert_eq!(
            node.timeout_for(Some(99999), 10800),
            Duration::from_secs(10800)
        );
        assert_eq!(
            node.timeout_for(Some(5000), 4000),
            Duration::from_secs(4000)
        );
        assert_eq!(
            limits(3600, 60).timeout_for(None, 10800),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("cynode-edge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("edge.toml");
        std::fs::write(&path, "gateway_urll = 'x'\n").unwrap();
        let err = read_file(&path).unwrap_err();
        assert!(err.to_string().contains("gateway_urll"), "{err}");
        std::fs::write(&path, "job_slots = 3\n[sandbox]\nmemory = '1g'\n").unwrap();
        let file = read_file(&path).unwrap();
        assert_eq!(file.job_slots, Some(3));
        assert_eq!(file.sandbox.memory.as_deref(), Some("1g"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
