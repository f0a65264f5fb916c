//! Preferences, in the tasks table: one item per key and target. A task's live in the
//! task's own partition, so deleting the task removes them; a project's are removed by
//! [`super::DynamoProjects`] with the project.
//!
//! | target  | pk                      | sk           |
//! |---------|-------------------------|--------------|
//! | system  | `PREFS#SYSTEM`          | `PREF#<key>` |
//! | user    | `PREFS#USER#<user id>`  | `PREF#<key>` |
//! | project | `PREFS#PROJECT#<id>`    | `PREF#<key>` |
//! | task    | `TASK#<task id>`        | `PREF#<key>` |

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::ports::{PreferenceStore, StoreResult};
use cynode_domain::preference::{PreferenceTarget, StoredPreference};

use super::{delete_existing, put_item, query_items, Item, ItemBuilder, ItemReader};

#[derive(Debug, Clone)]
pub struct DynamoPreferences {
    client: Client,
    table: String,
}

const SK_PREFIX: &str = "PREF#";

/// The partition holding `target`'s values.
pub(crate) fn preferences_pk(target: &PreferenceTarget) -> String {
    match target {
        PreferenceTarget::System => "PREFS#SYSTEM".into(),
        PreferenceTarget::User(id) => format!("PREFS#USER#{id}"),
        PreferenceTarget::Project(id) => format!("PREFS#PROJECT#{id}"),
        PreferenceTarget::Task(id) => format!("TASK#{id}"),
    }
}

/// A strongly consistent query of every value set at `target`.
fn query_target(client: &Client, table: &str, target: &PreferenceTarget) -> QueryFluentBuilder {
    client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(preferences_pk(target)))
        .expression_attribute_values(":prefix", AttributeValue::S(SK_PREFIX.into()))
        .consistent_read(true)
}

/// The keys (pk, sk) of every value set at `target`.
pub(crate) async fn preference_keys(
    client: &Client,
    table: &str,
    target: &PreferenceTarget,
) -> StoreResult<Vec<Item>> {
    query_items(
        query_target(client, table, target).projection_expression("pk, sk"),
        None,
    )
    .await
}

impl DynamoPreferences {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl PreferenceStore for DynamoPreferences {
    async fn preferences(&self, target: &PreferenceTarget) -> StoreResult<Vec<StoredPreference>> {
        query_items(query_target(&self.client, &self.table, target), None)
            .await?
            .iter()
            .map(|item| {
                let r = ItemReader(item);
                Ok(StoredPreference {
                    key: r.s("key")?,
                    value: r.json("value")?,
                    updated_at: r.time("updated_at")?,
                })
            })
            .collect()
    }

    async fn put_preference(
        &self,
        target: &PreferenceTarget,
        value: &StoredPreference,
    ) -> StoreResult<()> {
        let item = ItemBuilder::key(preferences_pk(target), format!("{SK_PREFIX}{}", value.key))
            .s("key", &value.key)
            .json("value", &value.value)?
            .time("updated_at", value.updated_at)
            .build();
        put_item(&self.client, &self.table, item).await
    }

    async fn delete_preference(&self, target: &PreferenceTarget, name: &str) -> StoreResult<bool> {
        delete_existing(
            &self.client,
            &self.table,
            preferences_pk(target),
            format!("{SK_PREFIX}{name}"),
        )
        .await
    }
}
