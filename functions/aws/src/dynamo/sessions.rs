//! The sessions table: login sessions and their refresh tokens (stored hashed).
//!
//! | item           | pk                     | sk        |
//! |----------------|------------------------|-----------|
//! | session        | `SESSION#<session id>` | `SESSION` |
//! | refresh token  | `REFRESH#<sha256>`     | `REFRESH` |

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use cynode_domain::clock::{rfc3339, Timestamp};
use cynode_domain::ids::{SessionId, UserId};
use cynode_domain::ports::{SessionStore, StoreResult};
use cynode_domain::session::{RefreshState, RefreshToken, Session};
use cynode_domain::StoreError;

use super::{
    build_error, get_item, key, put_new, store_error, transact, Item, ItemBuilder, ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoSessions {
    client: Client,
    table: String,
}

fn session_pk(id: &SessionId) -> String {
    format!("SESSION#{id}")
}
fn refresh_pk(hash: &str) -> String {
    format!("REFRESH#{hash}")
}

fn unix(at: Timestamp) -> i64 {
    at.unix_timestamp()
}

fn from_unix(seconds: i64) -> StoreResult<Timestamp> {
    Timestamp::from_unix_timestamp(seconds)
        .map_err(|err| StoreError::Corrupt(format!("expiry: {err}")))
}

fn refresh_item(token: &RefreshToken) -> Item {
    ItemBuilder::key(refresh_pk(&token.hash), "REFRESH")
        .s("session_id", token.session_id.as_str())
        .s("user_id", token.user_id.as_str())
        .s(
            "state",
            match token.state {
                RefreshState::Active => "active",
                RefreshState::Rotated => "rotated",
            },
        )
        .n("expires_at", unix(token.expires_at))
        .build()
}

impl DynamoSessions {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        get_item(&self.client, &self.table, pk, sk).await
    }
}

#[async_trait]
impl SessionStore for DynamoSessions {
    async fn insert_session(&self, session: &Session, first: &RefreshToken) -> StoreResult<()> {
        let item = ItemBuilder::key(session_pk(&session.id), "SESSION")
            .s("user_id", session.user_id.as_str())
            .time("created_at", session.created_at)
            .n("expires_at", unix(session.expires_at))
            .opt_time("revoked_at", session.revoked_at)
            .build();
        transact(
            &self.client,
            vec![
                put_new(&self.table, item)?,
                put_new(&self.table, refresh_item(first))?,
            ],
        )
        .await
    }

    async fn session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        let Some(item) = self.get(session_pk(id), "SESSION").await? else {
            return Ok(None);
        };
        let r = ItemReader(&item);
        Ok(Some(Session {
            id: id.clone(),
            user_id: UserId::from_stored(r.s("user_id")?),
            created_at: r.time("created_at")?,
            expires_at: from_unix(r.n("expires_at")?)?,
            revoked_at: r.opt_time("revoked_at")?,
        }))
    }

    async fn refresh_token(&self, hash: &str) -> StoreResult<Option<RefreshToken>> {
        let Some(item) = self.get(refresh_pk(hash), "REFRESH").await? else {
            return Ok(None);
        };
        let r = ItemReader(&item);
        let state = match r.s("state")?.as_str() {
            "active" => RefreshState::Active,
            "rotated" => RefreshState::Rotated,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "refresh token state '{other}'"
                )))
            }
        };
        Ok(Some(RefreshToken {
            hash: hash.to_owned(),
            session_id: SessionId::from_stored(r.s("session_id")?),
            user_id: UserId::from_stored(r.s("user_id")?),
            state,
            expires_at: from_unix(r.n("expires_at")?)?,
        }))
    }

    async fn rotate_refresh_token(&self, old_hash: &str, new: &RefreshToken) -> StoreResult<()> {
        let retire = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(refresh_pk(old_hash), "REFRESH")))
            .update_expression("SET #state = :rotated")
            .condition_expression("#state = :active")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":rotated", AttributeValue::S("rotated".into()))
            .expression_attribute_values(":active", AttributeValue::S("active".into()))
            .build()
            .map_err(build_error)?;
        transact(
            &self.client,
            vec![
                TransactWriteItem::builder().update(retire).build(),
                put_new(&self.table, refresh_item(new))?,
            ],
        )
        .await
    }

    async fn revoke_session(&self, id: &SessionId, at: Timestamp) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(id), "SESSION")))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", AttributeValue::S(rfc3339(at)))
            .send()
            .await;
        match result.map_err(store_error) {
            // No such session: nothing to revoke.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
