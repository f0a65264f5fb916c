//! Model usage: the tokens a user's calls cost, summed by day and model
//! (`GET /v1/usage`, `cynork usage`).

use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// One day's use of one model by one user (days are UTC, `YYYY-MM-DD`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageRow {
    pub day: String,
    pub model: String,
    /// Model calls: each chat completion, and each call a task's job made.
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What the calls cost at their provider's prices, in millionths of a US dollar
    /// (0 for local models).
    #[serde(default)]
    pub cost_micro_usd: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageReport {
    pub user_id: UserId,
    /// The first and last day covered, inclusive.
    pub from: String,
    pub to: String,
    /// Oldest day first; within a day, by model.
    pub rows: Vec<UsageRow>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub calls: u64,
    #[serde(default)]
    pub cost_micro_usd: u64,
    /// The user's limits on hosted model calls and what counts against them now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<UsageBudget>,
}

/// A user's limits on hosted model calls (the `egress.*` settings; 0: none) and what they
/// spent today and this month (UTC), in millionths of a US dollar.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageBudget {
    pub max_tokens_per_minute: u64,
    pub max_usd_cents_per_day: u64,
    pub max_usd_cents_per_month: u64,
    pub today_cost_micro_usd: u64,
    pub month_cost_micro_usd: u64,
}
