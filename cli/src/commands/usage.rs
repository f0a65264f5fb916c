//! `cynork usage`: the model tokens you (or, for an admin, another user) used, one line a
//! day and model (a hosted model is `<provider>/<model>`, with what it cost at the
//! provider's prices), then the totals.

use cynode_protocol::wire::UsageReport;

use super::Context;
use crate::cli::UsageArgs;
use crate::client::{segment, Gateway};
use crate::error::CliResult;

pub fn run(ctx: &mut Context, args: UsageArgs) -> CliResult {
    let mut path = format!("/v1/usage?days={}", args.days);
    if let Some(handle) = &args.user {
        path.push_str(&format!("&user={}", segment(handle)));
    }
    let report: UsageReport = Gateway::new(&mut ctx.config)?.get(&path)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&report);
        return Ok(());
    }
    if report.rows.is_empty() {
        ctx.printer.note(&format!(
            "no model usage from {} to {}",
            report.from, report.to
        ));
    }
    for row in &report.rows {
        ctx.printer.line(&[
            ("day", row.day.clone()),
            ("model", row.model.clone()),
            ("calls", row.calls.to_string()),
            ("prompt_tokens", row.prompt_tokens.to_string()),
            ("completion_tokens", row.completion_tokens.to_string()),
            ("cost_usd", dollars(row.cost_micro_usd)),
        ]);
    }
    ctx.printer.line(&[
        ("total", format!("{}..{}", report.from, report.to)),
        ("calls", report.calls.to_string()),
        ("prompt_tokens", report.prompt_tokens.to_string()),
        ("completion_tokens", report.completion_tokens.to_string()),
        ("cost_usd", dollars(report.cost_micro_usd)),
    ]);
    if let Some(budget) = &report.budget {
        let limit = |cents: u64| match cents {
            0 => "none".to_owned(),
            cents => dollars(cents * 10_000),
        };
        let tokens = match budget.max_tokens_per_minute {
            0 => "none".to_owned(),
            n => n.to_string(),
        };
        ctx.printer.line(&[
            ("budget_today_usd", dollars(budget.today_cost_micro_usd)),
            ("of", limit(budget.max_usd_cents_per_day)),
            ("this_month_usd", dollars(budget.month_cost_micro_usd)),
            ("of_month", limit(budget.max_usd_cents_per_month)),
            ("max_tokens_per_minute", tokens),
        ]);
    }
    Ok(())
}

/// Millionths of a dollar as dollars, to the millionth.
fn dollars(micro_usd: u64) -> String {
    format!("{}.{:06}", micro_usd / 1_000_000, micro_usd % 1_000_000)
}
