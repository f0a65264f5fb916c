//! Chat threads, in the tasks table.
//!
//! | item         | pk                    | sk            |
//! |--------------|-----------------------|---------------|
//! | thread       | `THREAD#<thread id>`  | `THREAD`      |
//! | owner index  | `THREADS#<owner>`     | `<thread id>` |
//!
//! The thread item holds the messages (bounded well under DynamoDB's 400 KB by
//! `cynode_domain::chat::MAX_THREAD_BYTES`); the owner's index items, written in the same
//! transaction, list a user's threads newest first with one query.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use cynode_domain::chat::Thread;
use cynode_domain::ids::{ThreadId, UserId};
use cynode_domain::ports::{StoreResult, ThreadStore};

use super::{
    build_error, delete_write, get_item, put_versioned, store_error, transact, ItemBuilder,
    ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoThreads {
    client: Client,
    table: String,
}

fn thread_pk(id: &ThreadId) -> String {
    format!("THREAD#{id}")
}
fn owner_pk(owner: &UserId) -> String {
    format!("THREADS#{owner}")
}

impl DynamoThreads {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl ThreadStore for DynamoThreads {
    async fn put_thread(&self, thread: &Thread) -> StoreResult<()> {
        let item = ItemBuilder::key(thread_pk(&thread.id), "THREAD")
            .json("thread", thread)?
            .n("version", thread.version)
            .build();
        let summary = Thread {
            messages: vec![],
            ..thread.clone()
        };
        let index = ItemBuilder::key(owner_pk(&thread.owner), thread.id.as_str())
            .json("thread", &summary)?
            .build();
        let index = Put::builder()
            .table_name(&self.table)
            .set_item(Some(index))
            .build()
            .map_err(build_error)?;
        transact(
            &self.client,
            vec![
                put_versioned(&self.table, item, thread.version)?,
                TransactWriteItem::builder().put(index).build(),
            ],
        )
        .await
    }

    async fn thread(&self, id: &ThreadId) -> StoreResult<Option<Thread>> {
        get_item(&self.client, &self.table, thread_pk(id), "THREAD")
            .await?
            .map(|item| ItemReader(&item).json("thread"))
            .transpose()
    }

    async fn list_threads(&self, owner: &UserId, limit: u32) -> StoreResult<Vec<Thread>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(owner_pk(owner)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(store_error)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| ItemReader(item).json("thread"))
            .collect()
    }

    async fn delete_thread(&self, thread: &Thread) -> StoreResult<()> {
        transact(
            &self.client,
            vec![
                delete_write(&self.table, thread_pk(&thread.id), "THREAD")?,
                delete_write(&self.table, owner_pk(&thread.owner), thread.id.as_str())?,
            ],
        )
        .await
    }
}
