//! Edge nodes: registration, capabilities, configuration, queue credentials and the admin's view.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::NodeId;

/// What an edge node can do, reported at registration and whenever it changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CapabilityReport {
    pub agent_version: String,
    pub cpus: u32,
    pub memory_mb: u64,
    #[serde(default)]
    pub gpus: Vec<GpuInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podman_version: Option<String>,
    #[serde(default)]
    pub sandbox_images: Vec<String>,
    #[serde(default)]
    pub job_slots: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference: Option<InferenceStatus>,
    /// The node runs jobs whose model is hosted (it has the helpers their pods mount and
    /// relays their calls to the gateway's egress); jobs of such tasks go only to nodes
    /// that say so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosted_models: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GpuInfo {
    pub name: String,
    pub memory_mb: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InferenceStatus {
    pub endpoint: String,
    pub reachable: bool,
    /// The models the endpoint serves, as its model list names them.
    #[serde(default)]
    pub models: Vec<String>,
}

impl CapabilityReport {
    /// The models this node can serve right now (none when its endpoint is unreachable).
    pub fn models(&self) -> &[String] {
        match &self.inference {
            Some(status) if status.reachable => &status.models,
            _ => &[],
        }
    }
}

/// `POST /v1/nodes/register`, authenticated by the pre-shared key alone.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterNodeRequest {
    pub pre_shared_key: String,
    pub node_name: String,
    pub capabilities: CapabilityReport,
    /// The secret the node's last registration issued (absent on its first start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_secret: Option<String>,
}

impl std::fmt::Debug for RegisterNodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterNodeRequest")
            .field("node_name", &self.node_name)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeRegistration {
    pub node_id: NodeId,
    /// The node's signing key for every later request (hex). A secret: keep it out of
    /// logs and out of sandboxes.
    pub node_key: String,
    /// The node's secret from now on, proving it at its next registration. Keep it
    /// (0600); the one before stays valid once more.
    pub node_secret: String,
    pub config: NodeConfig,
    /// Short-lived AWS credentials for the queues this node serves, when the deployment
    /// issues them (it does on AWS and on LocalStack). Renew them through
    /// `POST /v1/nodes/credentials` before `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<QueueCredentials>,
}

/// AWS session credentials allowed only to receive, extend and delete messages on the
/// queues one node serves. Secret: never logged, never inside a sandbox.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for QueueCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NodeRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRegistration")
            .field("node_id", &self.node_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Configuration the gateway hands a node. `config_version` is a ULID: a node applies a
/// configuration only if its version sorts after the one it has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeConfig {
    pub config_version: String,
    /// The SQS queue the node long-polls for jobs.
    pub queue_url: String,
    /// The queue of jobs that need a model; polled only by nodes that report one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_queue_url: Option<String>,
    /// How often a running job's heartbeat is sent.
    pub heartbeat_interval_secs: u64,
    /// How long a claim lasts without a heartbeat.
    pub lease_secs: u64,
    pub default_timeout_secs: u64,
    pub max_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigAck {
    pub config_version: String,
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeView {
    pub node_id: NodeId,
    pub node_name: String,
    pub capabilities: CapabilityReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_config_version: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: Timestamp,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_seen_at: Option<Timestamp>,
    #[serde(default)]
    pub state: NodeState,
    /// Labels an admin gave the node (projects may require one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Jobs the node holds a claim on (admin views only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots_in_use: Option<u32>,
}

/// `PUT /v1/admin/nodes/{node}/labels`: the node's labels, replacing its old ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeLabels {
    pub labels: Vec<String>,
}

/// What an operator allows a node to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Takes jobs.
    #[default]
    Enabled,
    /// Takes no new jobs; running ones finish.
    Disabled,
    /// Takes no new jobs and hands running ones back to the queue for other nodes.
    Draining,
    /// An admin ended its keys: every signed request is refused, credentials are not
    /// renewed, and it may register again only after an admin enables it.
    Revoked,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Enabled => "enabled",
            NodeState::Disabled => "disabled",
            NodeState::Draining => "draining",
            NodeState::Revoked => "revoked",
        }
    }
}

/// `GET /v1/admin/nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
}
