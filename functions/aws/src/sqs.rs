//! The job queues over SQS: the gateway only sends; edge nodes receive (see `cynode-edge`).
//! Jobs that need a model go on the inference queue, which only nodes with a model poll.
//! Both dead-letter into one queue, which the recovery sweep reads.

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use cynode_domain::ports::{DeadLetter, DeadLetters, JobQueue, StoreResult};
use cynode_domain::wire::JobMessage;
use cynode_domain::StoreError;

#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
    inference_queue_url: String,
    dead_letter_queue_url: String,
}

impl SqsJobQueue {
    pub fn new(
        client: Client,
        queue_url: String,
        inference_queue_url: String,
        dead_letter_queue_url: String,
    ) -> Self {
        Self {
            client,
            queue_url,
            inference_queue_url,
            dead_letter_queue_url,
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
    async fn enqueue_delayed(&self, message: &JobMessage, delay_secs: u32) -> StoreResult<()> {
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
            .delay_seconds(delay_secs.min(900) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn unavailable(err: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(format!("SQS: {}", DisplayErrorContext(err)))
}

#[async_trait]
impl DeadLetters for SqsJobQueue {
    async fn receive_dead(&self, max: u32, hide_secs: u32) -> StoreResult<Vec<DeadLetter>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.dead_letter_queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(hide_secs as i32)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|message| {
                Some(DeadLetter {
                    message_id: message.message_id?,
                    receipt: message.receipt_handle?,
                    body: message.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn delete_dead(&self, receipt: &str) -> StoreResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.dead_letter_queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
