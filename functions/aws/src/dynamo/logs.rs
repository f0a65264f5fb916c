//! Jobs' live logs, in the tasks table beside their job, so that deleting a task removes
//! them with the rest of its partition:
//!
//! | item      | pk               | sk                                  |
//! |-----------|------------------|-------------------------------------|
//! | log chunk | `TASK#<task id>` | `LOG#<job id>#<attempt>#<seq>`      |
//!
//! Attempt and `seq` are zero-padded, so a partition's `LOG#` range is in the order
//! readers follow (job ids are creation-ordered ULIDs): a cursor is the last chunk's key.
//! One item per chunk: a node ships at most two a second per running job.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::ids::{JobId, TaskId};
use cynode_domain::live_log::{LogChunk, LogPosition};
use cynode_domain::ports::{LogStore, StoreResult};

use super::{put_item, query_items, Item, ItemBuilder, ItemReader};

#[derive(Debug, Clone)]
pub struct DynamoLogs {
    client: Client,
    table: String,
}

fn task_pk(task: &TaskId) -> String {
    format!("TASK#{task}")
}

fn log_sk(position: &LogPosition) -> String {
    format!(
        "LOG#{}#{:010}#{:010}",
        position.job, position.attempt, position.seq
    )
}

fn read(item: &Item) -> StoreResult<LogChunk> {
    let r = ItemReader(item);
    Ok(LogChunk {
        task: TaskId::from_stored(r.s("task_id")?),
        job: JobId::from_stored(r.s("job_id")?),
        attempt: r.n("attempt")?,
        seq: r.n("seq")?,
        entries: r.json("entries")?,
        truncated: r.bool("truncated"),
        received_at: r.time("received_at")?,
    })
}

impl DynamoLogs {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl LogStore for DynamoLogs {
    async fn put_log(&self, chunk: &LogChunk) -> StoreResult<()> {
        // A chunk sent again is the same chunk: writing it over itself changes nothing.
        let item = ItemBuilder::key(task_pk(&chunk.task), log_sk(&chunk.position()))
            .s("task_id", chunk.task.as_str())
            .s("job_id", chunk.job.as_str())
            .n("attempt", chunk.attempt)
            .n("seq", chunk.seq)
            .json("entries", &chunk.entries)?
            .bool("truncated", chunk.truncated)
            .time("received_at", chunk.received_at)
            .build();
        put_item(&self.client, &self.table, item).await
    }

    async fn logs_after(
        &self,
        task: &TaskId,
        after: Option<&LogPosition>,
        limit: u32,
    ) -> StoreResult<Vec<LogChunk>> {
        // Every key after the cursor's sorts after the cursor's key with "#" appended
        // (keys are of one shape, so none has another as its prefix).
        let from = match after {
            Some(position) => format!("{}#", log_sk(position)),
            None => "LOG#".to_owned(),
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(task_pk(task)))
            .expression_attribute_values(":from", AttributeValue::S(from))
            .expression_attribute_values(":to", AttributeValue::S("LOG$".into()))
            .consistent_read(true);
        query_items(query, Some(limit as usize))
            .await?
            .iter()
            .map(read)
            .collect()
    }
}
