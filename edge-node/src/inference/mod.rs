//! Models on the node: finding which ones the inference endpoint serves ([`models`]),
//! and letting a job's pod reach them ([`forwarder`]) without giving the pod a network.
//!
//! A job that needs a model runs as a Podman pod with `--network none`. Its proxy sidecar
//! (`cynode-inference-proxy`) listens on 127.0.0.1:11434 inside the pod and pipes each
//! connection to a unix socket mounted into the sidecar only. The agent serves that socket
//! ([`forwarder`]): it enforces the size and time limits, forwards to the node's endpoint
//! (Ollama or any OpenAI-compatible server) without any credential or node header, streams
//! the answer back as it comes, and records every call ([`usage`]).

pub mod forwarder;
pub mod models;
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
    /// The models the endpoint serves now, kept current by the agent.
    pub models: watch::Receiver<Vec<String>>,
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
