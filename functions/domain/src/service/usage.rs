//! The usage report: a user's model tokens by day and model over the last days; an admin
//! may read anyone's.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ports::{UsageStore, UserStore};
use crate::principal::{require_admin, Principal};
use crate::usage::{report, report_days};
use crate::user::normalize_handle;
use crate::wire::UsageReport;
use crate::ErrorCode;

pub struct UsageService {
    usage: Arc<dyn UsageStore>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
}

impl UsageService {
    pub fn new(
        usage: Arc<dyn UsageStore>,
        users: Arc<dyn UserStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            usage,
            users,
            clock,
        }
    }

    /// The caller's usage over the last `days` days (30 by default), or (admins only)
    /// that of the user with `handle`.
    pub async fn report(
        &self,
        principal: &Principal,
        days: Option<u32>,
        handle: Option<&str>,
    ) -> Result<UsageReport> {
        let (from, to) = report_days(days, self.clock.now())?;
        let user = match handle.filter(|h| *h != principal.handle) {
            None => principal.user_id.clone(),
            Some(handle) => {
                require_admin(principal)?;
                let handle = normalize_handle(handle)?;
                self.users
                    .user_by_handle(&handle)
                    .await?
                    .ok_or_else(|| {
                        Error::not_found(ErrorCode::UnknownUser, format!("no user '{handle}'"))
                    })?
                    .id
            }
        };
        let rows = self.usage.usage(&user, &from, &to).await?;
        Ok(report(&user, from, to, rows))
    }
}
