//! Recording the audit trail ([`Auditor`], which every service that does something
//! security-relevant holds) and reading it back ([`AuditService`]: admins every event,
//! users their own trail), newest first, filtered, a page at a time.
//!
//! Recording is part of the action: when the trail cannot be written, the action's
//! caller gets the store's error (503), so nothing audited happens unrecorded.

use std::sync::Arc;

use time::Duration;

use crate::audit::{month_of, AuditRecord};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ports::{AuditLog, UserStore};
use crate::principal::{subject_user, Principal};
use crate::service::tasks::{decode_cursor, encode_cursor, parse_limit};
use crate::wire::{AuditList, AuditOutcome};
use crate::ErrorCode;

/// Default retention of audit events.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;
/// Most events one listing request reads while filtering, before it answers with what
/// it found and a cursor to go on from.
const MAX_SCANNED: usize = 2000;

/// Writes audit events. A service built without one (unit tests) records nothing.
#[derive(Clone, Default)]
pub struct Auditor {
    log: Option<(Arc<dyn AuditLog>, Arc<dyn Clock>)>,
    retention_days: u32,
}

impl Auditor {
    pub fn new(log: Arc<dyn AuditLog>, clock: Arc<dyn Clock>, retention_days: u32) -> Self {
        Self {
            log: Some((log, clock)),
            retention_days,
        }
    }

    pub async fn record(&self, record: AuditRecord) -> Result<()> {
        let Some((log, clock)) = &self.log else {
            return Ok(());
        };
        let now = clock.now();
        let expires_at = now + Duration::days(i64::from(self.retention_days));
        log.record(&record.stamped(now), expires_at).await?;
        Ok(())
    }
}

/// What a listing asks for (query parameters as given).
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditQuery<'a> {
    pub limit: Option<&'a str>,
    pub cursor: Option<&'a str>,
    /// An action, or an area (`auth`, `auth.*`): every action in it.
    pub action: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// Admins: one user's trail (a handle).
    pub user: Option<&'a str>,
}

pub struct AuditService {
    log: Arc<dyn AuditLog>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
    retention_days: u32,
}

impl AuditService {
    pub fn new(
        log: Arc<dyn AuditLog>,
        users: Arc<dyn UserStore>,
        clock: Arc<dyn Clock>,
        retention_days: u32,
    ) -> Self {
        Self {
            log,
            users,
            clock,
            retention_days,
        }
    }

    /// One page of events, newest first: an admin's of everyone (or of `user`), anyone
    /// else's of their own trail.
    pub async fn list(&self, principal: &Principal, query: AuditQuery<'_>) -> Result<AuditList> {
        let limit = parse_limit(query.limit)? as usize;
        let before = query
            .cursor
            .map(|cursor| {
                decode_cursor(cursor, |id| {
                    ulid::Ulid::from_string(id).ok().map(|_| id.to_owned())
                })
            })
            .transpose()?;
        let outcome = query
            .outcome
            .map(|text| {
                AuditOutcome::parse(text).ok_or_else(|| {
                    Error::validation(
                        ErrorCode::InvalidQuery,
                        "outcome must be success or failure",
                    )
                })
            })
            .transpose()?;
        let action = query.action.map(|action| action.trim_end_matches(".*"));
        let trail = if principal.is_admin && query.user.is_none() {
            None
        } else {
            Some(subject_user(self.users.as_ref(), principal, query.user).await?)
        };
        let wanted = |event: &crate::audit::AuditEvent| {
            outcome.is_none_or(|outcome| event.entry.outcome == outcome)
                && action.is_none_or(|action| {
                    event.entry.action == action
                        || event
                            .entry
                            .action
                            .strip_prefix(action)
                            .is_some_and(|rest| rest.starts_with('.'))
                })
        };
        let oldest_month =
            month_of(self.clock.now() - Duration::days(i64::from(self.retention_days)));
        let mut month = before
            .as_deref()
            .and_then(|id| ulid::Ulid::from_string(id).ok())
            .map_or_else(
                || month_of(self.clock.now()),
                |id| month_of(id.datetime().into()),
            );
        let mut found = Vec::new();
        let mut cursor = before.clone();
        let mut scanned = 0;
        let batch = (limit + 1).max(100) as u32;
        loop {
            let events = match &trail {
                Some(user) => self.log.user_events(user, cursor.as_deref(), batch).await?,
                None => {
                    self.log
                        .month_events(&month, cursor.as_deref(), batch)
                        .await?
                }
            };
            let exhausted = events.len() < batch as usize;
            for event in events {
                scanned += 1;
                cursor = Some(event.entry.event_id.clone());
                if wanted(&event) {
                    found.push(event.entry);
                    if found.len() > limit {
                        found.truncate(limit);
                        let last = found.last().map(|entry| encode_cursor(&entry.event_id));
                        return Ok(AuditList {
                            events: found,
                            next_cursor: last,
                        });
                    }
                }
            }
            if scanned >= MAX_SCANNED {
                // Too sparse a filter for one request: go on from the last event read.
                let next_cursor = cursor.as_deref().map(encode_cursor);
                return Ok(AuditList {
                    events: found,
                    next_cursor,
                });
            }
            if exhausted {
                match (&trail, previous_month(&month)) {
                    (None, Some(earlier)) if earlier >= oldest_month => month = earlier,
                    _ => {
                        return Ok(AuditList {
                            events: found,
                            next_cursor: None,
                        })
                    }
                }
            }
        }
    }
}

/// `YYYY-MM` of the month before `month`.
fn previous_month(month: &str) -> Option<String> {
    let (year, number) = month.split_once('-')?;
    let (year, number): (i32, u32) = (year.parse().ok()?, number.parse().ok()?);
    Some(if number <= 1 {
        format!("{:04}-12", year - 1)
    } else {
        format!("{year:04}-{:02}", number - 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Actor;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use time::macros::datetime;

    #[test]
    fn months_step_back_across_years() {
        assert_eq!(previous_month("2026-03").as_deref(), Some("2026-02"));
        assert_eq!(previous_month("2026-01").as_deref(), Some("2025-12"));
    }

    #[tokio::test]
    async fn admins_page_through_everything_users_see_their_own_filters_apply() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-30 23:59 UTC)));
        let auditor = Auditor::new(store.clone(), clock.clone(), 365);
        let service = AuditService::new(store.clone(), store.clone(), clock.clone(), 365);
        let alice = Principal::test_user("alice");
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        for n in 0..5 {
            auditor
                .record(AuditRecord::new(
                    "api_key.create",
                    Actor::of(&alice),
                    format!("api_key:{n}"),
                ))
                .await
                .unwrap();
            // Across a month boundary: listing walks back over it.
            clock.advance(Duration::hours(1));
        }
        auditor
            .record(
                AuditRecord::new("auth.login", Actor::Anonymous, "user:alice")
                    .concerning(&alice.user_id)
                    .failed("invalid_credentials"),
            )
            .await
            .unwrap();
        auditor
            .record(AuditRecord::new(
                "user.update",
                Actor::of(&root),
                "user:alice",
            ))
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = service
                .list(
                    &root,
                    AuditQuery {
                        limit: Some("3"),
                        cursor: cursor.as_deref(),
                        ..AuditQuery::default()
                    },
                )
                .await
                .unwrap();
            seen.extend(page.events.iter().map(|e| e.subject.clone()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [
                "user:alice",
                "user:alice",
                "api_key:4",
                "api_key:3",
                "api_key:2",
                "api_key:1",
                "api_key:0"
            ]
        );
        let own = service.list(&alice, AuditQuery::default()).await.unwrap();
        assert_eq!(
            own.events.len(),
            6,
            "her keys and the failed sign-in on her handle"
        );
        let failures = service
            .list(
                &alice,
                AuditQuery {
                    outcome: Some("failure"),
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(failures.events.len(), 1);
        let auth = service
            .list(
                &root,
                AuditQuery {
                    action: Some("auth.*"),
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(auth.events.len(), 1);
        let err = service
            .list(
                &alice,
                AuditQuery {
                    user: Some("root"),
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        let err = service
            .list(
                &root,
                AuditQuery {
                    outcome: Some("maybe"),
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidQuery);
    }
}
