//! Users' stored credentials. The description lives in the tasks table with the owner's
//! other items; the sealed value in the credentials table, which only the functions that
//! hand values out may read (`infra/template.yaml`). Both are written in one transaction.
//!
//! | item        | table       | pk                 | sk                         |
//! |-------------|-------------|--------------------|----------------------------|
//! | credential  | tasks       | `CREDS#<owner>`    | `CRED#<name>`              |
//! | value       | credentials | `USER#<owner>`     | `CRED#<credential id>`     |
//!
//! The value's item holds only the sealed bytes (`sealed`, binary): KMS ciphertext bound
//! to the owner and the credential id, never the value itself.

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use cynode_domain::credential::{Sealed, StoredCredential};
use cynode_domain::ids::{CredentialId, UserId};
use cynode_domain::ports::{CredentialStore, StoreResult};
use cynode_domain::StoreError;

use super::{
    build_error, get_item, key, partition_items, put_any, put_new, put_versioned, transact, Item,
    ItemBuilder, ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoCredentials {
    client: Client,
    table: String,
    values_table: String,
}

fn owner_pk(owner: &UserId) -> String {
    format!("CREDS#{owner}")
}
fn name_sk(name: &str) -> String {
    format!("CRED#{name}")
}
fn value_key(credential: &StoredCredential) -> (String, String) {
    (
        format!("USER#{}", credential.owner),
        format!("CRED#{}", credential.id),
    )
}

fn item(credential: &StoredCredential) -> Item {
    ItemBuilder::key(owner_pk(&credential.owner), name_sk(&credential.name))
        .s("credential_id", credential.id.as_str())
        .s("owner", credential.owner.as_str())
        .s("name", &credential.name)
        .s("provider", &credential.provider)
        .opt_s("description", credential.description.clone())
        .bool("enabled", credential.enabled)
        .time("created_at", credential.created_at)
        .time("updated_at", credential.updated_at)
        .opt_time("rotated_at", credential.rotated_at)
        .n("version", credential.version)
        .build()
}

fn read(item: &Item) -> StoreResult<StoredCredential> {
    let r = ItemReader(item);
    Ok(StoredCredential {
        id: CredentialId::from_stored(r.s("credential_id")?),
        owner: UserId::from_stored(r.s("owner")?),
        name: r.s("name")?,
        provider: r.s("provider")?,
        description: r.opt_s("description"),
        enabled: r.bool("enabled"),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        rotated_at: r.opt_time("rotated_at")?,
        version: r.n("version")?,
    })
}

impl DynamoCredentials {
    pub fn new(client: Client, table: String, values_table: String) -> Self {
        Self {
            client,
            table,
            values_table,
        }
    }

    fn value_write(
        &self,
        credential: &StoredCredential,
        sealed: &Sealed,
    ) -> StoreResult<TransactWriteItem> {
        let (pk, sk) = value_key(credential);
        let mut value = ItemBuilder::key(pk, sk).build();
        value.insert(
            "sealed".into(),
            AttributeValue::B(Blob::new(sealed.0.clone())),
        );
        put_any(&self.values_table, value)
    }
}

#[async_trait]
impl CredentialStore for DynamoCredentials {
    async fn insert_credential(
        &self,
        credential: &StoredCredential,
        sealed: &Sealed,
    ) -> StoreResult<()> {
        let writes = vec![
            put_new(&self.table, item(credential))?,
            self.value_write(credential, sealed)?,
        ];
        transact(&self.client, writes).await
    }

    async fn stored_credential(
        &self,
        owner: &UserId,
        name: &str,
    ) -> StoreResult<Option<StoredCredential>> {
        get_item(&self.client, &self.table, owner_pk(owner), name_sk(name))
            .await?
            .as_ref()
            .map(read)
            .transpose()
    }

    async fn credentials(&self, owner: &UserId) -> StoreResult<Vec<StoredCredential>> {
        partition_items(&self.client, &self.table, owner_pk(owner))
            .await?
            .iter()
            .map(read)
            .collect()
    }

    async fn update_credential(
        &self,
        credential: &StoredCredential,
        sealed: Option<&Sealed>,
    ) -> StoreResult<()> {
        let mut writes = vec![put_versioned(
            &self.table,
            item(credential),
            credential.version,
        )?];
        if let Some(sealed) = sealed {
            writes.push(self.value_write(credential, sealed)?);
        }
        transact(&self.client, writes).await
    }

    async fn delete_credential(&self, credential: &StoredCredential) -> StoreResult<()> {
        let description = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                owner_pk(&credential.owner),
                name_sk(&credential.name),
            )))
            .condition_expression("version = :version")
            .expression_attribute_values(
                ":version",
                AttributeValue::N(credential.version.to_string()),
            )
            .build()
            .map_err(build_error)?;
        let (pk, sk) = value_key(credential);
        let value = Delete::builder()
            .table_name(&self.values_table)
            .set_key(Some(key(pk, sk)))
            .build()
            .map_err(build_error)?;
        transact(
            &self.client,
            vec![
                TransactWriteItem::builder().delete(description).build(),
                TransactWriteItem::builder().delete(value).build(),
            ],
        )
        .await
    }

    async fn sealed_value(&self, credential: &StoredCredential) -> StoreResult<Option<Sealed>> {
        let (pk, sk) = value_key(credential);
        let Some(item) = get_item(&self.client, &self.values_table, pk, sk).await? else {
            return Ok(None);
        };
        match item.get("sealed") {
            Some(AttributeValue::B(bytes)) => Ok(Some(Sealed(bytes.clone().into_inner()))),
            _ => Err(StoreError::Corrupt(format!(
                "credential {} has no sealed value",
                credential.id
            ))),
        }
    }
}
