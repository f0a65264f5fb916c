//! Jobs whose model is hosted (`<provider>/<model>`, `JobSpec::hosted`): they run in a
//! pod like any job with a model, but no model server of the node's answers them. The
//! pod's calls reach the node's socket as usual ([`super::forwarder`], same limits and
//! allowlist, that model only) and are relayed to the gateway's egress route under the
//! job's claim ([`ClaimRelay`]), which holds the provider's key: the node never sees
//! it, the sandbox even less, and a node without a model server runs such jobs too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cynode_protocol::ids::{JobId, LeaseId, TaskId};
use cynode_protocol::wire::{HostedCall, HostedCallRequest};

use super::forwarder::Forwarder;
use super::job_models::ModelRelay;
use crate::gateway::{Gateway, SharedIdentity};

/// What a node needs to run jobs with hosted models.
pub struct HostedModels {
    /// Serves each job's socket; its calls go to a [`ClaimRelay`], never upstream.
    pub forwarder: Forwarder,
    /// Where the helper binaries (`cynode-inference-proxy`, `cynode-prompt-agent`) are.
    pub helpers_dir: PathBuf,
    /// Where jobs' inference sockets live (shared with the node's own models, if any).
    pub sockets_dir: PathBuf,
    /// The agent's step limit when the owner sets none.
    pub agent_max_steps: u32,
}

/// The helpers (in `helpers_dir`) that jobs with a model mount into their pods and this
/// node lacks; none missing: it can run jobs with hosted models.
pub fn missing_helpers(helpers_dir: &std::path::Path) -> Vec<PathBuf> {
    ["cynode-inference-proxy", "cynode-prompt-agent"]
        .iter()
        .map(|helper| helpers_dir.join(helper))
        .filter(|path| !path.is_file())
        .collect()
}

impl HostedModels {
    pub fn helper(&self, name: &str) -> PathBuf {
        self.helpers_dir.join(name)
    }
}

/// One job's calls, sent to the gateway signed with its claim's job token: the gateway
/// takes them only for that task's model, and only while this claim holds the lease.
pub struct ClaimRelay {
    pub gateway: Arc<dyn Gateway>,
    pub identity: SharedIdentity,
    pub job: JobId,
    pub task: TaskId,
    pub attempt: u32,
    pub lease: LeaseId,
    /// A secret: never logged (this type has no `Debug`).
    pub job_token: String,
}

#[async_trait::async_trait]
impl ModelRelay for ClaimRelay {
    async fn call(
        &self,
        call: HostedCall,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, String> {
        let request = HostedCallRequest {
            task_id: self.task.clone(),
            attempt: self.attempt,
            lease_id: self.lease.clone(),
            call,
            body,
        };
        self.gateway
            .hosted_call(
                &self.identity.get(),
                &self.job,
                &self.job_token,
                &request,
                timeout,
            )
            .await
            .map_err(|err| err.to_string())
    }
}
