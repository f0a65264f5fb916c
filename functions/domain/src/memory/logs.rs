//! The in-memory live-log store: chunks by task and position, in reading order.

use async_trait::async_trait;

use crate::ids::TaskId;
use crate::live_log::{LogChunk, LogPosition};
use crate::ports::*;

use super::MemoryStore;

#[async_trait]
impl LogStore for MemoryStore {
    async fn put_log(&self, chunk: &LogChunk) -> StoreResult<()> {
        self.state()
            .logs
            .entry((chunk.task.clone(), chunk.position()))
            .or_insert_with(|| chunk.clone());
        Ok(())
    }

    async fn logs_after(
        &self,
        task: &TaskId,
        after: Option<&LogPosition>,
        limit: u32,
    ) -> StoreResult<Vec<LogChunk>> {
        Ok(self
            .state()
            .logs
            .iter()
            .filter(|((t, position), _)| t == task && after.is_none_or(|a| position > a))
            .take(limit as usize)
            .map(|(_, chunk)| chunk.clone())
            .collect())
    }
}
