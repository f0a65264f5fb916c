//! The users table: users, their handles, and failed-login counters.
//!
//! | item            | pk                 | sk          |
//! |-----------------|--------------------|-------------|
//! | user            | `USER#<user id>`   | `USER`      |
//! | handle guard    | `HANDLE#<handle>`  | `HANDLE`    |
//! | login failures  | `LOGINFAIL#<handle>` | `LOGINFAIL` |
//!
//! Users are listed by a Scan of the `USER` items (a team's users: a page or two), and
//! changed by a transaction that can also check that another admin remains.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use cynode_domain::clock::{rfc3339, Timestamp};
use cynode_domain::ids::UserId;
use cynode_domain::ports::{LoginFailures, StoreResult, UserStore};
use cynode_domain::user::{User, UserUpdate};
use cynode_domain::StoreError;

use super::{
    build_error, get_item, key, put_new, store_error, transact, Item, ItemBuilder, ItemReader,
};

#[derive(Debug, Clone)]
pub struct DynamoUsers {
    client: Client,
    table: String,
}

fn user_pk(id: &UserId) -> String {
    format!("USER#{id}")
}
fn handle_pk(handle: &str) -> String {
    format!("HANDLE#{handle}")
}
fn failures_pk(handle: &str) -> String {
    format!("LOGINFAIL#{handle}")
}

fn read_user(item: &Item) -> StoreResult<User> {
    let r = ItemReader(item);
    Ok(User {
        id: UserId::from_stored(r.s("user_id")?),
        handle: r.s("handle")?,
        password_hash: r.s("password_hash")?,
        is_admin: r.bool("is_admin"),
        created_at: r.time("created_at")?,
        disabled_at: r.opt_time("disabled_at")?,
        sessions_after: r.opt_time("sessions_after")?,
    })
}

fn read_failures(item: &Item) -> StoreResult<LoginFailures> {
    let r = ItemReader(item);
    let window_ends: i64 = r.n("window_ends")?;
    Ok(LoginFailures {
        count: r.n("count")?,
        window_ends: Timestamp::from_unix_timestamp(window_ends)
            .map_err(|err| StoreError::Corrupt(format!("login failure window: {err}")))?,
    })
}

impl DynamoUsers {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        get_item(&self.client, &self.table, pk, sk).await
    }
}

#[async_trait]
impl UserStore for DynamoUsers {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let item = ItemBuilder::key(user_pk(&user.id), "USER")
            .s("user_id", user.id.as_str())
            .s("handle", &user.handle)
            .s("password_hash", &user.password_hash)
            .bool("is_admin", user.is_admin)
            .time("created_at", user.created_at)
            .opt_time("disabled_at", user.disabled_at)
            .opt_time("sessions_after", user.sessions_after)
            .build();
        let guard = ItemBuilder::key(handle_pk(&user.handle), "HANDLE")
            .s("user_id", user.id.as_str())
            .build();
        transact(
            &self.client,
            vec![put_new(&self.table, item)?, put_new(&self.table, guard)?],
        )
        .await
    }

    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        let Some(guard) = self.get(handle_pk(handle), "HANDLE").await? else {
            return Ok(None);
        };
        let id = UserId::from_stored(ItemReader(&guard).s("user_id")?);
        self.user_by_id(&id).await
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.get(user_pk(id), "USER")
            .await?
            .as_ref()
            .map(read_user)
            .transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let mut users = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :user")
                .expression_attribute_values(":user", AttributeValue::S("USER".into()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            for item in page.items.unwrap_or_default() {
                users.push(read_user(&item)?);
            }
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(users),
            }
        }
    }

    async fn update_user(
        &self,
        id: &UserId,
        update: &UserUpdate,
        keep_admin: Option<&UserId>,
    ) -> StoreResult<()> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut values = Vec::new();
        if let Some(is_admin) = update.is_admin {
            set.push("is_admin = :is_admin");
            values.push((":is_admin", AttributeValue::Bool(is_admin)));
        }
        match update.disabled_at {
            Some(Some(at)) => {
                set.push("disabled_at = :disabled_at");
                values.push((":disabled_at", AttributeValue::S(rfc3339(at))));
            }
            Some(None) => remove.push("disabled_at"),
            None => {}
        }
        if let Some((hash, after)) = &update.password {
            set.push("password_hash = :hash, sessions_after = :after");
            values.push((":hash", AttributeValue::S(hash.clone())));
            values.push((":after", AttributeValue::S(rfc3339(*after))));
        }
        if set.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression = format!("SET {}", set.join(", "));
        }
        if !remove.is_empty() {
            expression = format!("{expression} REMOVE {}", remove.join(", "));
        }
        let mut changed = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(id), "USER")))
            .update_expression(expression.trim())
            .condition_expression("attribute_exists(pk)");
        for (name, value) in values {
            changed = changed.expression_attribute_values(name, value);
        }
        let mut writes = vec![TransactWriteItem::builder()
            .update(changed.build().map_err(build_error)?)
            .build()];
        if let Some(other) = keep_admin {
            // The other admin must still be one, enabled, when this update lands.
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(other), "USER")))
                .condition_expression("is_admin = :yes AND attribute_not_exists(disabled_at)")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().condition_check(check).build());
        }
        transact(&self.client, writes).await
    }

    async fn login_failures(&self, handle: &str) -> StoreResult<Option<LoginFailures>> {
        self.get(failures_pk(handle), "LOGINFAIL")
            .await?
            .as_ref()
            .map(read_failures)
            .transpose()
    }

    async fn record_login_failure(
        &self,
        handle: &str,
        now: Timestamp,
        new_window_ends: Timestamp,
    ) -> StoreResult<LoginFailures> {
        let ends = new_window_ends.unix_timestamp();
        // Count within the current window; if the window is over, start a new one.
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(failures_pk(handle), "LOGINFAIL")))
            .update_expression(
                "SET #count = if_not_exists(#count, :zero) + :one, \
                 window_ends = if_not_exists(window_ends, :ends), expires_at = :ends",
            )
            .condition_expression("attribute_not_exists(pk) OR window_ends > :now")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ends", AttributeValue::N(ends.to_string()))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match counted {
            Ok(out) => read_failures(&out.attributes.unwrap_or_default()),
            Err(err) => match store_error(err) {
                StoreError::Conflict(_) => {
                    let fresh = ItemBuilder::key(failures_pk(handle), "LOGINFAIL")
                        .n("count", 1)
                        .n("window_ends", ends)
                        .n("expires_at", ends)
                        .build();
                    self.client
                        .put_item()
                        .table_name(&self.table)
                        .set_item(Some(fresh))
                        .send()
                        .await
                        .map_err(store_error)?;
                    Ok(LoginFailures {
                        count: 1,
                        window_ends: new_window_ends,
                    })
                }
                other => Err(other),
            },
        }
    }

    async fn release_login_failure(&self, key_text: &str) -> StoreResult<()> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(failures_pk(key_text), "LOGINFAIL")))
            .update_expression("SET #count = #count - :one")
            .condition_expression("#count > :zero")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match released.map_err(store_error) {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn clear_login_failures(&self, handle: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(failures_pk(handle), "LOGINFAIL")))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
