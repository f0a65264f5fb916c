//! The system settings, in the users table: one item, replaced whole under a condition
//! on the version it was read at.
//!
//! | item     | pk         | sk        |
//! |----------|------------|-----------|
//! | settings | `SETTINGS` | `CURRENT` |
//!
//! Every function reads it (a short cache in `SettingsService`); functions that read
//! nothing else of the users table may read only this partition (`dynamodb:LeadingKeys`
//! in `infra/template.yaml`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::ports::{SettingsStore, StoreResult};
use cynode_domain::settings::SettingsRecord;

use super::{get_item, store_error, ItemBuilder, ItemReader};

#[derive(Debug, Clone)]
pub struct DynamoSettings {
    client: Client,
    table: String,
}

const PK: &str = "SETTINGS";
const SK: &str = "CURRENT";

impl DynamoSettings {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

#[async_trait]
impl SettingsStore for DynamoSettings {
    async fn settings(&self) -> StoreResult<Option<SettingsRecord>> {
        let Some(item) = get_item(&self.client, &self.table, PK, SK).await? else {
            return Ok(None);
        };
        let r = ItemReader(&item);
        Ok(Some(SettingsRecord {
            values: r.json("values")?,
            version: r.s("version")?,
            updated_at: r.time("updated_at")?,
            updated_by: r.s("updated_by")?,
        }))
    }

    async fn replace_settings(
        &self,
        previous: Option<&str>,
        next: &SettingsRecord,
    ) -> StoreResult<()> {
        let item = ItemBuilder::key(PK, SK)
            .json("values", &next.values)?
            .s("version", &next.version)
            .time("updated_at", next.updated_at)
            .s("updated_by", &next.updated_by)
            .build();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("version = :previous")
                .expression_attribute_values(":previous", AttributeValue::S(version.to_owned())),
        };
        put.send().await.map_err(store_error)?;
        Ok(())
    }
}
