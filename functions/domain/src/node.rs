//! Edge nodes: registration, configuration versions and readiness.

use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::NodeId;
use crate::wire::{CapabilityReport, NodeConfig, NodeState, NodeView};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub capabilities: CapabilityReport,
    pub registered_at: Timestamp,
    pub updated_at: Timestamp,
    pub acked_config_version: Option<String>,
    /// The last signed request from the node (kept to within a minute).
    pub last_seen_at: Timestamp,
    /// What an operator allows the node to do.
    pub state: NodeState,
    /// The node's identity: the SHA-256 (hex) of the secret its last registration issued,
    /// the one before (a node that crashed before saving the new one still proves itself),
    /// and the generation its signing key belongs to.
    pub identity: NodeIdentity,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeIdentity {
    pub secret_hash: Option<String>,
    pub previous_secret_hash: Option<String>,
    pub generation: u32,
}

impl NodeIdentity {
    /// Whether `secret` is the node's current or previous secret.
    pub fn proves(&self, secret: &str) -> bool {
        let presented = secret_hash(secret);
        [&self.secret_hash, &self.previous_secret_hash]
            .into_iter()
            .flatten()
            .any(|hash| bool::from(hash.as_bytes().ct_eq(presented.as_bytes())))
    }

    /// The next generation, holding `secret`; the current secret stays valid as the
    /// previous one only when the node proved it.
    pub fn rotated(&self, secret: &str, proven: bool) -> NodeIdentity {
        NodeIdentity {
            secret_hash: Some(secret_hash(secret)),
            previous_secret_hash: if proven {
                self.secret_hash.clone()
            } else {
                None
            },
            generation: self.generation + 1,
        }
    }
}

/// How a node secret is stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

impl Node {
    pub fn view(&self) -> NodeView {
        NodeView {
            node_id: self.id.clone(),
            node_name: self.name.clone(),
            capabilities: self.capabilities.clone(),
            acked_config_version: self.acked_config_version.clone(),
            registered_at: self.registered_at,
            last_seen_at: Some(self.last_seen_at),
            state: self.state,
            slots_in_use: None,
        }
    }

    /// Seen within `stale_secs` of `now`: counted as up by `/readyz`.
    pub fn is_live(&self, now: Timestamp, stale_secs: u64) -> bool {
        self.last_seen_at + time::Duration::seconds(stale_secs as i64) >= now
    }

    /// May claim new jobs.
    pub fn takes_jobs(&self) -> bool {
        self.state == NodeState::Enabled
    }
}

/// Node names: 1–63 characters of letters, digits, `.`, `_`, `-` (a hostname fits).
pub fn check_node_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "invalid_node_name",
            "node_name must be 1-63 characters of letters, digits, '.', '_' or '-'",
        ))
    }
}

/// The settings from which a node's configuration is made. When they change, the
/// configuration gets a new `config_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    pub queue_url: String,
    pub inference_queue_url: Option<String>,
    pub heartbeat_interval_secs: u64,
    pub lease_secs: u64,
    pub default_timeout_secs: u64,
    pub max_timeout_secs: u64,
    /// A node not seen for this long does not count for `/readyz` or `/v1/models`
    /// (not part of the nodes' configuration).
    pub stale_secs: u64,
}

impl NodeSettings {
    /// A stable text of the settings; equal settings, equal fingerprint.
    pub fn fingerprint(&self) -> String {
        format!(
            "queue={};inference_queue={};heartbeat={};lease={};default_timeout={};max_timeout={}",
            self.queue_url,
            self.inference_queue_url.as_deref().unwrap_or(""),
            self.heartbeat_interval_secs,
            self.lease_secs,
            self.default_timeout_secs,
            self.max_timeout_secs
        )
    }

    pub fn config(&self, version: &str) -> NodeConfig {
        NodeConfig {
            config_version: version.to_owned(),
            queue_url: self.queue_url.clone(),
            inference_queue_url: self.inference_queue_url.clone(),
            heartbeat_interval_secs: self.heartbeat_interval_secs,
            lease_secs: self.lease_secs,
            default_timeout_secs: self.default_timeout_secs,
            max_timeout_secs: self.max_timeout_secs,
        }
    }
}

/// The configuration version in force and the settings it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRecord {
    pub version: String,
    pub fingerprint: String,
}
