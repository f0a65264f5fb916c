//! Model usage per user, by day and model: each finished job's tokens are added to its
//! owner's row for that day in the same write that records the result, so a retried
//! result callback (a duplicate) never counts twice and a crash never counts half.

use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::job::Job;
use crate::task::Task;
use crate::wire::{InferenceUsage, UsageReport, UsageRow, AGENT_MODEL};
use crate::ErrorCode;

/// The most days one report covers.
pub const MAX_REPORT_DAYS: u32 = 366;
/// Days a report covers unless asked otherwise.
pub const DEFAULT_REPORT_DAYS: u32 = 30;

/// Tokens to add to one user's row of one day and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEntry {
    pub user: UserId,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub model: String,
    pub usage: InferenceUsage,
    /// Millionths of a US dollar, at a hosted model's prices (0 for local models).
    pub cost_micro_usd: u64,
}

/// A day as rows name it.
pub fn day_of(at: Timestamp) -> String {
    let date = at.date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// What a job that just finished adds to its owner's usage: nothing when it made no
/// model call, or when its calls went through the egress (which recorded them). The
/// row's model is the one the task asked for, or the agent's name for a
/// prompt the agent answered on the node's default model.
pub fn entry_for(task: &Task, job: &Job, now: Timestamp) -> Option<UsageEntry> {
    // A hosted model's calls were counted (and priced) by the egress as they were made.
    if task.hosted() {
        return None;
    }
    let usage = job.output.as_ref()?.usage?;
    if usage.calls == 0 && usage.prompt_tokens == 0 && usage.completion_tokens == 0 {
        return None;
    }
    Some(UsageEntry {
        user: task.owner.clone(),
        day: day_of(now),
        model: task.model.clone().unwrap_or_else(|| AGENT_MODEL.to_owned()),
        usage,
        cost_micro_usd: 0,
    })
}

/// The days a report covers: the last `days` days up to `now`'s, inclusive.
pub fn report_days(days: Option<u32>, now: Timestamp) -> Result<(String, String)> {
    let days = days.unwrap_or(DEFAULT_REPORT_DAYS);
    if !(1..=MAX_REPORT_DAYS).contains(&days) {
        return Err(Error::validation(
            ErrorCode::InvalidDays,
            format!("days is {days}; it must be 1 to {MAX_REPORT_DAYS}"),
        )
        .with_param("days"));
    }
    let from = now - time::Duration::days(i64::from(days) - 1);
    Ok((day_of(from), day_of(now)))
}

/// Rows (in any order) as a report: oldest day first, by model within a day, with totals.
pub fn report(user: &UserId, from: String, to: String, rows: Vec<UsageRow>) -> UsageReport {
    let mut merged: BTreeMap<(String, String), UsageRow> = BTreeMap::new();
    for row in rows {
        let key = (row.day.clone(), row.model.clone());
        let sum = merged.entry(key).or_insert_with(|| UsageRow {
            calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_micro_usd: 0,
            ..row.clone()
        });
        sum.cost_micro_usd += row.cost_micro_usd;
        sum.calls += row.calls;
        sum.prompt_tokens += row.prompt_tokens;
        sum.completion_tokens += row.completion_tokens;
    }
    let rows: Vec<UsageRow> = merged.into_values().collect();
    UsageReport {
        user_id: user.clone(),
        from,
        to,
        prompt_tokens: rows.iter().map(|r| r.prompt_tokens).sum(),
        completion_tokens: rows.iter().map(|r| r.completion_tokens).sum(),
        calls: rows.iter().map(|r| r.calls).sum(),
        cost_micro_usd: rows.iter().map(|r| r.cost_micro_usd).sum(),
        budget: None,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn row(day: &str, model: &str, tokens: u64) -> UsageRow {
        UsageRow {
            day: day.into(),
            model: model.into(),
            calls: 1,
            prompt_tokens: tokens,
            completion_tokens: 2 * tokens,
            cost_micro_usd: tokens * 10,
        }
    }

    #[test]
    fn a_report_orders_by_day_then_model_and_sums_everything() {
        let user = UserId::generate();
        let report = report(
            &user,
            "2026-12-01".into(),
            "2026-12-05".into(),
            vec![
                row("2026-12-05", "smollm2:135m", 10),
                row("2026-12-01", "cynodeai.pm", 1),
                row("2026-12-05", "cynodeai.pm", 3),
                row("2026-12-05", "smollm2:135m", 5),
            ],
        );
        let keys: Vec<(&str, &str, u64)> = report
            .rows
            .iter()
            .map(|r| (r.day.as_str(), r.model.as_str(), r.prompt_tokens))
            .collect();
        assert_eq!(
            keys,
            [
                ("2026-12-01", "cynodeai.pm", 1),
                ("2026-12-05", "cynodeai.pm", 3),
                ("2026-12-05", "smollm2:135m", 15),
            ]
        );
        assert_eq!(
            (report.calls, report.prompt_tokens, report.completion_tokens),
            (4, 19, 38)
        );
        assert_eq!(report.cost_micro_usd, 190);
    }

    #[test]
    fn report_days_count_back_from_today_and_refuse_out_of_range() {
        let now = datetime!(2026-03-01 08:00 UTC);
        assert_eq!(
            report_days(Some(1), now).unwrap(),
            ("2026-03-01".into(), "2026-03-01".into())
        );
        assert_eq!(report_days(Some(2), now).unwrap().0, "2026-02-28");
        assert_eq!(report_days(None, now).unwrap().0, "2026-01-31");
        for days in [0, MAX_REPORT_DAYS + 1] {
            let err = report_days(Some(days), now).unwrap_err();
            assert_eq!(
                (err.code, err.param.as_deref()),
                (ErrorCode::InvalidDays, Some("days"))
            );
        }
    }
}
