//! The usage report: a user's model tokens (and hosted models' cost) by day and model over
//! the last days, with their hosted model budget; an admin may read anyone's.

use std::sync::Arc;

use crate::clock::Clock;
use crate::egress::{month_so_far, Spent};
use crate::error::Result;
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

    /// The caller's usage over the last `days` days (30 by default), or (admins only)
    /// that of the user with `handle`.
    pub async fn report(
        &self,
        principal: &Principal,
        days: Option<u32>,
        handle: Option<&str>,
    ) -> Result<UsageReport> {
        let now = self.clock.now();
        let (from, to) = report_days(days, now)?;
        let user = subject_user(&*self.users, principal, handle).await?;
        // The budget counts this month's rows: the report's own when it reaches back to
        // the 1st, else a read of their own at once.
        let (first, today) = month_so_far(now);
        let month_apart = self.settings.is_some() && from > first;
        let (rows, month) =
            futures_util::future::join(self.usage.usage(&user, &from, &to), async {
                match month_apart {
                    true => self.usage.usage(&user, &first, &today).await.map(Some),
                    false => Ok(None),
                }
            })
            .await;
        let rows = rows?;
        let budget = match &self.settings {
            None => None,
            Some(settings) => {
                let limits = settings.current().await?.egress;
                let spent = Spent::of(month?.as_deref().unwrap_or(&rows), &today, 0);
                Some(UsageBudget {
                    max_tokens_per_minute: limits.tokens_per_minute,
                    max_usd_cents_per_day: limits.cents_per_day,
                    max_usd_cents_per_month: limits.cents_per_month,
                    today_cost_micro_usd: spent.micro_usd_today,
                    month_cost_micro_usd: spent.micro_usd_this_month,
                })
            }
        };
        let mut report = report(&user, from, to, rows);
        report.budget = budget;
        Ok(report)
    }
}
