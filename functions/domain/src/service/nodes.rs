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
use crate::ports::{NodeStore, TaskStore};
use crate::service::auth::{require_admin, Principal};
use crate::signing::{verify, NodeKeys, Signed};
use crate::wire::{
    CapabilityReport, ConfigAck, NodeConfig, NodeList, NodeRegistration, NodeState, NodeView,
    RegisterNodeRequest,
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
    tasks: Arc<dyn TaskStore>,
    clock: Arc<dyn Clock>,
    keys: NodeKeys,
    pre_shared_key: String,
    settings: NodeSettings,
}

/// A node request refreshes `last_seen_at` when it is older than this (one write per
/// node per interval, not one per heartbeat).
const TOUCH_EVERY_SECS: i64 = 30;

fn unauthenticated_node() -> Error {
    Error::unauthenticated("unknown_node", "the node is not registered; register again")
}

impl NodeService {
    pub fn new(
        nodes: Arc<dyn NodeStore>,
        tasks: Arc<dyn TaskStore>,
        clock: Arc<dyn Clock>,
        keys: NodeKeys,
        pre_shared_key: String,
        settings: NodeSettings,
    ) -> Self {
        Self {
            nodes,
            tasks,
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
                    last_seen_at: now,
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
                    last_seen_at: now,
                    state: NodeState::Enabled,
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
        if node.last_seen_at + Duration::seconds(TOUCH_EVERY_SECS) < now {
            self.nodes.touch_node(&node.id, now).await?;
        }
        Ok(node)
    }

    /// Every node, with how many jobs each holds a claim on (admins only).
    pub async fn list(&self, principal: &Principal) -> Result<NodeList> {
        require_admin(principal)?;
        let mut nodes = self.all_nodes().await?;
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let slots = self.slots_in_use().await?;
        Ok(NodeList {
            nodes: nodes
                .iter()
                .map(|node| self.admin_view(node, &slots))
                .collect(),
        })
    }

    /// One node, by name or id (admins only).
    pub async fn get(&self, principal: &Principal, reference: &str) -> Result<NodeView> {
        require_admin(principal)?;
        let node = self.find(reference).await?;
        Ok(self.admin_view(&node, &self.slots_in_use().await?))
    }

    /// Enables, disables or drains a node (admins only). A disabled node takes no new
    /// jobs; a draining one also hands its running jobs back to the queue.
    pub async fn set_state(
        &self,
        principal: &Principal,
        reference: &str,
        state: NodeState,
    ) -> Result<NodeView> {
        require_admin(principal)?;
        let node = self.find(reference).await?;
        self.nodes.set_node_state(&node.id, state).await?;
        let node = Node { state, ..node };
        Ok(self.admin_view(&node, &self.slots_in_use().await?))
    }

    async fn find(&self, reference: &str) -> Result<Node> {
        let by_id = match NodeId::parse(reference) {
            Some(id) => self.nodes.node(&id).await?,
            None => None,
        };
        let found = match by_id {
            Some(node) => Some(node),
            None => self.nodes.node_by_name(reference).await?,
        };
        found.ok_or_else(|| Error::not_found("node_not_found", format!("no node '{reference}'")))
    }

    fn admin_view(&self, node: &Node, slots: &std::collections::HashMap<NodeId, u32>) -> NodeView {
        NodeView {
            slots_in_use: Some(slots.get(&node.id).copied().unwrap_or(0)),
            ..node.view()
        }
    }

    /// Claims each node holds now, from the unfinished jobs' leases.
    async fn slots_in_use(&self) -> Result<std::collections::HashMap<NodeId, u32>> {
        let now = self.clock.now();
        let mut slots = std::collections::HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let (jobs, next) = self.tasks.active_jobs(100, after.as_deref()).await?;
            for job in jobs {
                if let Some(lease) = job.lease.filter(|lease| lease.expires_at > now) {
                    *slots.entry(lease.node).or_insert(0) += 1;
                }
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(slots),
            }
        }
    }

    async fn all_nodes(&self) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        for (id, _) in self.nodes.acked_nodes().await? {
            if let Some(node) = self.nodes.node(&id).await? {
                nodes.push(node);
            }
        }
        Ok(nodes)
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

    /// Nodes that count: enabled, seen within `stale_secs`, and (when `version` is
    /// given) acknowledged that configuration.
    async fn acked_nodes(&self, version: Option<&str>) -> Result<Vec<Node>> {
        let now = self.clock.now();
        Ok(self
            .all_nodes()
            .await?
            .into_iter()
            .filter(|node| node.takes_jobs() && node.is_live(now, self.settings.stale_secs))
            .filter(|node| version.is_none_or(|v| node.acked_config_version.as_deref() == Some(v)))
            .collect())
    }

    /// Ready once some node that acknowledged the configuration in force reports a
    /// reachable inference endpoint with at least one model; else why not.
    pub async fn readiness(&self) -> Result<std::result::Result<(), String>> {
        let Some(current) = self.nodes.current_config().await? else {
            return Ok(Err("no edge node has registered yet".into()));
        };
        let current_nodes = self.acked_nodes(Some(&current.version)).await?;
        if current_nodes.is_empty() {
            let any_acked = !self.nodes.acked_nodes().await?.is_empty();
            return Ok(Err(if any_acked {
                format!(
                    "no enabled edge node seen in the last {} s has acknowledged the current configuration {}",
                    self.settings.stale_secs, current.version
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
            stale_secs: 120,
        }
    }

    fn service(store: Arc<MemoryStore>, queue: &str) -> NodeService {
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        NodeService::new(
            store.clone(),
            store,
            clock,
            NodeKeys::new(b"master".to_vec()),
            "psk".into(),
            settings(queue),
        )
    }

    #[tokio::test]
    async fn stale_or_disabled_nodes_do_not_count_and_only_admins_manage_nodes() {
        use crate::ids::SessionId;
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        let nodes = NodeService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            NodeKeys::new(b"master".to_vec()),
            "psk".into(),
            settings("q"),
        );
        let reg = nodes.register(register("psk", "gpu-1")).await.unwrap();
        let node = store.node(&reg.node_id).await.unwrap().unwrap();
        let ack = ConfigAck {
            config_version: reg.config.config_version.clone(),
            applied: true,
            error: None,
        };
        nodes.acknowledge(&node, ack).await.unwrap();
        assert_eq!(nodes.readiness().await.unwrap(), Ok(()));

        let user = Principal {
            user_id: crate::ids::UserId::generate(),
            handle: "bob".into(),
            is_admin: false,
            session_id: SessionId::generate(),
        };
        assert_eq!(nodes.list(&user).await.unwrap_err().code, "admin_required");
        let admin = Principal {
            is_admin: true,
            ..user
        };
        let view = nodes
            .set_state(&admin, "gpu-1", NodeState::Disabled)
            .await
            .unwrap();
        assert_eq!(
            (view.state, view.slots_in_use),
            (NodeState::Disabled, Some(0))
        );
        assert!(
            nodes.readiness().await.unwrap().is_err(),
            "a disabled node is not counted"
        );
        nodes
            .set_state(&admin, reg.node_id.as_str(), NodeState::Enabled)
            .await
            .unwrap();
        assert_eq!(nodes.readiness().await.unwrap(), Ok(()));

        clock.advance(Duration::seconds(121));
        let reason = nodes.readiness().await.unwrap().unwrap_err();
        assert!(reason.contains("seen in the last 120 s"), "{reason}");
        assert!(nodes.available_models().await.unwrap().is_empty());
        let listed = nodes.list(&admin).await.unwrap().nodes;
        assert_eq!(listed.len(), 1, "still listed for the operator");
        assert_eq!(
            nodes.get(&admin, "nope").await.unwrap_err().code,
            "node_not_found"
        );
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
