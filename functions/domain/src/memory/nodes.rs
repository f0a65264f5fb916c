//! The in-memory node and project stores.

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::{NodeId, ProjectId, UserId};
use crate::node::{ConfigRecord, Node};
use crate::ports::*;
use crate::project::{CredentialChange, Project};

use super::{conflict, MemoryStore, State};

#[async_trait]
impl NodeStore for MemoryStore {
    async fn node_by_name(&self, name: &str) -> StoreResult<Option<Node>> {
        Ok(self
            .state()
            .nodes
            .values()
            .find(|n| n.name == name)
            .cloned())
    }
    async fn insert_node(&self, node: &Node) -> StoreResult<()> {
        let mut state = self.state();
        if state.nodes.values().any(|n| n.name == node.name) {
            return Err(conflict("node name taken"));
        }
        state.nodes.insert(node.id.clone(), node.clone());
        Ok(())
    }
    async fn node(&self, id: &NodeId) -> StoreResult<Option<Node>> {
        Ok(self.state().nodes.get(id).cloned())
    }
    async fn update_node(&self, node: &Node) -> StoreResult<()> {
        let mut state = self.state();
        // Like the adapter: what the node reports, never its state or acknowledgement.
        let mut node = node.clone();
        if let Some(stored) = state.nodes.get(&node.id) {
            node.state = stored.state;
            node.acked_config_version = stored.acked_config_version.clone();
            node.identity = stored.identity.clone();
            node.labels = stored.labels.clone();
        }
        state.nodes.insert(node.id.clone(), node);
        Ok(())
    }
    async fn replace_identity(&self, node: &Node, previous_generation: u32) -> StoreResult<()> {
        match self.state().nodes.get_mut(&node.id) {
            Some(stored) if stored.identity.generation == previous_generation => {
                stored.identity = node.identity.clone();
                Ok(())
            }
            _ => Err(conflict("node identity changed")),
        }
    }
    async fn touch_node(&self, id: &NodeId, at: Timestamp) -> StoreResult<()> {
        if let Some(node) = self.state().nodes.get_mut(id) {
            node.last_seen_at = at;
        }
        Ok(())
    }
    async fn set_node_state(&self, id: &NodeId, to: crate::wire::NodeState) -> StoreResult<()> {
        match self.state().nodes.get_mut(id) {
            Some(node) => {
                node.state = to;
                Ok(())
            }
            None => Err(conflict("no such node")),
        }
    }
    async fn set_node_labels(&self, id: &NodeId, labels: &[String]) -> StoreResult<()> {
        match self.state().nodes.get_mut(id) {
            Some(node) => {
                node.labels = labels.to_vec();
                Ok(())
            }
            None => Err(conflict("no such node")),
        }
    }
    async fn current_config(&self) -> StoreResult<Option<ConfigRecord>> {
        Ok(self.state().config.clone())
    }
    async fn replace_config(
        &self,
        previous: Option<&ConfigRecord>,
        next: &ConfigRecord,
    ) -> StoreResult<()> {
        let mut state = self.state();
        if state.config.as_ref() != previous {
            return Err(conflict("configuration changed"));
        }
        state.config = Some(next.clone());
        Ok(())
    }
    async fn record_ack(&self, node: &NodeId, version: &str, _at: Timestamp) -> StoreResult<()> {
        let mut state = self.state();
        state.acks.insert(node.clone(), version.to_owned());
        if let Some(node) = state.nodes.get_mut(node) {
            node.acked_config_version = Some(version.to_owned());
        }
        Ok(())
    }
    async fn acked_nodes(&self) -> StoreResult<Vec<(NodeId, String)>> {
        Ok(self
            .state()
            .acks
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect())
    }
    async fn remember_signature(
        &self,
        signature: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self
            .state()
            .signatures
            .insert(signature.to_owned(), expires_at)
            .is_none())
    }
}

fn apply_credential(state: &mut State, project: &ProjectId, change: &CredentialChange) {
    match change {
        CredentialChange::Set(secret) => {
            state.credentials.insert(project.clone(), secret.clone());
        }
        CredentialChange::Remove => {
            state.credentials.remove(project);
        }
        CredentialChange::Keep => {}
    }
}

#[async_trait]
impl ProjectStore for MemoryStore {
    async fn insert_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let key = (project.owner.clone(), project.name.clone());
        if state.projects.contains_key(&key) {
            return Err(conflict("project name taken"));
        }
        state.projects.insert(key, project.clone());
        apply_credential(&mut state, &project.id, credential);
        Ok(())
    }
    async fn project(&self, owner: &UserId, id: &ProjectId) -> StoreResult<Option<Project>> {
        Ok(self
            .state()
            .projects
            .values()
            .find(|p| &p.owner == owner && &p.id == id)
            .cloned())
    }
    async fn project_by_name(&self, owner: &UserId, name: &str) -> StoreResult<Option<Project>> {
        Ok(self
            .state()
            .projects
            .get(&(owner.clone(), name.to_owned()))
            .cloned())
    }
    async fn list_projects(&self, owner: &UserId) -> StoreResult<Vec<Project>> {
        Ok(self
            .state()
            .projects
            .values()
            .filter(|p| &p.owner == owner)
            .cloned()
            .collect())
    }
    async fn update_project(
        &self,
        project: &Project,
        credential: &CredentialChange,
    ) -> StoreResult<()> {
        let mut state = self.state();
        let key = (project.owner.clone(), project.name.clone());
        match state.projects.get(&key) {
            Some(stored) if stored.version + 1 == project.version => {}
            _ => return Err(conflict("project changed")),
        }
        state.projects.insert(key, project.clone());
        apply_credential(&mut state, &project.id, credential);
        Ok(())
    }
    async fn delete_project(&self, project: &Project) -> StoreResult<()> {
        let mut state = self.state();
        state
            .projects
            .remove(&(project.owner.clone(), project.name.clone()));
        state.credentials.remove(&project.id);
        state
            .preferences
            .remove(&crate::preference::PreferenceTarget::Project(
                project.id.clone(),
            ));
        Ok(())
    }
    async fn credential(&self, project: &Project) -> StoreResult<Option<String>> {
        Ok(self.state().credentials.get(&project.id).cloned())
    }
}
