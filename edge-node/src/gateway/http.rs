//! The gateway over HTTP: registration, configuration, and the signed job callbacks.
//! Every request after registration is signed (see `cynode_protocol::signing`).

use cynode_protocol::wire::ErrorCode;
use std::time::Duration;

use async_trait::async_trait;

use super::{Gateway, GatewayError, Identity};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use cynode_protocol::ids::{JobId, NodeId};
use cynode_protocol::signing::{
    self, Signed, HEADER_NODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use cynode_protocol::wire::{
    CapabilityReport, ClaimDecision, ConfigAck, ErrorBody, HeartbeatAnswer, HeartbeatRequest,
    HostedCallRequest, JobChunkRequest, JobLogRequest, JobReleaseRequest, JobResultReport,
    JobStartedRequest, NodeConfig, NodeRegistration, NodeView, OutputUploadRequest,
    OutputUploadUrl, QueueCredentials, RegisterNodeRequest, ResultAck,
};

#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
}

fn unreachable(err: reqwest::Error) -> GatewayError {
    // reqwest's message never includes headers, so no signature or key leaks here.
    GatewayError::Unreachable(err.without_url().to_string())
}

impl GatewayClient {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("cynode-edge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, GatewayError> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(body).map_err(|err| GatewayError::Refused {
                status,
                code: ErrorCode::UnreadableResponse,
                message: err.to_string(),
            });
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => (
                ErrorCode::UnexpectedResponse,
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        Err(GatewayError::Refused {
            status,
            code,
            message,
        })
    }

    async fn signed<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        node: &NodeId,
        key: &str,
    ) -> Result<T, GatewayError> {
        let response = self
            .signed_request(method, path, body, node, key)?
            .send()
            .await
            .map_err(unreachable)?;
        Self::decode(response).await
    }

    /// A request signed with `key` (the node's, or a claim's job token), ready to send.
    fn signed_request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        node: &NodeId,
        key: &str,
    ) -> Result<reqwest::RequestBuilder, GatewayError> {
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|err| GatewayError::Refused {
                status: StatusCode::BAD_REQUEST,
                code: ErrorCode::UnencodableRequest,
                message: err.to_string(),
            })?,
            None => Vec::new(),
        };
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let nonce = signing::new_nonce();
        let signature = signing::sign(
            key,
            &Signed {
                method: method.as_str(),
                path,
                timestamp,
                nonce: &nonce,
                body: &bytes,
            },
        );
        Ok(self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(HEADER_NODE, node.as_str())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce)
            .header(HEADER_SIGNATURE, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes))
    }
}

#[async_trait]
impl Gateway for GatewayClient {
    async fn register(&self, req: &RegisterNodeRequest) -> Result<NodeRegistration, GatewayError> {
        let response = self
            .http
            .post(format!("{}/v1/nodes/register", self.base))
            .json(req)
            .send()
            .await
            .map_err(unreachable)?;
        Self::decode(response).await
    }

    /// Fresh queue credentials (the ones registration gave expire).
    async fn credentials(&self, me: &Identity) -> Result<QueueCredentials, GatewayError> {
        self.signed::<(), _>(
            Method::POST,
            "/v1/nodes/credentials",
            None,
            &me.node_id,
            &me.node_key,
        )
        .await
    }

    async fn config(&self, me: &Identity) -> Result<NodeConfig, GatewayError> {
        self.signed::<(), _>(
            Method::GET,
            "/v1/nodes/config",
            None,
            &me.node_id,
            &me.node_key,
        )
        .await
    }

    async fn acknowledge(&self, me: &Identity, ack: &ConfigAck) -> Result<(), GatewayError> {
        self.signed(
            Method::POST,
            "/v1/nodes/config/ack",
            Some(ack),
            &me.node_id,
            &me.node_key,
        )
        .await
    }

    async fn report_capabilities(
        &self,
        me: &Identity,
        report: &CapabilityReport,
    ) -> Result<NodeView, GatewayError> {
        self.signed(
            Method::POST,
            "/v1/nodes/capabilities",
            Some(report),
            &me.node_id,
            &me.node_key,
        )
        .await
    }

    async fn started(
        &self,
        me: &Identity,
        job: &JobId,
        req: &JobStartedRequest,
    ) -> Result<ClaimDecision, GatewayError> {
        let path = format!("/v1/jobs/{job}/started");
        self.signed(Method::POST, &path, Some(req), &me.node_id, &me.node_key)
            .await
    }

    async fn heartbeat(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &HeartbeatRequest,
    ) -> Result<HeartbeatAnswer, GatewayError> {
        let path = format!("/v1/jobs/{job}/heartbeat");
        self.signed(Method::POST, &path, Some(req), &me.node_id, job_token)
            .await
    }

    async fn result(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        report: &JobResultReport,
    ) -> Result<ResultAck, GatewayError> {
        let path = format!("/v1/jobs/{job}/result");
        self.signed(Method::POST, &path, Some(report), &me.node_id, job_token)
            .await
    }

    /// Sends a piece of a chat job's answer (signed with the claim's job token).
    async fn chunk(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &JobChunkRequest,
    ) -> Result<(), GatewayError> {
        let path = format!("/v1/jobs/{job}/chunks");
        self.signed(Method::POST, &path, Some(req), &me.node_id, job_token)
            .await
    }

    /// A hosted model's call, signed with the claim's job token; the answer is the
    /// pod's whatever its status, read as it streams (within `timeout`, not the client's
    /// usual 30 s).
    async fn hosted_call(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &HostedCallRequest,
        timeout: Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        let path = format!("/v1/jobs/{job}/inference");
        self.signed_request(Method::POST, &path, Some(req), &me.node_id, job_token)?
            .timeout(timeout)
            .send()
            .await
            .map_err(unreachable)
    }

    /// A chunk of a running job's live log (signed with the claim's job token).
    async fn log(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &JobLogRequest,
    ) -> Result<(), GatewayError> {
        let path = format!("/v1/jobs/{job}/logs");
        self.signed(Method::POST, &path, Some(req), &me.node_id, job_token)
            .await
    }

    /// Hands the job back unfinished (signed with the claim's job token).
    async fn release(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &JobReleaseRequest,
    ) -> Result<(), GatewayError> {
        let path = format!("/v1/jobs/{job}/release");
        self.signed(Method::POST, &path, Some(req), &me.node_id, job_token)
            .await
    }

    /// Where to upload one stream's raw bytes (signed with the claim's job token).
    async fn output_upload_url(
        &self,
        me: &Identity,
        job: &JobId,
        job_token: &str,
        req: &OutputUploadRequest,
    ) -> Result<OutputUploadUrl, GatewayError> {
        let path = format!("/v1/jobs/{job}/output");
        self.signed(Method::POST, &path, Some(req), &me.node_id, job_token)
            .await
    }

    /// Uploads `bytes` to a presigned URL.
    async fn upload(&self, url: &str, bytes: Vec<u8>) -> Result<(), GatewayError> {
        let response = self
            .http
            .put(url)
            .timeout(Duration::from_secs(300))
            .body(bytes)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(GatewayError::Refused {
            status,
            code: ErrorCode::UploadFailed,
            message: "the blob store refused the raw output".into(),
        })
    }

    /// Downloads an attachment from its presigned URL into `dest`, refusing more than
    /// `max_bytes`.
    async fn download(
        &self,
        url: &str,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mut response = self.http.get(url).send().await?.error_for_status()?;
        let mut file = tokio::fs::File::create(dest).await?;
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await? {
            written += chunk.len() as u64;
            anyhow::ensure!(
                written <= max_bytes,
                "attachment is larger than its announced {max_bytes} bytes"
            );
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(())
    }
}
