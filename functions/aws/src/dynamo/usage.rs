//! Users' model usage, in the tasks table: one row per user, day and model, whose counts
//! grow by an atomic `ADD` inside the transaction that records a job's result (see
//! [`add_usage`]).
//!
//! | item  | pk                 | sk                     |
//! |-------|--------------------|------------------------|
//! | row   | `USAGE#<user id>`  | `DAY#<day>#<model>`    |
//! | minute| `USAGE#<user id>`  | `MINUTE#<minute>`      |
//!
//! A minute item counts the tokens of a user's hosted model calls in one minute, for the
//! egress's rate limit; it expires an hour later.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use cynode_domain::clock::Timestamp;
use cynode_domain::ids::UserId;
use cynode_domain::ports::{StoreResult, UsageStore};
use cynode_domain::usage::UsageEntry;
use cynode_domain::wire::UsageRow;
use cynode_domain::StoreError;

use super::{build_error, key, query_items, ItemReader};

#[derive(Debug, Clone)]
pub struct DynamoUsage {
    client: Client,
    table: String,
}

fn usage_pk(user: &UserId) -> String {
    format!("USAGE#{user}")
}

fn day_sk(day: &str, model: &str) -> String {
    format!("DAY#{day}#{model}")
}

/// The transaction item that adds `entry` to its row (creating it at zero first).
pub(crate) fn add_usage(table: &str, entry: &UsageEntry) -> Result<TransactWriteItem, StoreError> {
    let number = |n: u64| AttributeValue::N(n.to_string());
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(usage_pk(&entry.user), day_sk(&entry.day, &entry.model))))
        .update_expression(
            "SET #day = :day, #model = :model ADD calls :calls, prompt_tokens :prompt, completion_tokens :completion, cost_micro_usd :cost",
        )
        .expression_attribute_names("#day", "day")
        .expression_attribute_names("#model", "model")
        .expression_attribute_values(":day", AttributeValue::S(entry.day.clone()))
        .expression_attribute_values(":model", AttributeValue::S(entry.model.clone()))
        .expression_attribute_values(":calls", number(u64::from(entry.usage.calls)))
        .expression_attribute_values(":prompt", number(entry.usage.prompt_tokens))
        .expression_attribute_values(":completion", number(entry.usage.completion_tokens))
        .expression_attribute_values(":cost", number(entry.cost_micro_usd))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoUsage {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl UsageStore for DynamoUsage {
    async fn usage(&self, user: &UserId, from: &str, to: &str) -> StoreResult<Vec<UsageRow>> {
        // Models sort after '#', and '$' after '#': the upper bound takes every model of `to`.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(usage_pk(user)))
            .expression_attribute_values(":from", AttributeValue::S(format!("DAY#{from}#")))
            .expression_attribute_values(":to", AttributeValue::S(format!("DAY#{to}$")))
            .consistent_read(true);
        query_items(query, None)
            .await?
            .iter()
            .map(|item| {
                let r = ItemReader(item);
                Ok(UsageRow {
                    day: r.s("day")?,
                    model: r.s("model")?,
                    calls: r.n("calls")?,
                    prompt_tokens: r.n("prompt_tokens")?,
                    completion_tokens: r.n("completion_tokens")?,
                    // Rows written before costs were counted have none.
                    cost_micro_usd: r.opt_n("cost_micro_usd")?.unwrap_or(0),
                })
            })
            .collect()
    }

    async fn add_usage(&self, entry: &UsageEntry) -> StoreResult<()> {
        super::transact(&self.client, vec![add_usage(&self.table, entry)?]).await
    }

    async fn minute_tokens(&self, user: &UserId, minute: &str) -> StoreResult<u64> {
        match super::get_item(&self.client, &self.table, usage_pk(user), minute_sk(minute)).await? {
            Some(item) => ItemReader(&item).n("tokens"),
            None => Ok(0),
        }
    }

    async fn add_minute_tokens(
        &self,
        user: &UserId,
        minute: &str,
        tokens: u64,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let expires_at = expires_at.unix_timestamp();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(usage_pk(user), minute_sk(minute))))
            .update_expression("SET expires_at = :expires ADD tokens :tokens")
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":tokens", AttributeValue::N(tokens.to_string()))
            .send()
            .await
            .map_err(super::store_error)?;
        Ok(())
    }
}

fn minute_sk(minute: &str) -> String {
    format!("MINUTE#{minute}")
}
