//! Open streams, in the tasks table: one lease item per stream, which its holder renews
//! and DynamoDB's TTL removes after a crash (reads also skip expired ones).
//!
//! | item    | pk                  | sk                   |
//! |---------|---------------------|----------------------|
//! | stream  | `STREAMS#<owner>`   | `STREAM#<stream id>` |

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::clock::Timestamp;
use cynode_domain::ids::UserId;
use cynode_domain::ports::{StoreResult, StreamStore};

use super::{count_items, key, store_error};

#[derive(Debug, Clone)]
pub struct DynamoStreams {
    client: Client,
    table: String,
}

fn owner_pk(owner: &UserId) -> String {
    format!("STREAMS#{owner}")
}

fn stream_sk(id: &str) -> String {
    format!("STREAM#{id}")
}

impl DynamoStreams {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl StreamStore for DynamoStreams {
    async fn open_streams(&self, owner: &UserId, now: Timestamp) -> StoreResult<u32> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :owner")
            .filter_expression("expires_at > :now")
            .expression_attribute_values(":owner", AttributeValue::S(owner_pk(owner)))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .consistent_read(true);
        count_items(query, None).await
    }

    async fn put_stream(&self, owner: &UserId, id: &str, expires_at: Timestamp) -> StoreResult<()> {
        let mut item = key(owner_pk(owner), stream_sk(id));
        item.insert(
            "expires_at".into(),
            AttributeValue::N(expires_at.unix_timestamp().to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn remove_stream(&self, owner: &UserId, id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(owner_pk(owner), stream_sk(id))))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
