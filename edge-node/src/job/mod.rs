//! One job delivery, end to end, one concern a file:
//! - [`claim`]: read the message, check this node may take it, claim it from the gateway;
//! - [`run`]: run a claimed job with its lease kept beside it, clean up, and decide what
//!   becomes of it;
//! - [`program`]: what the sandbox runs (commands, a script, or the prompt agent with its
//!   job file), with the repository workspace, the inference socket and attachments;
//! - [`lease`]: heartbeats and queue visibility while it runs, and why it is stopped
//!   ([`stop`]);
//! - [`chunks`]: a chat job's text, streamed to the gateway as it comes;
//! - [`logs`]: a job's live log, shipped to the gateway while it prints;
//! - [`delivery`]: the result, recorded on disk first, then delivered (again after an
//!   outage or a restart), and only then the message deleted;
//! - [`hand_back`]: a job this node will not finish goes back to the queue.

mod chunks;
mod claim;
pub mod delivery;
mod hand_back;
mod lease;
mod logs;
pub mod program;
mod run;
pub mod stop;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use cynode_protocol::wire::{JobClaim, JobMessage, NodeConfig};

use crate::config::SandboxLimits;
use crate::gateway::{Gateway, SharedIdentity};
use crate::inference::hosted::HostedModels;
use crate::inference::NodeInference;
use crate::outage::Outage;
use crate::queue::{NodeQueues, QueueKind, Received};
use crate::sandbox::Sandbox;
use crate::spool::ResultSpool;
use crate::workspace::policy::RemotePolicy;

pub use stop::{JobStop, StopReason};

/// What the runner is built from.
pub struct RunnerSetup {
    pub gateway: Arc<dyn Gateway>,
    pub identity: SharedIdentity,
    pub queues: NodeQueues,
    pub sandbox: Arc<dyn Sandbox>,
    pub spool: Arc<dyn ResultSpool>,
    /// This run of the agent (a claim by an earlier run is taken over, not refused).
    pub boot_id: String,
    pub limits: SandboxLimits,
    /// Where each job's scratch directories go.
    pub jobs_dir: PathBuf,
    pub config: watch::Receiver<NodeConfig>,
    /// The node's models, when it has an inference endpoint.
    pub inference: Option<Arc<NodeInference>>,
    /// Jobs with hosted models, when the node has the helpers their pods mount.
    pub hosted: Option<Arc<HostedModels>>,
    /// Whether the gateway answers; failures to reach it pause receiving.
    pub outage: Outage,
    /// Where planned work's repositories and forges may be (the node's `[remotes]`).
    pub remotes: RemotePolicy,
}

/// Runs the jobs this node receives; shared by every slot.
pub struct JobRunner {
    setup: RunnerSetup,
    /// Spool entries being delivered right now (by a runner or the resender).
    delivering: Mutex<HashSet<PathBuf>>,
}

/// A claimed job: its message, the claim, and the delivery it came in.
struct Claimed {
    message: JobMessage,
    claim: JobClaim,
    received: Received,
}

impl JobRunner {
    pub fn new(setup: RunnerSetup) -> Self {
        Self {
            setup,
            delivering: Mutex::new(HashSet::new()),
        }
    }

    pub fn outage(&self) -> &Outage {
        &self.setup.outage
    }

    pub fn identity(&self) -> &SharedIdentity {
        &self.setup.identity
    }

    async fn delete(&self, queue: QueueKind, receipt: &str) {
        let Some(queue) = self.setup.queues.get(queue) else {
            return;
        };
        if let Err(err) = queue.delete(receipt).await {
            // A stale receipt (the agent restarted): the redelivered message is discarded
            // when its claim finds the job finished.
            tracing::info!(error = %err, "could not delete the message; it will be discarded on redelivery");
        }
    }

    async fn hide(&self, queue: QueueKind, receipt: &str, secs: u32) {
        let Some(queue) = self.setup.queues.get(queue) else {
            return;
        };
        if let Err(err) = queue.hide_for(receipt, secs).await {
            tracing::warn!(error = %err, "could not change the message's visibility");
        }
    }
}
