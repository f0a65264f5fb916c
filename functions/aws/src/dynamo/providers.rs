//! The provider registry, in the tasks table, one partition for all of it (a handful of
//! providers; their attachments one item per provider and user):
//!
//! | item        | pk          | sk                                  |
//! |-------------|-------------|-------------------------------------|
//! | provider    | `PROVIDERS` | `PROVIDER#<name>`                   |
//! | attachment  | `PROVIDERS` | `CRED#<provider>#<user id>` or `CRED#<provider>#SYSTEM` |

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::ids::UserId;
use cynode_domain::ports::{ProviderStore, StoreResult};
use cynode_domain::provider::{Provider, ProviderCredential};
use cynode_domain::wire::ProviderKind;
use cynode_domain::StoreError;

use super::{
    delete_existing, delete_items, get_item, key, put_item, put_new, query_items, transact,
    ItemBuilder, ItemReader,
};

const PK: &str = "PROVIDERS";

#[derive(Debug, Clone)]
pub struct DynamoProviders {
    client: Client,
    table: String,
}

fn provider_sk(name: &str) -> String {
    format!("PROVIDER#{name}")
}

fn attachment_sk(provider: &str, owner: Option<&UserId>) -> String {
    match owner {
        Some(owner) => format!("CRED#{provider}#{owner}"),
        None => format!("CRED#{provider}#SYSTEM"),
    }
}

fn read_provider(item: &super::Item) -> StoreResult<Provider> {
    let r = ItemReader(item);
    let kind = match r.s("kind")?.as_str() {
        "openai" => ProviderKind::Openai,
        "anthropic" => ProviderKind::Anthropic,
        other => return Err(StoreError::Corrupt(format!("provider kind '{other}'"))),
    };
    Ok(Provider {
        name: r.s("name")?,
        kind,
        base_url: r.s("base_url")?,
        models: r.json("models")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn read_attachment(item: &super::Item) -> StoreResult<ProviderCredential> {
    let r = ItemReader(item);
    Ok(ProviderCredential {
        provider: r.s("provider")?,
        owner: UserId::from_stored(r.s("owner")?),
        credential_name: r.s("credential_name")?,
        for_everyone: r.bool("for_everyone"),
        attached_at: r.time("attached_at")?,
    })
}

impl DynamoProviders {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn query_prefix(&self, prefix: String) -> StoreResult<Vec<super::Item>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(PK.into()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix))
            .consistent_read(true);
        query_items(query, None).await
    }
}

#[async_trait]
impl ProviderStore for DynamoProviders {
    async fn create_provider(&self, provider: &Provider) -> StoreResult<()> {
        let item = ItemBuilder::key(PK, provider_sk(&provider.name))
            .s("name", &provider.name)
            .s("kind", provider.kind.as_str())
            .s("base_url", &provider.base_url)
            .json("models", &provider.models)?
            .time("created_at", provider.created_at)
            .time("updated_at", provider.updated_at)
            .build();
        transact(&self.client, vec![put_new(&self.table, item)?]).await
    }

    async fn provider(&self, name: &str) -> StoreResult<Option<Provider>> {
        get_item(&self.client, &self.table, PK, provider_sk(name))
            .await?
            .as_ref()
            .map(read_provider)
            .transpose()
    }

    async fn providers(&self) -> StoreResult<Vec<Provider>> {
        self.query_prefix("PROVIDER#".into())
            .await?
            .iter()
            .map(read_provider)
            .collect()
    }

    async fn delete_provider(&self, name: &str) -> StoreResult<bool> {
        // The attachments first: a deletion cut short is finished by deleting again.
        let attachments = self.query_prefix(format!("CRED#{name}#")).await?;
        let keys = attachments
            .iter()
            .filter_map(|item| item.get("sk").and_then(|v| v.as_s().ok()).cloned())
            .map(|sk| key(PK, sk))
            .collect();
        delete_items(&self.client, &self.table, keys).await?;
        delete_existing(&self.client, &self.table, PK, provider_sk(name)).await
    }

    async fn attach(&self, attachment: &ProviderCredential) -> StoreResult<()> {
        let owner = (!attachment.for_everyone).then_some(&attachment.owner);
        let item = ItemBuilder::key(PK, attachment_sk(&attachment.provider, owner))
            .s("provider", &attachment.provider)
            .s("owner", attachment.owner.to_string())
            .s("credential_name", &attachment.credential_name)
            .bool("for_everyone", attachment.for_everyone)
            .time("attached_at", attachment.attached_at)
            .build();
        put_item(&self.client, &self.table, item).await
    }

    async fn attachment(
        &self,
        provider: &str,
        owner: Option<&UserId>,
    ) -> StoreResult<Option<ProviderCredential>> {
        get_item(
            &self.client,
            &self.table,
            PK,
            attachment_sk(provider, owner),
        )
        .await?
        .as_ref()
        .map(read_attachment)
        .transpose()
    }

    async fn detach(&self, provider: &str, owner: Option<&UserId>) -> StoreResult<bool> {
        delete_existing(
            &self.client,
            &self.table,
            PK,
            attachment_sk(provider, owner),
        )
        .await
    }
}
