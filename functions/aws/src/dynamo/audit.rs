//! The audit table: one item per event, kept until DynamoDB's TTL removes it. Events
//! are grouped by month so that no partition grows without bound and a listing reads
//! the months newest first; the sparse index `by_user` holds each user's own trail.
//!
//! | item  | pk               | sk         | user_pk    |
//! |-------|------------------|------------|------------|
//! | event | `AUDIT#<YYYY-MM>` | event ULID | user id (when the event is a user's) |
//!
//! Every function may only put items here; the auth function, which serves
//! `GET /v1/audit`, may also query (see `infra/template.yaml`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cynode_domain::audit::{month_of, AuditEvent};
use cynode_domain::clock::Timestamp;
use cynode_domain::ids::UserId;
use cynode_domain::ports::{AuditLog, StoreResult};
use cynode_domain::wire::{AuditEntry, AuditOutcome};
use cynode_domain::StoreError;

use super::{query_items, store_error, ItemBuilder, ItemReader};

#[derive(Debug, Clone)]
pub struct DynamoAudit {
    client: Client,
    table: String,
}

fn month_pk(month: &str) -> String {
    format!("AUDIT#{month}")
}

impl DynamoAudit {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The events of one partition (`attribute` = `value`, of the table or of `index`)
    /// whose ids sort before `before`, newest first, at most `limit`.
    async fn newest(
        &self,
        index: Option<&str>,
        attribute: &str,
        value: String,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(format!("{attribute} = :partition AND sk < :before"))
            .expression_attribute_values(":partition", AttributeValue::S(value))
            .scan_index_forward(false)
            .expression_attribute_values(
                ":before",
                // Every ULID sorts before "~".
                AttributeValue::S(before.unwrap_or("~").to_owned()),
            );
        query_items(query, Some(limit as usize))
            .await?
            .iter()
            .map(|item| read_event(&ItemReader(item)))
            .collect()
    }
}

fn read_event(r: &ItemReader<'_>) -> StoreResult<AuditEvent> {
    let outcome = r.s("outcome")?;
    Ok(AuditEvent {
        entry: AuditEntry {
            event_id: r.s("sk")?,
            at: r.time("at")?,
            action: r.s("action")?,
            outcome: AuditOutcome::parse(&outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("audit outcome '{outcome}'")))?,
            actor: r.s("actor")?,
            subject: r.s("subject")?,
            task_id: r.opt_s("task_id"),
            source: r.opt_s("source"),
            detail: r.opt_s("detail"),
        },
        user: r.opt_s("user_pk").map(UserId::from_stored),
    })
}

#[async_trait]
impl AuditLog for DynamoAudit {
    async fn record(&self, event: &AuditEvent, expires_at: Timestamp) -> StoreResult<()> {
        let entry = &event.entry;
        let item = ItemBuilder::key(month_pk(&month_of(entry.at)), &entry.event_id)
            .time("at", entry.at)
            .s("action", &entry.action)
            .s("outcome", entry.outcome.as_str())
            .s("actor", &entry.actor)
            .s("subject", &entry.subject)
            .opt_s("task_id", entry.task_id.clone())
            .opt_s("source", entry.source.clone())
            .opt_s("detail", entry.detail.clone())
            .opt_s("user_pk", event.user.as_ref().map(ToString::to_string))
            .n("expires_at", expires_at.unix_timestamp())
            .build();
        // Event ids are unique: a put never replaces another event.
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn month_events(
        &self,
        month: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        self.newest(None, "pk", month_pk(month), before, limit)
            .await
    }

    async fn user_events(
        &self,
        user: &UserId,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        self.newest(Some("by_user"), "user_pk", user.to_string(), before, limit)
            .await
    }
}
