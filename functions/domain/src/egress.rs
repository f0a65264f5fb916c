//! The egress's rules for a call to a hosted model, apart from how the call is made: what
//! a user has spent against their limits and whether another call may go, what a call
//! cost, and what the audit trail keeps of it (counts and outcomes, never content).

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::settings::EgressLimits;
use crate::usage::day_of;
use crate::wire::{InferenceUsage, ProviderModel, UsageRow};
use crate::ErrorCode;

/// Micro-dollars in a US cent.
const MICROS_PER_CENT: u64 = 10_000;

/// What a user's hosted model calls used so far, against [`EgressLimits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub tokens_this_minute: u64,
    pub micro_usd_today: u64,
    pub micro_usd_this_month: u64,
}

impl Spent {
    /// What `rows` (a user's usage rows of this month so far, any other days ignored)
    /// cost today and this month, with `tokens_this_minute`.
    pub fn of(rows: &[UsageRow], today: &str, tokens_this_minute: u64) -> Spent {
        let month = &today[..today.len().min(8)];
        let this_month = rows.iter().filter(|row| row.day.starts_with(month));
        Spent {
            tokens_this_minute,
            micro_usd_today: rows
                .iter()
                .filter(|row| row.day == today)
                .map(|row| row.cost_micro_usd)
                .sum(),
            micro_usd_this_month: this_month.map(|row| row.cost_micro_usd).sum(),
        }
    }
}

/// A minute as the rate limit counts it: `YYYY-MM-DDTHH:MM`, UTC.
pub fn minute_of(at: Timestamp) -> String {
    format!("{}T{:02}:{:02}", day_of(at), at.hour(), at.minute())
}

/// The first day of `at`'s month and `at`'s day (`YYYY-MM-DD`): the month's usage rows.
pub fn month_so_far(at: Timestamp) -> (String, String) {
    let first = at.replace_day(1).unwrap_or(at);
    (day_of(first), day_of(at))
}

/// Whether limits are set at all (no reads are needed otherwise).
pub fn limited(limits: &EgressLimits) -> bool {
    limits.tokens_per_minute > 0 || limits.cents_per_day > 0 || limits.cents_per_month > 0
}

fn dollars(micro_usd: u64) -> String {
    format!("${:.2}", micro_usd as f64 / 1_000_000.0)
}

/// Refuses another call when a limit is reached: 429 with the limit named, what was used,
/// and (in `Retry-After`) when the window turns.
pub fn check_budget(limits: &EgressLimits, spent: &Spent, now: Timestamp) -> Result<()> {
    if limits.tokens_per_minute > 0 && spent.tokens_this_minute >= limits.tokens_per_minute {
        let wait = 60 - u64::from(now.second());
        return Err(Error::over_quota(
            ErrorCode::TokenRateExceeded,
            format!(
                "your hosted model calls used {} tokens this minute; the limit is {} (setting egress.max_tokens_per_minute_per_user); retry in {wait} s",
                spent.tokens_this_minute, limits.tokens_per_minute
            ),
            wait,
        ));
    }
    let seconds_today =
        u64::from(now.hour()) * 3600 + u64::from(now.minute()) * 60 + u64::from(now.second());
    let until_tomorrow = 86_400 - seconds_today;
    if limits.cents_per_day > 0 && spent.micro_usd_today >= limits.cents_per_day * MICROS_PER_CENT {
        return Err(Error::over_quota(
            ErrorCode::BudgetExhausted,
            format!(
                "your hosted model calls cost {} today; the daily budget is {} (setting egress.max_usd_cents_per_day_per_user); it renews at 00:00 UTC",
                dollars(spent.micro_usd_today),
                dollars(limits.cents_per_day * MICROS_PER_CENT)
            ),
            until_tomorrow,
        ));
    }
    if limits.cents_per_month > 0
        && spent.micro_usd_this_month >= limits.cents_per_month * MICROS_PER_CENT
    {
        let days_left = u64::from(now.month().length(now.year()) - now.day());
        return Err(Error::over_quota(
            ErrorCode::BudgetExhausted,
            format!(
                "your hosted model calls cost {} this month; the monthly budget is {} (setting egress.max_usd_cents_per_month_per_user); it renews on the 1st (UTC)",
                dollars(spent.micro_usd_this_month),
                dollars(limits.cents_per_month * MICROS_PER_CENT)
            ),
            days_left * 86_400 + until_tomorrow,
        ));
    }
    Ok(())
}

/// What a call cost at the model's prices, in millionths of a dollar, rounded up (a call
/// that used any priced token costs at least one).
pub fn cost_micro_usd(model: &ProviderModel, usage: &InferenceUsage) -> u64 {
    let micro = usage.prompt_tokens as f64 * model.input_usd_per_mtok
        + usage.completion_tokens as f64 * model.output_usd_per_mtok;
    micro.ceil() as u64
}

/// The audit detail of a call: counts, cost, time and which credential (by name), never
/// the prompt, the answer or the key.
pub fn call_detail(
    usage: &InferenceUsage,
    cost_micro_usd: u64,
    latency_ms: u64,
    credential: &str,
    scope: &str,
) -> String {
    format!(
        "prompt_tokens={} completion_tokens={} cost_micro_usd={cost_micro_usd} latency_ms={latency_ms} credential={credential} scope={scope}",
        usage.prompt_tokens, usage.completion_tokens
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn limits(tokens: u64, day: u64, month: u64) -> EgressLimits {
        EgressLimits {
            tokens_per_minute: tokens,
            cents_per_day: day,
            cents_per_month: month,
        }
    }

    #[test]
    fn no_limits_let_everything_through() {
        let spent = Spent {
            tokens_this_minute: u64::MAX,
            micro_usd_today: u64::MAX,
            micro_usd_this_month: u64::MAX,
        };
        assert!(!limited(&EgressLimits::default()));
        check_budget(
            &EgressLimits::default(),
            &spent,
            datetime!(2026-12-07 10:00 UTC),
        )
        .unwrap();
    }

    #[test]
    fn each_limit_refuses_with_its_code_and_when_it_turns() {
        let now = datetime!(2026-12-30 23:59:15 UTC);
        let minute = check_budget(
            &limits(100, 0, 0),
            &Spent {
                tokens_this_minute: 100,
                ..Spent::default()
            },
            now,
        )
        .unwrap_err();
        assert_eq!(
            (minute.code, minute.retry_after_secs),
            (ErrorCode::TokenRateExceeded, Some(45))
        );
        let day = check_budget(
            &limits(0, 50, 0),
            &Spent {
                micro_usd_today: 500_000,
                ..Spent::default()
            },
            now,
        )
        .unwrap_err();
        assert_eq!(
            (day.code, day.retry_after_secs),
            (ErrorCode::BudgetExhausted, Some(45))
        );
        assert!(day.message.contains("$0.50 today"), "{}", day.message);
        let month = check_budget(
            &limits(0, 0, 100),
            &Spent {
                micro_usd_this_month: 1_200_000,
                ..Spent::default()
            },
            now,
        )
        .unwrap_err();
        assert_eq!(month.retry_after_secs, Some(86_400 + 45));
        assert!(
            month.message.contains("$1.20 this month"),
            "{}",
            month.message
        );
        // Just under every limit: allowed.
        check_budget(
            &limits(100, 50, 100),
            &Spent {
                tokens_this_minute: 99,
                micro_usd_today: 499_999,
                micro_usd_this_month: 999_999,
            },
            now,
        )
        .unwrap();
    }

    #[test]
    fn spending_counts_today_and_this_month_only() {
        let row = |day: &str, cost| UsageRow {
            day: day.into(),
            model: "p/m".into(),
            calls: 1,
            prompt_tokens: 1,
            completion_tokens: 1,
            cost_micro_usd: cost,
        };
        let rows = [
            row("2026-11-30", 1_000),
            row("2026-12-01", 20),
            row("2026-12-07", 3),
            row("2026-12-07", 4),
        ];
        assert_eq!(
            Spent::of(&rows, "2026-12-07", 9),
            Spent {
                tokens_this_minute: 9,
                micro_usd_today: 7,
                micro_usd_this_month: 27,
            }
        );
    }

    #[test]
    fn costs_round_up_and_minutes_and_months_are_named_in_utc() {
        let model = ProviderModel {
            name: "m".into(),
            input_usd_per_mtok: 0.05,
            output_usd_per_mtok: 15.0,
        };
        let usage = InferenceUsage {
            calls: 1,
            prompt_tokens: 10,
            completion_tokens: 2,
            ..InferenceUsage::default()
        };
        assert_eq!(cost_micro_usd(&model, &usage), 31);
        assert_eq!(cost_micro_usd(&model, &InferenceUsage::default()), 0);
        let at = datetime!(2026-02-09 07:05:59 UTC);
        assert_eq!(minute_of(at), "2026-02-09T07:05");
        assert_eq!(
            month_so_far(at),
            ("2026-02-01".to_owned(), "2026-02-09".to_owned())
        );
    }
}
