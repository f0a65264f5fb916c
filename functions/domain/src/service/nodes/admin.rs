//! What admins change about a node: its state (enabled, disabled, draining, revoked)
//! and its labels, each change recorded on the audit trail.

use super::{check_node_label, NodeService, MAX_NODE_LABELS};
use crate::audit::{Actor, AuditRecord};
use crate::error::{Error, Result};
use crate::node::{Node, NodeIdentity};
use crate::principal::{require_admin, Principal};
use crate::wire::{NodeState, NodeView};
use crate::ErrorCode;

impl NodeService {
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
        let record = AuditRecord::new(
            "node.state",
            Actor::of(principal),
            format!("node:{}", node.name),
        )
        .detail(format!("state={}", state.as_str()));
        self.audit.record(record).await?;
        let mut node = Node { state, ..node };
        if state == NodeState::Revoked {
            // A key generation of its own with no secret: every key and job token of the
            // node stops at once (the state is checked first), and registering again needs
            // an admin's enable.
            let identity = NodeIdentity {
                secret_hash: None,
                previous_secret_hash: None,
                generation: node.identity.generation + 1,
            };
            let revoked = Node {
                identity,
                ..node.clone()
            };
            self.nodes
                .replace_identity(&revoked, node.identity.generation)
                .await?;
            node = revoked;
        }
        Ok(self.admin_view(&node, &self.slots_in_use().await?))
    }

    /// Replaces a node's labels (admins only).
    pub async fn set_labels(
        &self,
        principal: &Principal,
        reference: &str,
        labels: Vec<String>,
    ) -> Result<NodeView> {
        require_admin(principal)?;
        if labels.len() > MAX_NODE_LABELS {
            return Err(Error::validation(
                ErrorCode::InvalidNodeLabel,
                format!("a node carries at most {MAX_NODE_LABELS} labels"),
            ));
        }
        let mut labels: Vec<String> = labels.iter().map(|l| l.trim().to_owned()).collect();
        for label in &labels {
            check_node_label(label)?;
        }
        labels.sort();
        labels.dedup();
        let node = self.find(reference).await?;
        self.nodes.set_node_labels(&node.id, &labels).await?;
        let record = AuditRecord::new(
            "node.labels",
            Actor::of(principal),
            format!("node:{}", node.name),
        )
        .detail(format!("labels={}", labels.join(",")));
        self.audit.record(record).await?;
        let node = Node { labels, ..node };
        Ok(self.admin_view(&node, &self.slots_in_use().await?))
    }
}
