//! The node's view of the control plane: the [`Gateway`] it registers with, takes its
//! configuration from, and reports every job to. The agent and the job runner hold it as
//! a trait object, so they run against [`http::GatewayClient`] in production and against
//! an in-memory gateway in the in-process tests.

pub mod http;

use async_trait::async_trait;
use reqwest::StatusCode;

use cynode_protocol::ids::{JobId, NodeId};
use cynode_protocol::wire::{
    CapabilityReport, ClaimDecision, ConfigAck, ErrorCode, HeartbeatAnswer, HeartbeatRequest,
    HostedCallRequest, JobChunkRequest, JobLogRequest, JobReleaseRequest, JobResultReport,
    JobStartedRequest, NodeConfig, NodeRegistration, NodeView, OutputUploadRequest,
    OutputUploadUrl, QueueCredentials, RegisterNodeRequest, ResultAck,
};

pub use http::GatewayClient;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("gateway answered {status}: {code}: {message}")]
    Refused {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
}

impl GatewayError {
    /// Worth trying again later (the gateway or the network had a problem).
    pub fn is_transient(&self) -> bool {
        match self {
            GatewayError::Unreachable(_) => true,
            GatewayError::Refused { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
        }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            GatewayError::Refused { code, .. } => Some(*code),
            GatewayError::Unreachable(_) => None,
        }
    }
}

/// The node's identity after registration. The key is a secret.
#[derive(Clone)]
pub struct Identity {
    pub node_id: NodeId,
    pub node_key: String,
}

/// The node's identity, shared by everything that signs requests, and replaced when the
/// node registers again (its registration vanished: the tables were reset).
#[derive(Clone)]
pub struct SharedIdentity(std::sync::Arc<std::sync::RwLock<Identity>>);

impl SharedIdentity {
    pub fn new(identity: Identity) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(identity)))
    }

    pub fn get(&self) -> Identity {
        self.0.read().expect("identity lock").clone()
    }

    pub fn set(&self, identity: Identity) {
        *self.0.write().expect("identity lock") = identity;
    }
}

/// Everything the node asks of the gateway. Calls after registration are made as `me`;
/// the job callbacks are signed with the claim's job token instead of the node key.
#[async_trait]
pub trait Gateway: Send + Sync {
    async fn register(&self, req: &RegisterNodeRequest) -> Result<NodeRegistration, GatewayError>;
    /// Fresh queue credentials (the ones registration gave expire).
    async fn credentials(&self, me: &Identity) -> Result<QueueCredentials, GatewayError>;
    async fn config(&self, me: &Identity) -> Result<NodeConfig, GatewayError>;
    async fn acknowledge(&self, me: &Identity, ack: &ConfigAck) -> Result<(), GatewayError>;
    async fn report_capabilities(
        &self,
        me: &Identity,
        report: &CapabilityReport,
    ) -> Result<NodeView, GatewayError>;
    /// Claims a job: run it, drop it, or leave it.
    async fn started(
        &self,
        me: &Identity,
        job: &JobId,
        req: &JobStartedRequest,
    ) -> Result<ClaimDecision, GatewayError>;
    async fn heartbeat(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &HeartbeatRequest,
    ) -> Result<HeartbeatAnswer, GatewayError>;
    async fn result(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        report: &JobResultReport,
    ) -> Result<ResultAck, GatewayError>;
    /// Sends a piece of a chat job's answer.
    async fn chunk(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &JobChunkRequest,
    ) -> Result<(), GatewayError>;
    /// Relays one model call of a job whose model is hosted to the gateway's egress;
    /// the gateway's answer, read as it streams, whatever its status.
    async fn hosted_call(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &HostedCallRequest,
        timeout: std::time::Duration,
    ) -> Result<reqwest::Response, GatewayError>;
    /// Sends a chunk of a running job's live log.
    async fn log(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &JobLogRequest,
    ) -> Result<(), GatewayError>;
    /// Hands the job back unfinished.
    async fn release(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &JobReleaseRequest,
    ) -> Result<(), GatewayError>;
    /// Where to upload one stream's raw bytes.
    async fn output_upload_url(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &OutputUploadRequest,
    ) -> Result<OutputUploadUrl, GatewayError>;
    /// Uploads `bytes` to a presigned URL.
    async fn upload(&self, url: &str, bytes: Vec<u8>) -> Result<(), GatewayError>;
    /// Downloads an attachment from its presigned URL into `dest`, refusing more than
    /// `max_bytes`.
    async fn download(
        &self,
        url: &str,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> anyhow::Result<()>;
}
