//! DynamoDB adapters, one per table.
//!
//! Every table has a string partition key `pk` and sort key `sk`. Besides the entities
//! themselves, a table holds small guard items that make uniqueness a conditional write
//! (`HANDLE#alice`, `TASKNAME#<owner>#build`, `NODENAME#gpu-1`). Nested values (leases,
//! outputs, capability reports) are stored as JSON strings: nothing queries into them.
//! Expiring items carry `expires_at` (unix seconds) for DynamoDB's TTL; readers still
//! check expiry themselves, since TTL deletion lags.

mod api_keys;
mod audit;
mod credentials;
mod logs;
mod nodes;
mod preferences;
mod projects;
mod providers;
mod sessions;
mod settings;
mod skills;
mod streams;
mod tasks;
mod threads;
mod usage;
mod users;

pub use api_keys::DynamoApiKeys;
pub use audit::DynamoAudit;
pub use credentials::DynamoCredentials;
pub use logs::DynamoLogs;
pub use nodes::DynamoNodes;
pub use preferences::DynamoPreferences;
pub use projects::DynamoProjects;
pub use providers::DynamoProviders;
pub use sessions::DynamoSessions;
pub use settings::DynamoSettings;
pub use skills::DynamoSkills;
pub use streams::DynamoStreams;
pub use tasks::DynamoTasks;
pub use threads::DynamoThreads;
pub use usage::DynamoUsage;
pub use users::DynamoUsers;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use cynode_domain::clock::{parse_rfc3339, rfc3339, Timestamp};
use cynode_domain::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Maps an SDK failure to the port's error: a lost conditional write (or a transaction
/// canceled by one) is a `Conflict`, a request the service refuses as malformed is
/// `Rejected`, anything else `Unavailable`.
pub(crate) fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or_default();
    match code {
        "ConditionalCheckFailedException" | "TransactionConflictException" => {
            StoreError::Conflict(code.to_owned())
        }
        "ValidationException" => {
            StoreError::Rejected(format!("DynamoDB: {}", DisplayErrorContext(&err)))
        }
        _ => StoreError::Unavailable(format!("DynamoDB: {}", DisplayErrorContext(&err))),
    }
}

pub(crate) fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("building a DynamoDB request: {err}"))
}

/// Builds an item attribute by attribute.
#[derive(Default)]
pub(crate) struct ItemBuilder(Item);

impl ItemBuilder {
    pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self::default().s("pk", pk).s("sk", sk)
    }
    pub fn s(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0
            .insert(name.to_owned(), AttributeValue::S(value.into()));
        self
    }
    pub fn opt_s(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.s(name, value),
            None => self,
        }
    }
    pub fn n(mut self, name: &str, value: impl ToString) -> Self {
        self.0
            .insert(name.to_owned(), AttributeValue::N(value.to_string()));
        self
    }
    pub fn opt_n(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.n(name, value),
            None => self,
        }
    }
    pub fn bool(mut self, name: &str, value: bool) -> Self {
        self.0.insert(name.to_owned(), AttributeValue::Bool(value));
        self
    }
    pub fn time(self, name: &str, at: Timestamp) -> Self {
        self.s(name, rfc3339(at))
    }
    pub fn opt_time(self, name: &str, at: Option<Timestamp>) -> Self {
        self.opt_s(name, at.map(rfc3339))
    }
    pub fn json<T: Serialize>(self, name: &str, value: &T) -> Result<Self, StoreError> {
        let text = serde_json::to_string(value)
            .map_err(|err| StoreError::Corrupt(format!("encoding {name}: {err}")))?;
        Ok(self.s(name, text))
    }
    pub fn build(self) -> Item {
        self.0
    }
}

/// Typed reads of an item's attributes; a missing or mistyped attribute is `Corrupt`.
pub(crate) struct ItemReader<'a>(pub &'a Item);

impl ItemReader<'_> {
    fn corrupt(&self, name: &str, what: &str) -> StoreError {
        let pk = self
            .0
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        StoreError::Corrupt(format!("item {pk}: attribute {name} {what}"))
    }
    pub fn opt_s(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    pub fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| self.corrupt(name, "is missing or not a string"))
    }
    pub fn opt_n<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(value) => value
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| self.corrupt(name, "is not a number")),
        }
    }
    pub fn n<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.opt_n(name)?
            .ok_or_else(|| self.corrupt(name, "is missing"))
    }
    pub fn bool(&self, name: &str) -> bool {
        self.0
            .get(name)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false)
    }
    pub fn time(&self, name: &str) -> Result<Timestamp, StoreError> {
        parse_rfc3339(&self.s(name)?).ok_or_else(|| self.corrupt(name, "is not an RFC 3339 time"))
    }
    pub fn opt_time(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_s(name)
            .map(|text| {
                parse_rfc3339(&text).ok_or_else(|| self.corrupt(name, "is not an RFC 3339 time"))
            })
            .transpose()
    }
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, StoreError> {
        serde_json::from_str(&self.s(name)?)
            .map_err(|err| self.corrupt(name, &format!("is not valid JSON: {err}")))
    }
    pub fn opt_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(name)
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|err| self.corrupt(name, &format!("is not valid JSON: {err}")))
            })
            .transpose()
    }
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    ItemBuilder::key(pk, sk).build()
}

/// Runs a query page after page until it is exhausted or `wanted` items came back
/// (DynamoDB also stops a page at 1 MB, so one page is never enough on its own).
pub(crate) async fn query_items(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    wanted: Option<usize>,
) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut next = query;
    loop {
        let page = match wanted {
            Some(wanted) => next.clone().limit((wanted - items.len()) as i32),
            None => next.clone(),
        };
        let out = page.send().await.map_err(store_error)?;
        items.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(key) if wanted.is_none_or(|wanted| items.len() < wanted) => {
                next = next.set_exclusive_start_key(Some(key));
            }
            _ => return Ok(items),
        }
    }
}

/// Every item of one partition (a consistent read, page after page): an owner's skills
/// or credentials.
pub(crate) async fn partition_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: String,
) -> Result<Vec<Item>, StoreError> {
    let query = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk))
        .consistent_read(true);
    query_items(query, None).await
}

/// Counts what a query matches (`Select COUNT`), page after page, stopping once `up_to`
/// is reached (no bound: every page).
pub(crate) async fn count_items(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    up_to: Option<u32>,
) -> Result<u32, StoreError> {
    let query = query.select(aws_sdk_dynamodb::types::Select::Count);
    let mut counted = 0u32;
    let mut next = query.clone();
    loop {
        let page = match up_to {
            Some(up_to) => next
                .clone()
                .limit(up_to.saturating_sub(counted).max(1) as i32),
            None => next.clone(),
        };
        let out = page.send().await.map_err(store_error)?;
        counted += out.count.max(0) as u32;
        match out.last_evaluated_key {
            Some(key) if up_to.is_none_or(|up_to| counted < up_to) => {
                next = query.clone().set_exclusive_start_key(Some(key));
            }
            _ => return Ok(up_to.map_or(counted, |up_to| counted.min(up_to))),
        }
    }
}

/// A strongly consistent read of one item.
pub(crate) async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: impl Into<String>,
    sk: impl Into<String>,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    Ok(out.item)
}

/// Puts an item, replacing any item with its key (no condition).
pub(crate) async fn put_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    item: Item,
) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Deletes one item; `false` when there was none.
pub(crate) async fn delete_existing(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: impl Into<String>,
    sk: impl Into<String>,
) -> Result<bool, StoreError> {
    let out = client
        .delete_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(store_error)?;
    Ok(out.attributes.is_some_and(|old| !old.is_empty()))
}

/// A put that succeeds only when no item with this key exists.
pub(crate) fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An unconditional put (items no one else writes, such as a project's credential).
pub(crate) fn put_any(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A delete of one item, whether or not it exists.
pub(crate) fn delete_write(
    table: &str,
    pk: impl Into<String>,
    sk: impl Into<String>,
) -> Result<TransactWriteItem, StoreError> {
    let delete = aws_sdk_dynamodb::types::Delete::builder()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// A put that succeeds only when the stored item has version `version - 1`
/// (or, for version 1, when there is no stored item).
pub(crate) fn put_versioned(
    table: &str,
    item: Item,
    version: u64,
) -> Result<TransactWriteItem, StoreError> {
    if version <= 1 {
        return put_new(table, item);
    }
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("version = :expected")
        .expression_attribute_values(":expected", AttributeValue::N((version - 1).to_string()))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Runs one or more conditional writes atomically (a single write skips the transaction).
pub(crate) async fn transact(
    client: &aws_sdk_dynamodb::Client,
    mut writes: Vec<TransactWriteItem>,
) -> Result<(), StoreError> {
    // One put is cheaper as a plain conditional put than as a transaction.
    if let [TransactWriteItem { put: Some(_), .. }] = writes.as_slice() {
        if let Some(put) = writes.pop().and_then(|w| w.put) {
            let mut request = client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_values(put.expression_attribute_values);
            if let Some(names) = put.expression_attribute_names {
                request = request.set_expression_attribute_names(Some(names));
            }
            request.send().await.map_err(store_error)?;
            return Ok(());
        }
    }
    client
        .transact_write_items()
        .set_transact_items(Some(writes))
        .send()
        .await
        .map_err(transaction_error)?;
    Ok(())
}

/// Deletes the items with these keys, 25 to a batch (DynamoDB's most), sending again
/// what a batch left unprocessed (throttled) after a short pause.
pub(crate) async fn delete_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: Vec<Item>,
) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    for batch in keys.chunks(25) {
        let mut requests = batch
            .iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for pause_ms in [0, 50, 200, 800, 2000] {
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(store_error)?;
            requests = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
        }
        if !requests.is_empty() {
            return Err(StoreError::Unavailable(format!(
                "DynamoDB left {} deletes unprocessed",
                requests.len()
            )));
        }
    }
    Ok(())
}

/// A canceled transaction is a conflict only when a condition failed or another
/// transaction held an item; throttling is unavailability and a validation failure is
/// our bug, whatever the cancellation says.
fn transaction_error<R: std::fmt::Debug>(
    err: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
        err.as_service_error()
    else {
        return store_error(err);
    };
    let codes: Vec<&str> = canceled
        .cancellation_reasons()
        .iter()
        .filter_map(|reason| reason.code())
        .filter(|code| *code != "None")
        .collect();
    cancellation_error(&codes, &DisplayErrorContext(&err).to_string())
}

fn cancellation_error(codes: &[&str], details: &str) -> StoreError {
    if codes
        .iter()
        .any(|code| matches!(*code, "ConditionalCheckFailed" | "TransactionConflict"))
    {
        StoreError::Conflict(codes.join(","))
    } else if codes.contains(&"ValidationError") {
        StoreError::Rejected(format!("DynamoDB refused a transaction: {details}"))
    } else {
        StoreError::Unavailable(format!("DynamoDB: {details}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failed_conditions_and_conflicts_cancel_as_conflicts() {
        let conflict =
            |codes: &[&str]| matches!(cancellation_error(codes, ""), StoreError::Conflict(_));
        assert!(conflict(&["None", "ConditionalCheckFailed"]));
        assert!(conflict(&["TransactionConflict"]));
        assert!(matches!(
            cancellation_error(&["ThrottlingError", "None"], ""),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            cancellation_error(&["ValidationError"], ""),
            StoreError::Rejected(_)
        ));
        assert!(matches!(
            cancellation_error(&[], ""),
            StoreError::Unavailable(_)
        ));
    }
}
