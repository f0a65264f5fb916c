//! Models on the node: finding which ones the inference endpoint serves ([`models`]),
//! and letting a job's pod reach them ([`forwarder`]) without giving the pod a network.
//!
//! A job that needs a model runs as a Podman pod with `--network none`. Its proxy sidecar
//! (`cynode-inference-proxy`) listens on 127.0.0.1:11434 inside the pod and pipes each
//! connection to a unix socket mounted into the sidecar only. The agent serves that socket
//! ([`forwarder`]): it forwards only the inference routes of [`routes`] for the models the
//! node serves, enforces the size, time and call limits, forwards to the node's endpoint
//! (Ollama or any OpenAI-compatible server) without any credential or node header, streams
//! the answer back as it comes, and records every call ([`usage`]). A job whose model is
//! hosted gets the same socket, relayed to the gateway's egress instead ([`hosted`]).

pub mod direct;
pub mod embeddings;
pub mod forwarder;
pub mod hosted;
pub mod job_models;
mod listener;
pub mod models;
pub mod routes;
pub mod tool_calls;
pub mod usage;

use std::path::PathBuf;

use tokio::sync::watch;

use crate::config::InferenceSettings;
use forwarder::Forwarder;

/// What a node with a model server needs to run jobs that use it.
pub struct NodeInference {
    pub forwarder: Forwarder,
    pub settings: InferenceSettings,
    /// Where the helper binaries (`cynode-inference-proxy`, `cynode-prompt-agent`) are.
    pub helpers_dir: PathBuf,
    /// Where jobs' inference sockets live: a short path of this node's own (a unix
    /// socket's path must fit in 108 bytes, and state directories can be deep).
    pub sockets_dir: PathBuf,
    /// The models the endpoint serves now, kept current by the agent.
    pub models: watch::Receiver<Vec<String>>,
}

/// This node's directory for job sockets: `/run/cynode-edge/<node>` as root, else
/// `$XDG_RUNTIME_DIR/cynode-edge/<node>`, else one in the temporary directory. Private to
/// the agent (0700): each socket's own directory is bind-mounted into its sidecar.
pub fn sockets_dir(node_name: &str) -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::PermissionsExt;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    node_name.hash(&mut hasher);
    let leaf = format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff);
    let base = if is_root() {
        PathBuf::from("/run/cynode-edge")
    } else if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        PathBuf::from(runtime).join("cynode-edge")
    } else {
        std::env::temp_dir().join(format!("cynode-edge-{}", std::process::id()))
    };
    let dir = base.join(leaf);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o711))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl NodeInference {
    pub fn helper(&self, name: &str) -> PathBuf {
        self.helpers_dir.join(name)
    }

    /// The model a job runs with: the one it asked for if this node serves it, else the
    /// node's default, else the first one the endpoint lists.
    pub fn model_for(&self, requested: Option<&str>) -> Result<String, String> {
        let models = self.models.borrow();
        match requested {
            Some(model) if models.iter().any(|m| m == model) => Ok(model.to_owned()),
            Some(model) => Err(format!(
                "this node does not serve model '{model}' (it serves: {})",
                if models.is_empty() {
                    "none".to_owned()
                } else {
                    models.join(", ")
                }
            )),
            None => self
                .settings
                .default_model
                .clone()
                .or_else(|| models.first().cloned())
                .ok_or_else(|| "the node's inference endpoint serves no model".to_owned()),
        }
    }
}
