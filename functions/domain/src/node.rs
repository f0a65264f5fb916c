//! Edge nodes: registration, configuration versions and readiness.

use crate::ErrorCode;
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
    /// Labels an admin gave it; a project may require one (see [`check_node_label`]).
    pub labels: Vec<String>,
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
            labels: self.labels.clone(),
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

    /// May get fresh queue credentials (a disabled node finishes its jobs on the ones it
    /// has; a revoked one gets nothing).
    pub fn renews_credentials(&self) -> bool {
        matches!(self.state, NodeState::Enabled | NodeState::Draining)
    }
}

#[cfg(test)]
impl Node {
    /// A registered node named `name` in `state`, seen `now`, for the services' tests.
    pub fn test(name: &str, state: NodeState, now: Timestamp) -> Node {
        Node {
            id: NodeId::generate(),
            name: name.into(),
            capabilities: Default::default(),
            registered_at: now,
            updated_at: now,
            acked_config_version: None,
            last_seen_at: now,
            state,
            labels: vec![],
            identity: Default::default(),
        }
    }
}

/// Most labels one node carries.
pub const MAX_NODE_LABELS: usize = 16;

/// Node labels: 1–63 characters of lowercase letters, digits, `.`, `_`, `-`.
pub fn check_node_label(label: &str) -> Result<()> {
    let ok = (1..=63).contains(&label.len())
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            ErrorCode::InvalidNodeLabel,
            format!("'{label}' is not a node label: 1-63 characters of lowercase letters, digits, '.', '_' or '-'"),
        ))
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
            ErrorCode::InvalidNodeName,
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

/// The ARN of an SQS queue from its URL: `https://sqs.<region>.amazonaws.com/<account>/<name>`
/// on AWS, `http://<host>/queue/<region>/<account>/<name>` on LocalStack. `None` for
/// anything else.
pub fn queue_arn(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (host, path) = rest.split_once('/')?;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (region, account, name) = match parts.as_slice() {
        ["queue", region, account, name] => (*region, *account, *name),
        [account, name] => (
            host.strip_prefix("sqs.")?.split('.').next()?,
            *account,
            *name,
        ),
        _ => return None,
    };
    let valid = |part: &str, extra: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    (valid(region, "-") && account.len() == 12 && valid(account, "") && valid(name, "-_."))
        .then(|| format!("arn:aws:sqs:{region}:{account}:{name}"))
}

/// The session policy of a node's queue credentials: receive, extend and delete messages
/// on exactly `queue_arns`; nothing else (no table, no bucket, no other queue).
pub fn queue_session_policy(queue_arns: &[String]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"],
            "Resource": queue_arns,
        }]
    })
    .to_string()
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn queue_arns_come_from_aws_and_localstack_urls_alike() {
        assert_eq!(
            queue_arn("https://sqs.eu-west-1.amazonaws.com/123456789012/cynode-jobs").as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:cynode-jobs")
        );
        assert_eq!(
            queue_arn("http://localhost:4566/queue/us-east-1/000000000000/t1-inference").as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:t1-inference")
        );
        for bad in [
            "",
            "memory://jobs",
            "https://example.com/123456789012/q",
            "https://sqs.us-east-1.amazonaws.com/12345/q",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q*",
        ] {
            assert_eq!(queue_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_session_policy_names_only_the_given_queues_and_queue_actions() {
        let policy: serde_json::Value = serde_json::from_str(&queue_session_policy(&[
            "arn:aws:sqs:us-east-1:000000000000:a".into(),
        ]))
        .unwrap();
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            statement["Resource"],
            serde_json::json!(["arn:aws:sqs:us-east-1:000000000000:a"])
        );
        let actions = statement["Action"].as_array().unwrap();
        assert!(actions
            .iter()
            .all(|a| a.as_str().unwrap().starts_with("sqs:")));
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
    }
}
