//! A task's result, its output downloads and its logs, read back from the jobs and the
//! blob store.

use super::TaskService;
use crate::error::{Error, Result};
use crate::job::{raw_output_key, Job};
use crate::limits::LOG_READ_LIMIT;
use crate::live_log::{LogChunk, LogPosition};
use crate::principal::Principal;
use crate::wire::{LiveLogs, LogStream, OutputDownload, OutputStream, TaskLogs, TaskResult};
use crate::ErrorCode;

/// How long a download URL of a task's output works.
pub const OUTPUT_URL_TTL_SECS: u64 = 15 * 60;

impl TaskService {
    pub(super) async fn stream_text(&self, key: Option<&String>) -> Result<String> {
        let Some(key) = key else {
            return Ok(String::new());
        };
        let bytes = self.blobs.get(key).await?.ok_or_else(|| {
            Error::internal(format!(
                "stored output {key} is missing from the blob store"
            ))
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A job's stdout and stderr: its result's, or while it runs, its live log so far.
    pub(crate) async fn job_streams(&self, job: &Job) -> Result<(String, String)> {
        if job.output.is_none() && !job.status.is_terminal() {
            return self.live_text(job).await;
        }
        let output = job.output.as_ref();
        Ok((
            self.stream_text(output.and_then(|o| o.stdout_key.as_ref()))
                .await?,
            self.stream_text(output.and_then(|o| o.stderr_key.as_ref()))
                .await?,
        ))
    }

    pub async fn result(&self, principal: &Principal, reference: &str) -> Result<TaskResult> {
        let task = self.owned_task(principal, reference).await?;
        let mut jobs = Vec::new();
        for job in self.tasks.jobs(&task.id).await? {
            let (stdout, stderr) = self.job_streams(&job).await?;
            jobs.push(job.result_view(stdout, stderr));
        }
        let last_finished = jobs.iter().rev().find(|job| job.ended_at.is_some());
        Ok(TaskResult {
            task_id: task.id.clone(),
            status: task.status,
            exit_code: last_finished.and_then(|job| job.exit_code),
            stdout: last_finished.map(|job| job.stdout.clone()),
            stderr: last_finished.map(|job| job.stderr.clone()),
            answer: last_finished.and_then(|job| job.answer.clone()),
            usage: jobs
                .iter()
                .filter_map(|job| job.usage)
                .reduce(|total, usage| total + usage),
            jobs,
        })
    }

    /// Where to download the whole bytes of one stream of the task's last finished job:
    /// the raw upload when the node made one, else the stored preview (which then is
    /// the whole output).
    pub async fn output(
        &self,
        principal: &Principal,
        reference: &str,
        stream: &str,
    ) -> Result<OutputDownload> {
        let stream = OutputStream::parse(stream).ok_or_else(|| {
            Error::validation(
                ErrorCode::InvalidStream,
                format!("stream must be stdout or stderr, got '{stream}'"),
            )
        })?;
        let task = self.owned_task(principal, reference).await?;
        let jobs = self.tasks.jobs(&task.id).await?;
        let Some((job, output)) = jobs
            .iter()
            .rev()
            .find_map(|job| job.output.as_ref().map(|output| (job, output)))
        else {
            return Err(Error::conflict(
                ErrorCode::NoOutputYet,
                format!(
                    "task {} has no finished job yet (status {})",
                    task.id, task.status
                ),
            ));
        };
        let (key, size, complete) = match output.raw.get(stream) {
            Some(raw) => (
                Some(raw_output_key(&task.id, &job.id, output.attempt, stream)),
                raw.size,
                raw.size == raw.total,
            ),
            None => {
                let key = match stream {
                    OutputStream::Stdout => output.stdout_key.clone(),
                    OutputStream::Stderr => output.stderr_key.clone(),
                };
                let size = match &key {
                    Some(key) => self.blobs.size(key).await?.unwrap_or(0),
                    None => 0,
                };
                let cut = match stream {
                    OutputStream::Stdout => output.truncated.stdout,
                    OutputStream::Stderr => output.truncated.stderr,
                };
                (key, size, !cut)
            }
        };
        let url = match key {
            Some(key) => Some(self.blobs.download_url(&key, OUTPUT_URL_TTL_SECS).await?),
            None => None,
        };
        Ok(OutputDownload {
            task_id: task.id,
            stream,
            size,
            complete,
            url,
        })
    }

    pub async fn logs(
        &self,
        principal: &Principal,
        reference: &str,
        stream: Option<&str>,
    ) -> Result<TaskLogs> {
        let stream = match stream {
            None => LogStream::All,
            Some(text) => LogStream::parse(text).ok_or_else(|| {
                Error::validation(
                    ErrorCode::InvalidStream,
                    format!("stream must be stdout, stderr or all, got '{text}'"),
                )
            })?,
        };
        let task = self.owned_task(principal, reference).await?;
        let (mut stdout, mut stderr) = (String::new(), String::new());
        for job in self.tasks.jobs(&task.id).await? {
            let (out, err) = self.job_streams(&job).await?;
            stdout.push_str(&out);
            stderr.push_str(&err);
        }
        Ok(TaskLogs {
            task_id: task.id,
            status: task.status,
            stdout: (stream != LogStream::Stderr).then_some(stdout),
            stderr: (stream != LogStream::Stdout).then_some(stderr),
        })
    }

    /// The chunks of the task's live logs after `cursor` (`""`: from the first), read
    /// after the task itself: a final status with no lines means nothing more will come
    /// (a node ships a job's log before its result).
    pub async fn live_logs(
        &self,
        principal: &Principal,
        reference: &str,
        cursor: &str,
    ) -> Result<LiveLogs> {
        let after = LogPosition::parse_cursor(cursor)?;
        let task = self.owned_task(principal, reference).await?;
        let chunks = match &self.logs {
            Some(logs) => {
                logs.logs_after(&task.id, after.as_ref(), LOG_READ_LIMIT)
                    .await?
            }
            None => vec![],
        };
        let next = chunks.last().map(LogChunk::position).or(after);
        Ok(LiveLogs {
            task_id: task.id,
            status: task.status,
            lines: chunks.iter().flat_map(LogChunk::lines).collect(),
            next_cursor: LogPosition::cursor(next.as_ref()),
            truncated: chunks.iter().any(|chunk| chunk.truncated),
        })
    }

    /// A running job's live log so far, its latest attempt's, as stdout and stderr.
    async fn live_text(&self, job: &Job) -> Result<(String, String)> {
        let Some(logs) = &self.logs else {
            return Ok((String::new(), String::new()));
        };
        let before = LogPosition {
            job: job.id.clone(),
            attempt: 0,
            seq: 0,
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut after = before;
        loop {
            let chunks = logs
                .logs_after(&job.task_id, Some(&after), LOG_READ_LIMIT)
                .await?;
            let Some(last) = chunks.last() else { break };
            after = last.position();
            for chunk in chunks
                .iter()
                .filter(|c| c.job == job.id && c.attempt == job.attempt)
            {
                for entry in &chunk.entries {
                    match entry.stream {
                        OutputStream::Stdout => stdout.push_str(&entry.text),
                        OutputStream::Stderr => stderr.push_str(&entry.text),
                    }
                }
            }
            if last.job != job.id || chunks.len() < LOG_READ_LIMIT as usize {
                break;
            }
        }
        Ok((stdout, stderr))
    }
}
