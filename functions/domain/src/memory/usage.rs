//! The in-memory usage rows (by user, day and model) and hosted model calls' minute
//! counts.

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::ids::UserId;
use crate::ports::*;

use super::{MemoryStore, State};

#[async_trait]
impl UsageStore for MemoryStore {
    async fn usage(
        &self,
        user: &UserId,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<crate::wire::UsageRow>> {
        Ok(self
            .state()
            .usage
            .iter()
            .filter(|((owner, day, _), _)| {
                owner == user && day.as_str() >= from && day.as_str() <= to
            })
            .map(|(_, row)| row.clone())
            .collect())
    }

    async fn add_usage(&self, entry: &crate::usage::UsageEntry) -> StoreResult<()> {
        add_usage(&mut self.state(), entry);
        Ok(())
    }

    async fn minute_tokens(&self, user: &UserId, minute: &str) -> StoreResult<u64> {
        let state = self.state();
        let key = (user.clone(), minute.to_owned());
        Ok(state.minute_tokens.get(&key).copied().unwrap_or(0))
    }

    async fn add_minute_tokens(
        &self,
        user: &UserId,
        minute: &str,
        tokens: u64,
        _expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut state = self.state();
        *state
            .minute_tokens
            .entry((user.clone(), minute.to_owned()))
            .or_default() += tokens;
        Ok(())
    }
}

/// Adds `entry` to its user's row of its day and model.
pub(super) fn add_usage(state: &mut State, entry: &crate::usage::UsageEntry) {
    let key = (entry.user.clone(), entry.day.clone(), entry.model.clone());
    let row = state
        .usage
        .entry(key)
        .or_insert_with(|| crate::wire::UsageRow {
            day: entry.day.clone(),
            model: entry.model.clone(),
            calls: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_micro_usd: 0,
        });
    row.calls += u64::from(entry.usage.calls);
    row.prompt_tokens += entry.usage.prompt_tokens;
    row.completion_tokens += entry.usage.completion_tokens;
    row.cost_micro_usd += entry.cost_micro_usd;
}
