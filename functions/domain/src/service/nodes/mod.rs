//! Edge nodes: registration with the pre-shared key, request authentication, capability
//! reports, configuration and its acknowledgement, and the readiness they add up to.

use crate::service::write::{retry_on_conflict, Tried};
use crate::ErrorCode;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use time::Duration;

use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::{new_ulid, JobId, LeaseId, NodeId};
use crate::limits::CALLBACK_REPLAY_WINDOW_SECS;
use crate::node::{
    check_node_label, check_node_name, queue_arn, queue_session_policy, ConfigRecord, Node,
    NodeIdentity, NodeSettings, MAX_NODE_LABELS,
};
use crate::ports::{CredentialIssuer, NodeStore, TaskStore};
use crate::principal::{require_admin, Principal};
use crate::service::audit::Auditor;
use crate::service::settings::SettingsService;
use crate::signing::{verify, NodeKeys, Signed};
use crate::wire::{
    CapabilityReport, ConfigAck, NodeConfig, NodeList, NodeRegistration, NodeState, NodeView,
    QueueCredentials, RegisterNodeRequest,
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

mod admin;

pub struct NodeService {
    nodes: Arc<dyn NodeStore>,
    tasks: Arc<dyn TaskStore>,
    clock: Arc<dyn Clock>,
    keys: NodeKeys,
    /// The pre-shared keys accepted: the current one, and during a rotation the previous.
    pre_shared_keys: Vec<String>,
    settings: NodeSettings,
    /// Issues nodes their queue credentials (none: nodes use credentials of their own).
    credentials: Option<Arc<dyn CredentialIssuer>>,
    audit: Auditor,
    /// The stale-node window in force (none: `settings`' own).
    live: Option<Arc<SettingsService>>,
}

/// A node request refreshes `last_seen_at` when it is older than this (one write per
/// node per interval, not one per heartbeat).
const TOUCH_EVERY_SECS: i64 = 30;

/// A node secret: 32 random bytes, hex.
fn new_node_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| Error::internal(format!("no randomness: {err}")))?;
    Ok(hex::encode(bytes))
}

fn name_in_use(existing: &Node, now: crate::clock::Timestamp, stale_secs: u64) -> Error {
    let ago = (now - existing.last_seen_at).whole_seconds().max(0);
    Error::conflict(
        ErrorCode::NodeNameInUse,
        format!(
            "a node named '{}' is registered and was seen {ago}s ago, and this one did not prove \
             its secret: is a second machine using the same node_name? Give each machine its own \
             name. A reinstalled node (its state directory lost) may take the name over once the \
             name has been silent for {stale_secs}s.",
            existing.name
        ),
    )
}

fn unauthenticated_node() -> Error {
    Error::unauthenticated(
        ErrorCode::UnknownNode,
        "the node is not registered; register again",
    )
}

fn revoked_node(node: &Node) -> Error {
    Error::unauthenticated(
        ErrorCode::NodeRevoked,
        format!(
            "an admin revoked node '{}': its keys no longer work, and it registers again only \
             after an admin enables it (cynork node enable {})",
            node.name, node.name
        ),
    )
}

impl NodeService {
    pub fn new(
        nodes: Arc<dyn NodeStore>,
        tasks: Arc<dyn TaskStore>,
        clock: Arc<dyn Clock>,
        keys: NodeKeys,
        pre_shared_keys: Vec<String>,
        settings: NodeSettings,
    ) -> Self {
        Self {
            nodes,
            tasks,
            clock,
            keys,
            pre_shared_keys,
            settings,
            credentials: None,
            audit: Auditor::default(),
            live: None,
        }
    }

    /// Reads the stale-node window from the system settings in force.
    pub fn with_settings(mut self, live: Arc<SettingsService>) -> Self {
        self.live = Some(live);
        self
    }

    async fn stale_secs(&self) -> Result<u64> {
        Ok(match &self.live {
            Some(live) => live.current().await?.node_stale_secs,
            None => self.settings.stale_secs,
        })
    }

    /// Records registrations and every change an admin makes to a node.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// Issue every node short-lived credentials for the queues it serves.
    pub fn with_credentials(mut self, issuer: Arc<dyn CredentialIssuer>) -> Self {
        self.credentials = Some(issuer);
        self
    }

    /// Fresh queue credentials for `node`: the jobs queue, and the inference queue when
    /// the node reports a model endpoint. `None` when the deployment issues none.
    pub async fn queue_credentials(&self, node: &Node) -> Result<Option<QueueCredentials>> {
        let Some(issuer) = &self.credentials else {
            return Ok(None);
        };
        if !node.renews_credentials() {
            return Err(Error::forbidden(
                ErrorCode::NodeDisabled,
                format!(
                    "node '{}' is {}: it gets no new queue credentials",
                    node.name,
                    node.state.as_str()
                ),
            ));
        }
        let mut urls = vec![self.settings.queue_url.as_str()];
        if node.capabilities.inference.is_some() {
            urls.extend(self.settings.inference_queue_url.as_deref());
        }
        let arns = urls
            .iter()
            .map(|url| {
                queue_arn(url)
                    .ok_or_else(|| Error::internal(format!("cannot derive a queue ARN from {url}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let issued = issuer
            .issue(node.id.as_str(), &queue_session_policy(&arns))
            .await?;
        Ok(Some(issued))
    }

    /// Registers a node, or a known node again. Every registration issues the node a new
    /// secret (and a new signing-key generation). A known name is taken over only by a
    /// node that proves the secret issued to it, or once that name has been silent for
    /// `stale_secs`: a second machine with the same name is refused, not merged.
    pub async fn register(&self, req: RegisterNodeRequest) -> Result<NodeRegistration> {
        let name: String = req.node_name.chars().take(64).collect();
        let record = AuditRecord::new("node.register", Actor::Anonymous, format!("node:{name}"));
        let registered = self.admit(req).await;
        self.audit
            .record(match &registered {
                Ok(_) => record,
                Err(err) => record.failed(err.code.as_str()),
            })
            .await?;
        registered
    }

    async fn admit(&self, req: RegisterNodeRequest) -> Result<NodeRegistration> {
        let psk_ok = self.pre_shared_keys.iter().any(|key| {
            !key.is_empty() && bool::from(req.pre_shared_key.as_bytes().ct_eq(key.as_bytes()))
        });
        if !psk_ok {
            return Err(Error::unauthenticated(
                ErrorCode::InvalidPreSharedKey,
                "the pre-shared key is wrong",
            ));
        }
        check_node_name(&req.node_name)?;
        let stale_secs = self.stale_secs().await?;
        let now = self.clock.now();
        let secret = new_node_secret()?;
        let node = match self.nodes.node_by_name(&req.node_name).await? {
            Some(existing) if existing.state == NodeState::Revoked => {
                return Err(Error::forbidden(
                    ErrorCode::NodeRevoked,
                    format!(
                        "an admin revoked node '{}'; it registers again only after an admin \
                         enables it",
                        existing.name
                    ),
                ))
            }
            Some(existing) => {
                let proven = req
                    .node_secret
                    .as_deref()
                    .is_some_and(|presented| existing.identity.proves(presented));
                let claimed = existing.identity.secret_hash.is_some();
                if !proven && claimed && existing.is_live(now, stale_secs) {
                    return Err(name_in_use(&existing, now, stale_secs));
                }
                let node = Node {
                    capabilities: req.capabilities,
                    updated_at: now,
                    last_seen_at: now,
                    identity: existing.identity.rotated(&secret, proven),
                    ..existing.clone()
                };
                self.nodes
                    .replace_identity(&node, existing.identity.generation)
                    .await
                    .map_err(|err| match err {
                        // Another registration of this name won the race.
                        StoreError::Conflict(_) => name_in_use(&existing, now, stale_secs),
                        other => other.into(),
                    })?;
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
                    labels: Vec::new(),
                    identity: NodeIdentity::default().rotated(&secret, false),
                };
                match self.nodes.insert_node(&node).await {
                    Ok(()) => node,
                    Err(StoreError::Conflict(_)) => {
                        return Err(Error::conflict(
                            ErrorCode::NodeNameInUse,
                            format!(
                                "node '{}' registered at the same moment from elsewhere",
                                req.node_name
                            ),
                        ))
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        };
        Ok(NodeRegistration {
            node_key: self.keys.session_key(&node.id, node.identity.generation),
            node_secret: secret,
            config: self.current_config().await?,
            credentials: self.queue_credentials(&node).await?,
            node_id: node.id,
        })
    }

    /// Checks a node request's signature, timestamp and freshness; returns the node.
    pub async fn authenticate(&self, req: SignedRequest<'_>, key: SigningKey<'_>) -> Result<Node> {
        let node_id = NodeId::parse(req.node_id).ok_or_else(unauthenticated_node)?;
        let timestamp: i64 = req.timestamp.parse().map_err(|_| {
            Error::unauthenticated(
                ErrorCode::BadSignature,
                "x-cynode-timestamp must be unix seconds",
            )
        })?;
        let node = self
            .nodes
            .node(&node_id)
            .await?
            .ok_or_else(unauthenticated_node)?;
        // Before the signature: a revoked node's keys are of a generation gone, and its
        // job tokens must stop too.
        if node.state == NodeState::Revoked {
            return Err(revoked_node(&node));
        }
        let key = match key {
            SigningKey::Node => self.keys.session_key(&node.id, node.identity.generation),
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
                ErrorCode::ReplayedRequest,
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

    async fn find(&self, reference: &str) -> Result<Node> {
        let by_id = match NodeId::parse(reference) {
            Some(id) => self.nodes.node(&id).await?,
            None => None,
        };
        let found = match by_id {
            Some(node) => Some(node),
            None => self.nodes.node_by_name(reference).await?,
        };
        found.ok_or_else(|| {
            Error::not_found(ErrorCode::NodeNotFound, format!("no node '{reference}'"))
        })
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
        let fingerprint = &fingerprint;
        retry_on_conflict("the configuration", move || async move {
            let current = self.nodes.current_config().await?;
            if let Some(record) = current.as_ref().filter(|r| &r.fingerprint == fingerprint) {
                return Ok(Tried::Done(self.settings.config(&record.version)));
            }
            let next = ConfigRecord {
                version: new_ulid(),
                fingerprint: fingerprint.clone(),
            };
            let config = self.settings.config(&next.version);
            Tried::written(
                self.nodes.replace_config(current.as_ref(), &next).await,
                config,
            )
        })
        .await
    }

    pub async fn acknowledge(&self, node: &Node, ack: ConfigAck) -> Result<()> {
        if !ack.applied {
            return Err(Error::validation(
                ErrorCode::ConfigRejected,
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
                ErrorCode::StaleConfig,
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
        let stale_secs = self.stale_secs().await?;
        Ok(self
            .all_nodes()
            .await?
            .into_iter()
            .filter(|node| node.takes_jobs() && node.is_live(now, stale_secs))
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
                    self.stale_secs().await?,
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
            stale_secs: 120,
        }
    }

    fn service(store: Arc<MemoryStore>, queue: &str) -> NodeService {
        service_with(store, queue, &["psk"]).0
    }

    /// A service on `store` accepting `psks`, and the clock it reads.
    fn service_with(
        store: Arc<MemoryStore>,
        queue: &str,
        psks: &[&str],
    ) -> (NodeService, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-21 10:00 UTC)));
        let service = NodeService::new(
            store.clone(),
            store,
            clock.clone(),
            NodeKeys::new(b"master".to_vec()),
            psks.iter().map(|p| p.to_string()).collect(),
            settings(queue),
        );
        (service, clock)
    }

    #[tokio::test]
    async fn stale_or_disabled_nodes_do_not_count_and_only_admins_manage_nodes() {
        let store = Arc::new(MemoryStore::default());
        let (nodes, clock) = service_with(store.clone(), "q", &["psk"]);
        let reg = nodes.register(register("psk", "gpu-1")).await.unwrap();
        let node = store.node(&reg.node_id).await.unwrap().unwrap();
        let ack = ConfigAck {
            config_version: reg.config.config_version.clone(),
            applied: true,
            error: None,
        };
        nodes.acknowledge(&node, ack).await.unwrap();
        assert_eq!(nodes.readiness().await.unwrap(), Ok(()));

        let user = Principal::test_user("bob");
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
            node_secret: None,
        }
    }

    #[tokio::test]
    async fn a_live_name_is_taken_over_only_with_its_secret_and_keys_rotate() {
        let (nodes, clock) =
            service_with(Arc::new(MemoryStore::default()), "q", &["psk", "old-psk"]);
        let first = nodes.register(register("psk", "gpu-1")).await.unwrap();
        // A clone with the same name and only the pre-shared key is refused while the
        // name is live.
        let clone = nodes.register(register("psk", "gpu-1")).await.unwrap_err();
        assert_eq!(clone.code, "node_name_in_use");
        // The node itself, proving its secret, registers again under a new key; the
        // previous pre-shared key still works during a rotation.
        let mut again = register("old-psk", "gpu-1");
        again.node_secret = Some(first.node_secret.clone());
        let second = nodes.register(again.clone()).await.unwrap();
        assert_eq!(second.node_id, first.node_id);
        assert_ne!(second.node_key, first.node_key, "the signing key rotates");
        assert_ne!(second.node_secret, first.node_secret);
        // The previous secret is still accepted once (a crash before saving the new one).
        let third = nodes.register(again).await.unwrap();
        // …but not twice back.
        let mut stale = register("psk", "gpu-1");
        stale.node_secret = Some(first.node_secret.clone());
        assert_eq!(
            nodes.register(stale).await.unwrap_err().code,
            "node_name_in_use"
        );
        // Once the name has been silent past the stale time, a reinstalled node takes it.
        clock.advance(Duration::seconds(121));
        let taken = nodes.register(register("psk", "gpu-1")).await.unwrap();
        assert_eq!(taken.node_id, first.node_id);
        assert_ne!(taken.node_key, third.node_key);
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
        let mut again = register("psk", "gpu-1");
        again.node_secret = Some(first.node_secret.clone());
        let again = nodes.register(again).await.unwrap();
        assert_eq!(first.node_id, again.node_id, "one node per name");
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
            ErrorCode::UnknownNode
        );
    }

    /// Issues a fixed set of credentials, counting the calls.
    #[derive(Default)]
    struct CountingIssuer(std::sync::Mutex<u32>);

    #[async_trait::async_trait]
    impl CredentialIssuer for CountingIssuer {
        async fn issue(
            &self,
            session_name: &str,
            _policy: &str,
        ) -> crate::ports::StoreResult<QueueCredentials> {
            *self.0.lock().unwrap() += 1;
            Ok(QueueCredentials {
                access_key_id: format!("AKIA-{session_name}"),
                secret_access_key: "s".into(),
                session_token: "t".into(),
                expires_at: datetime!(2026-11-21 11:00 UTC),
            })
        }
    }

    /// Signs an empty POST to `path` as `node` with `key` (its node key or a job token)
    /// at the services' clock time, and authenticates it as `which`.
    async fn authenticate_post(
        nodes: &NodeService,
        node: &NodeId,
        key: &str,
        which: SigningKey<'_>,
        nonce: &str,
        path: &str,
    ) -> Result<Node> {
        let now = datetime!(2026-11-21 10:00 UTC).unix_timestamp();
        let signature = sign(
            key,
            &Signed {
                method: "POST",
                path,
                timestamp: now,
                nonce,
                body: b"",
            },
        );
        let timestamp = now.to_string();
        let request = SignedRequest {
            node_id: node.as_str(),
            timestamp: &timestamp,
            nonce,
            signature: &signature,
            method: "POST",
            path,
            body: b"",
        };
        nodes.authenticate(request, which).await
    }

    #[tokio::test]
    async fn a_revoked_node_gets_nothing_and_a_disabled_one_no_new_credentials() {
        use crate::ids::LeaseId;
        let store = Arc::new(MemoryStore::default());
        let issuer = Arc::new(CountingIssuer::default());
        let nodes = service(
            store.clone(),
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        )
        .with_credentials(issuer.clone());
        let admin = Principal {
            is_admin: true,
            ..Principal::test_user("root")
        };
        let reg = nodes.register(register("psk", "gpu-1")).await.unwrap();
        assert!(reg.credentials.is_some());
        let job = JobId::generate();
        let lease = LeaseId::generate();
        let job_token = NodeKeys::new(b"master".to_vec()).job_token(&reg.node_id, &job, &lease);

        // Disabled: signed requests work (it finishes its jobs), renewal does not.
        nodes
            .set_state(&admin, "gpu-1", NodeState::Disabled)
            .await
            .unwrap();
        let credentials = "/v1/nodes/credentials";
        let node = authenticate_post(
            &nodes,
            &reg.node_id,
            &reg.node_key,
            SigningKey::Node,
            "d1",
            credentials,
        )
        .await
        .unwrap();
        let before = *issuer.0.lock().unwrap();
        assert_eq!(
            nodes.queue_credentials(&node).await.unwrap_err().code,
            "node_disabled"
        );
        assert_eq!(*issuer.0.lock().unwrap(), before, "nothing was issued");

        // Revoked: every key and job token stops at once, and registering is refused.
        let view = nodes
            .set_state(&admin, "gpu-1", NodeState::Revoked)
            .await
            .unwrap();
        assert_eq!(view.state, NodeState::Revoked);
        let config = "/v1/nodes/config";
        let refused = authenticate_post(
            &nodes,
            &reg.node_id,
            &reg.node_key,
            SigningKey::Node,
            "r1",
            config,
        )
        .await
        .unwrap_err();
        assert_eq!(
            (refused.code, refused.kind),
            (
                ErrorCode::NodeRevoked,
                crate::error::ErrorKind::Unauthenticated
            )
        );
        let job_key = SigningKey::Job {
            job: &job,
            lease: &lease,
        };
        let refused = authenticate_post(
            &nodes,
            &reg.node_id,
            &job_token,
            job_key,
            "r2",
            "/v1/jobs/x/result",
        )
        .await
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::NodeRevoked);
        let mut again = register("psk", "gpu-1");
        again.node_secret = Some(reg.node_secret.clone());
        assert_eq!(
            nodes.register(again.clone()).await.unwrap_err().code,
            ErrorCode::NodeRevoked
        );
        // Once an admin enables it, it registers again, under keys of a new generation
        // (its old secret proves nothing any more).
        nodes
            .set_state(&admin, "gpu-1", NodeState::Enabled)
            .await
            .unwrap();
        let back = nodes.register(again).await.unwrap();
        assert_eq!(back.node_id, reg.node_id);
        assert_ne!(back.node_key, reg.node_key);
        let stored = store.node(&reg.node_id).await.unwrap().unwrap();
        assert_eq!(stored.identity.previous_secret_hash, None);
    }

    #[tokio::test]
    async fn only_admins_label_nodes_and_labels_are_checked() {
        let nodes = service(Arc::new(MemoryStore::default()), "q");
        nodes.register(register("psk", "gpu-1")).await.unwrap();
        let admin = Principal {
            is_admin: true,
            ..Principal::test_user("root")
        };
        let alice = Principal::test_user("alice");
        assert_eq!(
            nodes
                .set_labels(&alice, "gpu-1", vec!["trusted".into()])
                .await
                .unwrap_err()
                .code,
            "admin_required"
        );
        for bad in ["", "Trusted", "a b", &"x".repeat(64)] {
            assert_eq!(
                nodes
                    .set_labels(&admin, "gpu-1", vec![bad.to_owned()])
                    .await
                    .unwrap_err()
                    .code,
                "invalid_node_label",
                "{bad}"
            );
        }
        let view = nodes
            .set_labels(
                &admin,
                "gpu-1",
                vec!["trusted".into(), "gpu".into(), "gpu".into()],
            )
            .await
            .unwrap();
        assert_eq!(view.labels, vec!["gpu".to_owned(), "trusted".to_owned()]);
        assert_eq!(
            nodes.get(&admin, "gpu-1").await.unwrap().labels,
            view.labels
        );
    }
}
