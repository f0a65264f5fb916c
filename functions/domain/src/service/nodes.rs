//! Edge nodes: registration with the pre-shared key, request authentication, capability
//! reports, configuration and its acknowledgement, and the readiness they add up to.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use time::Duration;

use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::{new_ulid, JobId, LeaseId, NodeId};
use crate::limits::CALLBACK_REPLAY_WINDOW_SECS;
use crate::node::{check_node_name, ConfigRecord, Node, NodeSettings};
use crate::ports::NodeStore;
use crate::signing::{verify, NodeKeys, Signed};
use crate::wire::{
    CapabilityReport, ConfigAck, NodeConfig, NodeRegistration, NodeView, RegisterNodeRequest,
};

/// A signed request as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub node_id: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

/// Which key a request must be signed with.
#[derive(Debug, Clone, Copy)]
pub enum SigningKey<'a> {
    /// The node's own key (node routes, job claims).
    Node,
    /// The job token of one claim (heartbeat, result).
    Job { job: &'a JobId, lease: &'a LeaseId },
}

pub struct NodeService {
    nodes: Arc<dyn NodeStore>,
    clock: Arc<dyn Clock>,
    keys: NodeKeys,
    pre_shared_key: String,
    settings: NodeSettings,
}

fn unauthenticated_node() -> Error {
    Error::unauthenticated("unknown_node", "the node is not registered; register again")
}

impl NodeService {
    pub fn new(
        nodes: Arc<dyn NodeStore>,
        clock: Arc<dyn Clock>,
        keys: NodeKeys,
        pre_shared_key: String,
        settings: NodeSettings,
    ) -> Self {
        Self {
            nodes,
            clock,
            keys,
            pre_shared_key,
            settings,
        }
    }

    pub async fn register(&self, req: RegisterNodeRequest) -> Result<NodeRegistration> {
        let psk_ok = !self.pre_shared_key.is_empty()
            && bool::from(
                req.pre_shared_key
                    .as_bytes()
                    .ct_eq(self.pre_shared_key.as_bytes()),
            );
        if !psk_ok {
            return Err(Error::unauthenticated(
                "invalid_pre_shared_key",
                "the pre-shared key is wrong",
            ));
        }
        check_node_name(&req.node_name)?;
        let now = self.clock.now();
        let node = match self.nodes.node_by_name(&req.node_name).await? {
            Some(existing) => {
                let node = Node {
                    capabilities: req.capabilities,
                    updated_at: now,
                    ..existing
                };
                self.nodes.update_node(&node).await?;
                node
            }
            None => {
                let node = Node {
                    id: NodeId::generate(),
                    name: req.node_name.clone(),
                    capabilities: req.capabilities,
                    registered_at: now,
                    updated_at: now,
                    acked_config_version: None,
                };
                match self.nodes.insert_node(&node).await {
                    Ok(()) => node,
                    // Registered concurrently under the same name: use that one.
                    Err(StoreError::Conflict(_)) => self
                        .nodes
                        .node_by_name(&req.node_name)
                        .await?
                        .ok_or_else(|| Error::internal("node vanished after a name conflict"))?,
                    Err(err) => return Err(err.into()),
                }
            }
        };
        Ok(NodeRegistration {
            node_key: self.keys.node_key(&node.id),
            config: self.current_config().await?,
            node_id: node.id,
        })
    }

    /// Checks a node request's signature, timestamp and freshness; returns the node.
    pub async fn authenticate(&self, req: SignedRequest<'_>, key: SigningKey<'_>) -> Result<Node> {
        let node_id = NodeId::parse(req.node_id).ok_or_else(unauthenticated_node)?;
        let timestamp: i64 = req.timestamp.parse().map_err(|_| {
            Error::unauthenticated("bad_signature", "x-cynode-timestamp must be unix seconds")
        })?;
        let node = self
            .nodes
            .node(&node_id)
            .await?
            .ok_or_else(unauthenticated_node)?;
        let key = match key {
            SigningKey::Node => self.keys.node_key(&node.id),
            SigningKey::Job { job, lease } => self.keys.job_token(&node.id, job, lease),
        };
        let now = self.clock.now();
        let signed = Signed {
            method: req.method,
            path: req.path,
            timestamp,
            nonce: req.nonce,
            body: req.body,
        };
        verify(&key, &signed, req.signature, now.unix_timestamp())?;
        // Remembered for twice the window: past that its timestamp is refused anyway.
        let forget_at = now + Duration::seconds(2 * CALLBACK_REPLAY_WINDOW_SECS);
        if !self
            .nodes
            .remember_signature(req.signature, forget_at)
            .await?
        {
            return Err(Error::unauthenticated(
                "replayed_request",
                "this signed request was already used",
            ));
        }
        Ok(node)
    }

    pub async fn report_capabilities(
        &self,
        node: &Node,
        report: CapabilityReport,
    ) -> Result<NodeView> {
        let updated = Node {
            capabilities: report,
            updated_at: self.clock.now(),
            ..node.clone()
        };
        self.nodes.update_node(&updated).await?;
        Ok(updated.view())
    }

    /// The configuration in force, minting a new version when the settings changed.
    pub async fn current_config(&self) -> Result<NodeConfig> {
        let fingerprint = self.settings.fingerprint();
        for _ in 0..3 {
            let current = self.nodes.current_config().await?;
            if let Some(record) = current.as_ref().filter(|r| r.fingerprint == fingerprint) {
                return Ok(self.settings.config(&record.version));
            }
            let next = ConfigRecord {
                version: new_ulid(),
                fingerprint: fingerprint.clone(),
            };
            match self.nodes.replace_config(current.as_ref(), &next).await {
                Ok(()) => return Ok(self.settings.config(&next.version)),
                Err(StoreError::Conflict(_)) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(Error::unavailable("configuration kept changing; retry"))
    }

    pub async fn acknowledge(&self, node: &Node, ack: ConfigAck) -> Result<()> {
        if !ack.applied {
            return Err(Error::validation(
                "config_rejected",
                format!(
                    "node {} could not apply configuration {}: {}",
                    node.id,
                    ack.config_version,
                    ack.error.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
        let current = self.current_config().await?;
        if ack.config_version != current.config_version {
            return Err(Error::conflict(
                "stale_config",
                format!(
                    "configuration {} is not current; fetch {}",
                    ack.config_version, current.config_version
                ),
            ));
        }
        self.nodes
            .record_ack(&node.id, &ack.config_version, self.clock.now())
            .await?;
        Ok(())
    }

    /// Nodes that acknowledged a configuration (the one named, when `version` is given).
    async fn acked_nodes(&self, version: Option<&str>) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        for (id, acked) in self.nodes.acked_nodes(100).await? {
            if version.is_some_and(|version| version != acked) {
                continue;
            }
            if let Some(node) = self.nodes.node(&id).await? {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }

    /// Ready once some node that acknowledged the configuration in force reports a
    /// reachable inference endpoint with at least one model; else why not.
    pub async fn readiness(&self) -> Result<std::result::Result<(), String>> {
        let Some(current) = self.nodes.current_config().await? else {
            return Ok(Err("no edge node has registered yet".into()));
        };
        let current_nodes = self.acked_nodes(Some(&current.version)).await?;
        if current_nodes.is_empty() {
            let any_acked = !self.nodes.acked_nodes(1).await?.is_empty();
            return Ok(Err(if any_acked {
                format!(
                    "no edge node has acknowledged the current configuration {}",
                    current.version
                )
            } else {
                "no edge node has acknowledged its configuration yet".into()
            }));
        }
        if current_nodes
            .iter()
            .any(|n| !n.capabilities.models().is_empty())
        {
            return Ok(Ok(()));
        }
        let reason = current_nodes.iter().find_map(|node| {
            let status = node.capabilities.inference.as_ref()?;
            Some(if status.reachable {
                format!(
                    "node {} reaches its inference endpoint {} but it serves no model",
                    node.name, status.endpoint
                )
            } else {
                format!(
                    "node {} cannot reach its inference endpoint {}",
                    node.name, status.endpoint
                )
            })
        });
        Ok(Err(reason.unwrap_or_else(|| {
            "no edge node has an inference endpoint configured".into()
        })))
    }

    /// Every model some registered node currently reports, sorted, without repeats.
    pub async fn available_models(&self) -> Result<Vec<String>> {
        let models: std::collections::BTreeSet<String> = self
            .acked_nodes(None)
            .await?
            .iter()
            .flat_map(|node| node.capabilities.models().iter().cloned())
            .collect();
        Ok(models.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::signing::{sign, Signed};
    use time::macros::datetime;

    fn settings(queue: &str) -> NodeSettings {
        NodeSettings {
            queue_url: queue.into(),
            inference_queue_url: Some(format!("{queue}-inference")),
            heartbeat_interval_secs: 5,
            lease_secs: 60,
            default_timeout_secs: 3600,
            max_timeout_secs: 10800,
        }
    }

    fn service(store: Arc<MemoryStore>, queue: &str) -> NodeService {
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        NodeService::new(
            store,
            clock,
            NodeKeys::new(b"master".to_vec()),
            "psk".into(),
            settings(queue),
        )
    }

    fn register(psk: &str, name: &str) -> RegisterNodeRequest {
        RegisterNodeRequest {
            pre_shared_key: psk.into(),
            node_name: name.into(),
            capabilities: with_model(&["smollm2:135m"]),
        }
    }

    fn with_model(models: &[&str]) -> CapabilityReport {
        CapabilityReport {
            inference: Some(crate::wire::InferenceStatus {
                endpoint: "http://127.0.0.1:11434".into(),
                reachable: true,
                models: models.iter().map(|m| m.to_string()).collect(),
            }),
            ..CapabilityReport::default()
        }
    }

    #[tokio::test]
    async fn registration_needs_the_pre_shared_key_and_is_stable_per_name() {
        let nodes = service(Arc::new(MemoryStore::default()), "q");
        let err = nodes
            .register(register("wrong", "gpu-1"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "invalid_pre_shared_key");
        let first = nodes.register(register("psk", "gpu-1")).await.unwrap();
        let again = nodes.register(register("psk", "gpu-1")).await.unwrap();
        assert_eq!(first.node_id, again.node_id);
        assert_eq!(first.node_key, again.node_key);
        assert_eq!(first.config.queue_url, "q");
    }

    #[tokio::test]
    async fn ready_only_after_a_node_acknowledges_the_current_configuration() {
        let store = Arc::new(MemoryStore::default());
        let nodes = service(store.clone(), "q1");
        assert_eq!(
            nodes.readiness().await.unwrap(),
            Err("no edge node has registered yet".into())
        );
        let reg = nodes.register(register("psk", "gpu-1")).await.unwrap();
        assert!(nodes.readiness().await.unwrap().is_err());
        let node = store.node(&reg.node_id).await.unwrap().unwrap();
        let ack = |version: &str| ConfigAck {
            config_version: version.into(),
            applied: true,
            error: None,
        };
        nodes
            .acknowledge(&node, ack(&reg.config.config_version))
            .await
            .unwrap();
        assert_eq!(nodes.readiness().await.unwrap(), Ok(()));

        // New settings mint a new version; the old acknowledgement no longer counts.
        let changed = service(store.clone(), "q2");
        let config = changed.current_config().await.unwrap();
        assert!(config.config_version > reg.config.config_version);
        assert!(changed.readiness().await.unwrap().is_err());
        let err = changed
            .acknowledge(&node, ack(&reg.config.config_version))
            .await
            .unwrap_err();
        assert_eq!(err.code, "stale_config");
        changed
            .acknowledge(&node, ack(&config.config_version))
            .await
            .unwrap();
        assert_eq!(changed.readiness().await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn ready_only_with_a_node_that_serves_a_model() {
        let store = Arc::new(MemoryStore::default());
        let nodes = service(store.clone(), "q");
        let mut req = register("psk", "cpu-1");
        req.capabilities = CapabilityReport::default();
        let reg = nodes.register(req).await.unwrap();
        let node = store.node(&reg.node_id).await.unwrap().unwrap();
        let ack = ConfigAck {
            config_version: reg.config.config_version.clone(),
            applied: true,
            error: None,
        };
        nodes.acknowledge(&node, ack).await.unwrap();
        let reason = nodes.readiness().await.unwrap().unwrap_err();
        assert!(
            reason.contains("no edge node has an inference endpoint"),
            "{reason}"
        );

        let mut down = with_model(&["m"]);
        down.inference.as_mut().unwrap().reachable = false;
        nodes.report_capabilities(&node, down).await.unwrap();
        let reason = nodes.readiness().await.unwrap().unwrap_err();
        assert!(reason.contains("cannot reach"), "{reason}");
        assert!(nodes.available_models().await.unwrap().is_empty());

        let node = store.node(&reg.node_id).await.unwrap().unwrap();
        nodes
            .report_capabilities(&node, with_model(&["b", "a"]))
            .await
            .unwrap();
        assert_eq!(nodes.readiness().await.unwrap(), Ok(()));
        assert_eq!(nodes.available_models().await.unwrap(), vec!["a", "b"]);
    }

    #[tokio::test]
    async fn signed_requests_authenticate_once() {
        let store = Arc::new(MemoryStore::default());
        let nodes = service(store, "q");
        let reg = nodes.register(register("psk", "gpu-1")).await.unwrap();
        let now = datetime!(2026-11-21 10:00 UTC).unix_timestamp();
        let signed = Signed {
            method: "GET",
            path: "/v1/nodes/config",
            timestamp: now,
            nonce: "n1",
            body: b"",
        };
        let signature = sign(&reg.node_key, &signed);
        let timestamp = now.to_string();
        let req = SignedRequest {
            node_id: reg.node_id.as_str(),
            timestamp: &timestamp,
            nonce: "n1",
            signature: &signature,
            method: "GET",
            path: "/v1/nodes/config",
            body: b"",
        };
        assert_eq!(
            nodes.authenticate(req, SigningKey::Node).await.unwrap().id,
            reg.node_id
        );
        let replay = nodes.authenticate(req, SigningKey::Node).await.unwrap_err();
        assert_eq!(replay.code, "replayed_request");
        let stranger = SignedRequest {
            node_id: "node_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            ..req
        };
        assert_eq!(
            nodes
                .authenticate(stranger, SigningKey::Node)
                .await
                .unwrap_err()
                .code,
            "unknown_node"
        );
    }
}
