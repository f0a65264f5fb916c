//! The job queues over SQS: the gateway only sends; edge nodes receive (see `cynode-edge`).
//! Jobs that need a model go on the inference queue, which only nodes with a model poll.

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use cynode_domain::ports::{JobQueue, StoreResult};
use cynode_domain::wire::JobMessage;
use cynode_domain::StoreError;

#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
    inference_queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, queue_url: String, inference_queue_url: String) -> Self {
        Self {
            client,
            queue_url,
            inference_queue_url,
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn inference_queue_url(&self) -> &str {
        &self.inference_queue_url
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, message: &JobMessage) -> StoreResult<()> {
        let body = serde_json::to_string(message)
            .map_err(|err| StoreError::Corrupt(format!("encoding job message: {err}")))?;
        let queue_url = if message.inference {
            &self.inference_queue_url
        } else {
            &self.queue_url
        };
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|err| {
                StoreError::Unavailable(format!("SQS: {}", DisplayErrorContext(&err)))
            })?;
        Ok(())
    }
}
