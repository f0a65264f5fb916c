//! The usage report: a user's model tokens by day and model over the last days; an admin
//! may read anyone's.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Result;
use crate::ports::{UsageStore, UserStore};
use crate::principal::{subject_user, Principal};
use crate::usage::{report, report_days};
use crate::wire::UsageReport;

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
        let user = subject_user(&*self.users, principal, handle).await?;
        let rows = self.usage.usage(&user, &from, &to).await?;
        Ok(report(&user, from, to, rows))
    }
}
