//! The usage report: a user's model tokens (and hosted models' cost) by day and model over
//! the last days, with their hosted model budget; an admin may read anyone's.

use std::sync::Arc;

use crate::clock::Clock;
use crate::egress::month_so_far;
use crate::error::Result;
use crate::ids::UserId;
use crate::ports::{UsageStore, UserStore};
use crate::principal::{subject_user, Principal};
use crate::service::SettingsService;
use crate::usage::{report, report_days};
use crate::wire::{UsageBudget, UsageReport};

pub struct UsageService {
    usage: Arc<dyn UsageStore>,
    users: Arc<dyn UserStore>,
    clock: Arc<dyn Clock>,
    settings: Option<Arc<SettingsService>>,
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
            settings: None,
        }
    }

    /// Reports also say the user's hosted model budget, from `settings`.
    pub fn with_budget(mut self, settings: Arc<SettingsService>) -> Self {
        self.settings = Some(settings);
        self
    }

    async fn budget(&self, user: &UserId) -> Result<Option<UsageBudget>> {
        let Some(settings) = &self.settings else {
            return Ok(None);
        };
        let limits = settings.current().await?.egress;
        let (first, today) = month_so_far(self.clock.now());
        let rows = self.usage.usage(user, &first, &today).await?;
        Ok(Some(UsageBudget {
            max_tokens_per_minute: limits.tokens_per_minute,
            max_usd_cents_per_day: limits.cents_per_day,
            max_usd_cents_per_month: limits.cents_per_month,
            today_cost_micro_usd: rows
                .iter()
                .filter(|row| row.day == today)
                .map(|row| row.cost_micro_usd)
                .sum(),
            month_cost_micro_usd: rows.iter().map(|row| row.cost_micro_usd).sum(),
        }))
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
        let (rows, budget) =
            futures_util::future::join(self.usage.usage(&user, &from, &to), self.budget(&user))
                .await;
        let mut report = report(&user, from, to, rows?);
        report.budget = budget?;
        Ok(report)
    }
}
