//! Live logs: the chunks a node ships while a job runs, and the cursor readers follow
//! them with. A chunk is named by its job, attempt and sequence number; chunks sort in
//! that order (jobs by id, which is creation order), so a cursor is the last chunk read.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{JobId, TaskId};
use crate::limits::MAX_LOG_CHUNK_BYTES;
use crate::wire::{JobLogRequest, LogEntry, LogLine};
use crate::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub task: TaskId,
    pub job: JobId,
    pub attempt: u32,
    pub seq: u32,
    pub entries: Vec<LogEntry>,
    pub truncated: bool,
    pub received_at: Timestamp,
}

/// Where a reader is: after the chunk `(job, attempt, seq)`; `None` before the first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition {
    pub job: JobId,
    pub attempt: u32,
    pub seq: u32,
}

impl LogPosition {
    /// `""`: from the start; otherwise a cursor a read returned (400 `invalid_cursor`).
    pub fn parse_cursor(cursor: &str) -> Result<Option<Self>> {
        if cursor.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            Error::validation(
                ErrorCode::InvalidCursor,
                "cursor is not one a log read returned (start with an empty cursor)",
            )
        };
        let mut parts = cursor.split('.');
        let (Some(job), Some(attempt), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        Ok(Some(LogPosition {
            job: JobId::parse(job).ok_or_else(invalid)?,
            attempt: attempt.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        }))
    }

    pub fn cursor(position: Option<&LogPosition>) -> String {
        position.map_or_else(String::new, |p| {
            format!("{}.{}.{}", p.job, p.attempt, p.seq)
        })
    }
}

impl LogChunk {
    /// A node's chunk, checked: at most [`MAX_LOG_CHUNK_BYTES`] of text, not empty unless
    /// it only says the log was cut.
    pub fn from_request(job: &JobId, req: JobLogRequest, now: Timestamp) -> Result<Self> {
        let bytes: usize = req.entries.iter().map(|e| e.text.len()).sum();
        if bytes > MAX_LOG_CHUNK_BYTES {
            return Err(Error::validation(
                ErrorCode::OutputTooLarge,
                format!("a log chunk holds at most {MAX_LOG_CHUNK_BYTES} bytes of text"),
            ));
        }
        if req.entries.is_empty() && !req.truncated {
            return Err(Error::validation(
                ErrorCode::InvalidBody,
                "a log chunk needs entries",
            ));
        }
        Ok(Self {
            task: req.task_id,
            job: job.clone(),
            attempt: req.attempt,
            seq: req.seq,
            entries: req.entries,
            truncated: req.truncated,
            received_at: now,
        })
    }

    pub fn position(&self) -> LogPosition {
        LogPosition {
            job: self.job.clone(),
            attempt: self.attempt,
            seq: self.seq,
        }
    }

    /// The chunk as a reader's lines, one per entry.
    pub fn lines(&self) -> impl Iterator<Item = LogLine> + '_ {
        self.entries.iter().map(|entry| LogLine {
            job_id: self.job.clone(),
            attempt: self.attempt,
            seq: self.seq,
            stream: entry.stream,
            text: entry.text.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LeaseId;
    use crate::wire::OutputStream;

    #[test]
    fn cursors_round_trip_and_sort_in_chunk_order() {
        let job = JobId::generate();
        let at = |attempt, seq| LogPosition {
            job: job.clone(),
            attempt,
            seq,
        };
        let cursor = LogPosition::cursor(Some(&at(2, 17)));
        assert_eq!(LogPosition::parse_cursor(&cursor).unwrap(), Some(at(2, 17)));
        assert_eq!(LogPosition::parse_cursor("").unwrap(), None);
        assert!(at(1, 99) < at(2, 0) && at(2, 0) < at(2, 1));
        for bad in ["x", "job_1.1.1", &format!("{job}.1"), &format!("{job}.a.1")] {
            let err = LogPosition::parse_cursor(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidCursor, "{bad}");
        }
    }

    #[test]
    fn chunks_are_bounded_and_not_empty() {
        let request = |entries: Vec<LogEntry>, truncated| JobLogRequest {
            task_id: TaskId::generate(),
            attempt: 1,
            lease_id: LeaseId::generate(),
            seq: 0,
            entries,
            truncated,
        };
        let entry = |text: String| LogEntry {
            stream: OutputStream::Stdout,
            text,
        };
        let now = Timestamp::UNIX_EPOCH;
        let job = JobId::generate();
        let big = vec![entry("x".repeat(MAX_LOG_CHUNK_BYTES)), entry("y".into())];
        assert_eq!(
            LogChunk::from_request(&job, request(big, false), now)
                .unwrap_err()
                .code,
            ErrorCode::OutputTooLarge
        );
        assert!(LogChunk::from_request(&job, request(vec![], false), now).is_err());
        assert!(LogChunk::from_request(&job, request(vec![], true), now).is_ok());
        let chunk =
            LogChunk::from_request(&job, request(vec![entry("a\n".into())], false), now).unwrap();
        assert_eq!(chunk.lines().count(), 1);
    }
}
