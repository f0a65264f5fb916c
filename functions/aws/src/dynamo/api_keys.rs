//! Personal API keys, in the sessions table: the key found by its id (which its secret
//! names) in one read, and a pointer per key under its user for listing.
//!
//! | item        | pk                  | sk           |
//! |-------------|---------------------|--------------|
//! | key         | `APIKEY#<key id>`   | `APIKEY`     |
//! | user's key  | `USERKEYS#<user id>`| `<key id>`   |
//!
//! A key's expiry is not `expires_at`: the table's TTL would delete the key and leave its
//! pointer behind; an expired key is kept and listed as expired.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::api_key::ApiKey;
use cynode_domain::clock::{rfc3339, Timestamp};
use cynode_domain::ids::{ApiKeyId, UserId};
use cynode_domain::ports::{ApiKeyStore, StoreResult};
use cynode_domain::wire::ApiKeyScope;
use cynode_domain::StoreError;

use super::{
    get_item, key, put_new, query_items, store_error, transact, Item, ItemBuilder, ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoApiKeys {
    client: Client,
    table: String,
}

fn key_pk(id: &ApiKeyId) -> String {
    format!("APIKEY#{id}")
}
const KEY_SK: &str = "APIKEY";
fn user_pk(user: &UserId) -> String {
    format!("USERKEYS#{user}")
}

fn read_key(item: &Item) -> StoreResult<ApiKey> {
    let r = ItemReader(item);
    let scope = r.s("scope")?;
    Ok(ApiKey {
        id: ApiKeyId::from_stored(r.s("key_id")?),
        user_id: UserId::from_stored(r.s("user_id")?),
        name: r.s("name")?,
        scope: ApiKeyScope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("API key scope '{scope}'")))?,
        hash: r.s("hash")?,
        prefix: r.s("prefix")?,
        created_at: r.time("created_at")?,
        expires_at: r.opt_time("key_expires_at")?,
        last_used_at: r.opt_time("last_used_at")?,
        revoked_at: r.opt_time("revoked_at")?,
    })
}

impl DynamoApiKeys {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Sets `attribute` on an existing key; `keep_first` keeps a value already there.
    async fn set_time(
        &self,
        id: &ApiKeyId,
        attribute: &str,
        at: Timestamp,
        keep_first: bool,
    ) -> StoreResult<()> {
        let expression = if keep_first {
            "SET #at = if_not_exists(#at, :at)"
        } else {
            "SET #at = :at"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(key_pk(id), KEY_SK)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#at", attribute)
            .expression_attribute_values(":at", AttributeValue::S(rfc3339(at)))
            .send()
            .await;
        match result.map_err(store_error) {
            // No such key: nothing to change.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl ApiKeyStore for DynamoApiKeys {
    async fn insert_api_key(&self, api_key: &ApiKey) -> StoreResult<()> {
        let record = ItemBuilder::key(key_pk(&api_key.id), KEY_SK)
            .s("key_id", api_key.id.as_str())
            .s("user_id", api_key.user_id.as_str())
            .s("name", api_key.name.as_str())
            .s("scope", api_key.scope.as_str())
            .s("hash", api_key.hash.as_str())
            .s("prefix", api_key.prefix.as_str())
            .time("created_at", api_key.created_at)
            .opt_time("key_expires_at", api_key.expires_at)
            .opt_time("last_used_at", api_key.last_used_at)
            .opt_time("revoked_at", api_key.revoked_at)
            .build();
        let pointer = ItemBuilder::key(user_pk(&api_key.user_id), api_key.id.as_str()).build();
        transact(
            &self.client,
            vec![
                put_new(&self.table, record)?,
                put_new(&self.table, pointer)?,
            ],
        )
        .await
    }

    async fn api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        get_item(&self.client, &self.table, key_pk(id), KEY_SK)
            .await?
            .as_ref()
            .map(read_key)
            .transpose()
    }

    async fn api_keys_of(&self, user: &UserId) -> StoreResult<Vec<ApiKey>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :user")
            .expression_attribute_values(":user", AttributeValue::S(user_pk(user)))
            .consistent_read(true);
        let mut keys = Vec::new();
        for pointer in query_items(query, None).await? {
            let id = ApiKeyId::from_stored(ItemReader(&pointer).s("sk")?);
            // A pointer whose key is gone (never, unless deleted by hand) lists nothing.
            if let Some(api_key) = self.api_key(&id).await? {
                keys.push(api_key);
            }
        }
        Ok(keys)
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.set_time(id, "revoked_at", at, true).await
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.set_time(id, "last_used_at", at, false).await
    }
}
