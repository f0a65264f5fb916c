//! The node's side of the job queue: receive with long polling, keep a message hidden
//! while its job runs, release it for a retry, delete it once the result is stored.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;
use serde::{Deserialize, Serialize};

use cynode_protocol::wire::NodeRegistration;

use crate::credentials::GatewayCredentials;
use crate::gateway::{Gateway, SharedIdentity};

/// Which of the node's queues a delivery came from: receipts are only valid on their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueKind {
    /// Sandbox work any node can run.
    #[default]
    Jobs,
    /// Work that needs a model; polled only while the node serves one.
    Inference,
}

/// The queues a node receives from.
#[derive(Clone)]
pub struct NodeQueues {
    pub jobs: Arc<dyn NodeQueue>,
    pub inference: Option<Arc<dyn NodeQueue>>,
}

impl NodeQueues {
    pub fn get(&self, kind: QueueKind) -> Option<&Arc<dyn NodeQueue>> {
        match kind {
            QueueKind::Jobs => Some(&self.jobs),
            QueueKind::Inference => self.inference.as_ref(),
        }
    }
}

/// Opens the queues a registration names. The agent learns its queues only once it has
/// registered, so it is handed this rather than the queues themselves.
#[async_trait]
pub trait QueueConnector: Send + Sync {
    /// The queues of `registration`, reached as `identity` (whose credentials the
    /// gateway issues and renews).
    async fn open(
        &self,
        registration: &NodeRegistration,
        identity: SharedIdentity,
    ) -> anyhow::Result<NodeQueues>;
}

/// SQS, with the short-lived credentials the gateway issues this node (or, where the
/// gateway issues none, the machine's own).
pub struct SqsConnector {
    pub gateway: Arc<dyn Gateway>,
}

#[async_trait]
impl QueueConnector for SqsConnector {
    async fn open(
        &self,
        registration: &NodeRegistration,
        identity: SharedIdentity,
    ) -> anyhow::Result<NodeQueues> {
        // Long polls wait up to 20 s; past 30 s the queue is not answering.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .operation_attempt_timeout(std::time::Duration::from_secs(30))
            .operation_timeout(std::time::Duration::from_secs(60))
            .build();
        let mut aws =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
        match registration.credentials.clone() {
            Some(first) => {
                tracing::info!(expires_at = %first.expires_at, "using the gateway's queue credentials");
                aws = aws
                    .credentials_provider(GatewayCredentials::new(
                        self.gateway.clone(),
                        identity,
                        first,
                    ))
                    .identity_cache(
                        aws_config::identity::IdentityCache::lazy()
                            .buffer_time(crate::credentials::RENEW_BEFORE)
                            .build(),
                    );
            }
            None => tracing::warn!(
                "the gateway issues no queue credentials; using this machine's own AWS credentials"
            ),
        }
        let sqs = Client::new(&aws.load().await);
        let config = &registration.config;
        Ok(NodeQueues {
            jobs: Arc::new(SqsQueue::new(
                sqs.clone(),
                config.queue_url.clone(),
                QueueKind::Jobs,
            )),
            inference: config.inference_queue_url.clone().map(|url| {
                Arc::new(SqsQueue::new(sqs, url, QueueKind::Inference)) as Arc<dyn NodeQueue>
            }),
        })
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub queue: QueueKind,
    pub body: String,
    /// The handle to extend, release or delete this delivery.
    pub receipt: String,
    /// How many times SQS has delivered the message, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("job queue: {0}")]
pub struct QueueError(String);

#[async_trait]
pub trait NodeQueue: Send + Sync {
    /// Waits up to `wait_secs` for up to `max` messages.
    async fn receive(&self, max: u32, wait_secs: u32) -> Result<Vec<Received>, QueueError>;
    /// Hides the message for `secs` more seconds from now (0 makes it visible at once).
    async fn hide_for(&self, receipt: &str, secs: u32) -> Result<(), QueueError>;
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
}

pub struct SqsQueue {
    client: Client,
    url: String,
    kind: QueueKind,
}

impl SqsQueue {
    pub fn new(client: Client, url: String, kind: QueueKind) -> Self {
        Self { client, url, kind }
    }
}

fn queue_error(err: impl std::error::Error) -> QueueError {
    QueueError(DisplayErrorContext(err).to_string())
}

#[async_trait]
impl NodeQueue for SqsQueue {
    async fn receive(&self, max: u32, wait_secs: u32) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait_secs.min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                let receive_count = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    queue: self.kind,
                    body: message.body?,
                    receipt: message.receipt_handle?,
                    receive_count,
                })
            })
            .collect())
    }

    async fn hide_for(&self, receipt: &str, secs: u32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs.min(43_200) as i32)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}
