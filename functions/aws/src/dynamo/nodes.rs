//! The nodes table: edge nodes, the configuration in force, acknowledgements, and the
//! signatures of recent node requests (replay protection).
//!
//! | item               | pk                   | sk          |
//! |--------------------|----------------------|-------------|
//! | node               | `NODE#<node id>`     | `NODE`      |
//! | name guard         | `NODENAME#<name>`    | `NODENAME`  |
//! | config in force    | `CONFIG`             | `CURRENT`   |
//! | acknowledgement    | `ACK`                | `<node id>` |
//! | seen signature     | `SIG#<signature>`    | `SIG`       |

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use cynode_domain::clock::{rfc3339, Timestamp};
use cynode_domain::ids::NodeId;
use cynode_domain::node::{ConfigRecord, Node, NodeIdentity};
use cynode_domain::ports::{NodeStore, StoreResult};
use cynode_domain::wire::NodeState;
use cynode_domain::StoreError;

use super::{
    build_error, get_item, key, put_new, query_items, store_error, transact, Item, ItemBuilder,
    ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoNodes {
    client: Client,
    table: String,
}

fn node_pk(id: &NodeId) -> String {
    format!("NODE#{id}")
}
fn name_pk(name: &str) -> String {
    format!("NODENAME#{name}")
}

fn node_item(node: &Node) -> StoreResult<Item> {
    Ok(ItemBuilder::key(node_pk(&node.id), "NODE")
        .s("node_id", node.id.as_str())
        .s("name", &node.name)
        .json("capabilities", &node.capabilities)?
        .time("registered_at", node.registered_at)
        .time("updated_at", node.updated_at)
        .opt_s("acked_config_version", node.acked_config_version.clone())
        .time("last_seen_at", node.last_seen_at)
        .s("state", node.state.as_str())
        .json("labels", &node.labels)?
        .opt_s("secret_hash", node.identity.secret_hash.clone())
        .opt_s(
            "previous_secret_hash",
            node.identity.previous_secret_hash.clone(),
        )
        .n("key_generation", node.identity.generation)
        .build())
}

fn read_node(item: &Item) -> StoreResult<Node> {
    let r = ItemReader(item);
    let updated_at = r.time("updated_at")?;
    Ok(Node {
        id: NodeId::from_stored(r.s("node_id")?),
        name: r.s("name")?,
        capabilities: r.json("capabilities")?,
        registered_at: r.time("registered_at")?,
        updated_at,
        acked_config_version: r.opt_s("acked_config_version"),
        last_seen_at: r.opt_time("last_seen_at")?.unwrap_or(updated_at),
        state: match r.opt_s("state").as_deref() {
            None | Some("enabled") => NodeState::Enabled,
            Some("disabled") => NodeState::Disabled,
            Some("draining") => NodeState::Draining,
            Some("revoked") => NodeState::Revoked,
            Some(other) => {
                return Err(StoreError::Corrupt(format!("unknown node state '{other}'")))
            }
        },
        labels: r.opt_json("labels")?.unwrap_or_default(),
        identity: NodeIdentity {
            secret_hash: r.opt_s("secret_hash"),
            previous_secret_hash: r.opt_s("previous_secret_hash"),
            generation: r.opt_n("key_generation")?.unwrap_or(0),
        },
    })
}

impl DynamoNodes {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        get_item(&self.client, &self.table, pk, sk).await
    }

    async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl NodeStore for DynamoNodes {
    async fn node_by_name(&self, name: &str) -> StoreResult<Option<Node>> {
        let Some(guard) = self.get(name_pk(name), "NODENAME").await? else {
            return Ok(None);
        };
        let id = NodeId::from_stored(ItemReader(&guard).s("node_id")?);
        self.node(&id).await
    }

    async fn insert_node(&self, node: &Node) -> StoreResult<()> {
        let guard = ItemBuilder::key(name_pk(&node.name), "NODENAME")
            .s("node_id", node.id.as_str())
            .build();
        transact(
            &self.client,
            vec![
                put_new(&self.table, node_item(node)?)?,
                put_new(&self.table, guard)?,
            ],
        )
        .await
    }

    async fn node(&self, id: &NodeId) -> StoreResult<Option<Node>> {
        self.get(node_pk(id), "NODE")
            .await?
            .as_ref()
            .map(read_node)
            .transpose()
    }

    async fn update_node(&self, node: &Node) -> StoreResult<()> {
        let capabilities = serde_json::to_string(&node.capabilities)
            .map_err(|err| StoreError::Corrupt(format!("encoding capabilities: {err}")))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_pk(&node.id), "NODE")))
            .update_expression(
                "SET capabilities = :capabilities, updated_at = :updated, last_seen_at = :seen",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":capabilities", AttributeValue::S(capabilities))
            .expression_attribute_values(":updated", AttributeValue::S(rfc3339(node.updated_at)))
            .expression_attribute_values(":seen", AttributeValue::S(rfc3339(node.last_seen_at)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn replace_identity(&self, node: &Node, previous_generation: u32) -> StoreResult<()> {
        let identity = &node.identity;
        let mut values = vec![
            (
                ":generation",
                AttributeValue::N(identity.generation.to_string()),
            ),
            (
                ":previous",
                AttributeValue::N(previous_generation.to_string()),
            ),
        ];
        let mut set = vec!["key_generation = :generation"];
        let mut remove = vec![];
        for (name, value) in [
            ("secret_hash", &identity.secret_hash),
            ("previous_secret_hash", &identity.previous_secret_hash),
        ] {
            match value {
                Some(hash) => {
                    set.push(if name == "secret_hash" {
                        "secret_hash = :secret"
                    } else {
                        "previous_secret_hash = :previous_secret"
                    });
                    let placeholder = if name == "secret_hash" {
                        ":secret"
                    } else {
                        ":previous_secret"
                    };
                    values.push((placeholder, AttributeValue::S(hash.clone())));
                }
                None => remove.push(name),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_pk(&node.id), "NODE")))
            .update_expression(expression)
            // Nodes stored before identities existed have no generation: that is 0.
            .condition_expression(
                "attribute_exists(pk) AND (key_generation = :previous OR (attribute_not_exists(key_generation) AND :previous = :zero))",
            )
            .expression_attribute_values(":zero", AttributeValue::N("0".into()));
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        update.send().await.map_err(store_error)?;
        Ok(())
    }

    async fn touch_node(&self, id: &NodeId, at: Timestamp) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_pk(id), "NODE")))
            .update_expression("SET last_seen_at = :seen")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":seen", AttributeValue::S(rfc3339(at)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn set_node_state(&self, id: &NodeId, state: NodeState) -> StoreResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_pk(id), "NODE")))
            .update_expression("SET #state = :state")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", AttributeValue::S(state.as_str().into()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn set_node_labels(&self, id: &NodeId, labels: &[String]) -> StoreResult<()> {
        let labels = serde_json::to_string(labels)
            .map_err(|err| StoreError::Corrupt(format!("encoding labels: {err}")))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_pk(id), "NODE")))
            .update_expression("SET labels = :labels")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":labels", AttributeValue::S(labels))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn current_config(&self) -> StoreResult<Option<ConfigRecord>> {
        let Some(item) = self.get("CONFIG".into(), "CURRENT").await? else {
            return Ok(None);
        };
        let r = ItemReader(&item);
        Ok(Some(ConfigRecord {
            version: r.s("version")?,
            fingerprint: r.s("fingerprint")?,
        }))
    }

    async fn replace_config(
        &self,
        previous: Option<&ConfigRecord>,
        next: &ConfigRecord,
    ) -> StoreResult<()> {
        let item = ItemBuilder::key("CONFIG", "CURRENT")
            .s("version", &next.version)
            .s("fingerprint", &next.fingerprint)
            .build();
        let write = match previous {
            None => put_new(&self.table, item)?,
            Some(previous) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("version = :previous")
                        .expression_attribute_values(
                            ":previous",
                            AttributeValue::S(previous.version.clone()),
                        )
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
        };
        transact(&self.client, vec![write]).await
    }

    async fn record_ack(&self, node: &NodeId, version: &str, at: Timestamp) -> StoreResult<()> {
        self.put(
            ItemBuilder::key("ACK", node.as_str())
                .s("version", version)
                .s("acked_at", rfc3339(at))
                .build(),
        )
        .await?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(node_pk(node), "NODE")))
            .update_expression("SET acked_config_version = :version")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":version", AttributeValue::S(version.to_owned()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn acked_nodes(&self) -> StoreResult<Vec<(NodeId, String)>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :ack")
            .expression_attribute_values(":ack", AttributeValue::S("ACK".into()));
        query_items(query, None)
            .await?
            .iter()
            .map(|item| {
                let r = ItemReader(item);
                Ok((NodeId::from_stored(r.s("sk")?), r.s("version")?))
            })
            .collect()
    }

    async fn remember_signature(
        &self,
        signature: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool> {
        let item = ItemBuilder::key(format!("SIG#{signature}"), "SIG")
            .n("expires_at", expires_at.unix_timestamp())
            .build();
        match transact(&self.client, vec![put_new(&self.table, item)?]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(err) => Err(err),
        }
    }
}
