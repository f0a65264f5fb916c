//! Finished results waiting for the gateway to confirm it stored them.
//!
//! A result is written here (atomically: temp file, fsync, rename) before it is sent, and
//! removed only after the gateway's acknowledgement. A restarted agent re-sends whatever
//! it finds, so a crash between finishing a job and reporting it loses nothing. Raw copies
//! of streams whose text was cut or converted sit beside it (`<stem>.stdout.raw`) until
//! they are uploaded with it. The files hold job tokens, so the directory is private to
//! the agent's user.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::queue::QueueKind;
use crate::sandbox::RawStreams;
use cynode_protocol::ids::JobId;
use cynode_protocol::wire::{JobResultReport, OutputStream};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingResult {
    pub job_id: JobId,
    pub job_token: String,
    /// The delivery to delete once the result is stored (may be stale after a restart;
    /// then the redelivered message is discarded by its claim instead).
    pub receipt: String,
    /// The queue the receipt belongs to.
    #[serde(default)]
    pub queue: QueueKind,
    pub report: JobResultReport,
}

impl PendingResult {
    /// The report to send instead when the gateway refused this one for good: the job
    /// failed, saying why, without the output that was refused.
    pub fn refused(&self, why: &impl std::fmt::Display) -> PendingResult {
        let mut fallback = self.clone();
        let report = &mut fallback.report;
        report.status = cynode_protocol::status::JobOutcome::Failed;
        report.error = Some(format!("the gateway refused this job's result: {why}"));
        report.stdout.clear();
        report.stderr.clear();
        report.truncated = Default::default();
        report.raw = Default::default();
        fallback
    }
}

/// Where finished results wait for the gateway. Entries are named by a path (a file for
/// [`DiskSpool`]); a result is in at most one entry.
pub trait ResultSpool: Send + Sync {
    /// Durably records a result and its raw copies; returns its entry.
    fn store(&self, pending: &PendingResult, raw: &RawStreams) -> std::io::Result<PathBuf>;
    /// Records a result that replaces the one in its entry (keeping raw copies).
    fn replace(&self, pending: &PendingResult) -> std::io::Result<PathBuf> {
        self.store(pending, &RawStreams::default())
    }
    /// Every pending result, oldest first.
    fn pending(&self) -> Vec<(PathBuf, PendingResult)>;
    /// The raw copy of `stream` kept with the entry, if any.
    fn raw(&self, entry: &Path, stream: OutputStream) -> Option<Vec<u8>>;
    /// Removes a delivered result and its raw copies.
    fn remove(&self, entry: &Path);
    /// Keeps a result the gateway refused for inspection, out of the pending ones.
    fn set_aside(&self, entry: &Path);
}

/// The spool on disk, in the node's private state directory.
pub struct DiskSpool {
    dir: PathBuf,
}

impl DiskSpool {
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        let dir = state_dir.join("pending-results");
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    fn path_of(&self, pending: &PendingResult) -> PathBuf {
        self.dir.join(format!(
            "{}.{}.json",
            pending.job_id, pending.report.attempt
        ))
    }
}

impl ResultSpool for DiskSpool {
    fn store(&self, pending: &PendingResult, raw: &RawStreams) -> std::io::Result<PathBuf> {
        let path = self.path_of(pending);
        for stream in OutputStream::ALL {
            if let Some(copy) = raw.get(stream) {
                write_durably(&raw_path(&path, stream), &copy.bytes)?;
            }
        }
        write_durably(&path, &serde_json::to_vec(pending)?)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    /// Unreadable files are reported and skipped (kept for inspection).
    fn pending(&self) -> Vec<(PathBuf, PendingResult)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| match std::fs::read(&path).map(|b| serde_json::from_slice::<PendingResult>(&b)) {
                Ok(Ok(pending)) => Some((path, pending)),
                Ok(Err(err)) => {
                    tracing::error!(path = %path.display(), error = %err, "unreadable pending result; leaving it");
                    None
                }
                Err(err) => {
                    tracing::error!(path = %path.display(), error = %err, "cannot read pending result");
                    None
                }
            })
            .collect()
    }

    fn raw(&self, entry: &Path, stream: OutputStream) -> Option<Vec<u8>> {
        std::fs::read(raw_path(entry, stream)).ok()
    }

    fn set_aside(&self, entry: &Path) {
        let _ = std::fs::rename(entry, entry.with_extension("rejected"));
    }

    fn remove(&self, path: &Path) {
        for stream in OutputStream::ALL {
            let _ = std::fs::remove_file(raw_path(path, stream));
        }
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %err, "could not remove delivered result");
        }
    }
}

/// Where the raw copy of `stream` of the result at `result` is kept.
fn raw_path(result: &Path, stream: OutputStream) -> PathBuf {
    result.with_extension(format!("{}.raw", stream.as_str()))
}

/// Temp file, fsync, rename: a crash leaves the old file or the new one, never half.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
