//! Running one job in an isolated sandbox (with the inference proxy beside it when the
//! job needs a model). The runner does not care how: it hands a
//! [`SandboxJob`] to a [`Sandbox`] and gets a [`SandboxOutcome`] back. [`podman`] is the
//! implementation (with its pool of sandboxes started ahead of their jobs, see
//! [`WarmSetup`]); [`output`] captures a process's streams within the size limits.

pub mod disk;
pub mod live_log;
pub mod output;
pub mod podman;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use cynode_protocol::clock::Timestamp;
use cynode_protocol::ids::JobId;
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{OutputStream, RawOutput, StreamBytes, Truncated};

use crate::prompt_agent::AgentJob;

/// What to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A script, run by its `#!` interpreter or else by `/bin/sh`.
    Script(String),
    /// Commands run in order by `/bin/sh -c`, stopping at the first that fails.
    Commands(Vec<String>),
    /// A prompt, answered by the agent binary run inside the sandbox (never as shell).
    Agent { job: AgentJob, binary: PathBuf },
}

/// The name of a job's inference socket in its socket directory.
pub const INFERENCE_SOCKET: &str = "inference.sock";

/// A pod's only way to the node's models, for jobs that need one: the sidecar binary, and
/// the directory of the job's inference socket, mounted into the sidecar only.
#[derive(Debug, Clone)]
pub struct InferenceAccess {
    pub socket_dir: PathBuf,
    pub proxy_binary: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SandboxJob {
    pub job_id: JobId,
    /// The claim's attempt: part of every container name, so attempts never collide.
    pub attempt: u32,
    /// The image to run in (one the node allows); `None`: the node's default.
    pub image: Option<String>,
    pub program: Program,
    /// A private directory for this job; its `attachments/` (if any) is visible to the
    /// job read-only under `/job/attachments`.
    pub job_dir: PathBuf,
    pub timeout: Duration,
    /// Run as a pod with the inference proxy sidecar.
    pub inference: Option<InferenceAccess>,
    /// For planned work: the repository checkout, mounted at `/repo`.
    pub checkout: Option<Checkout>,
    /// Updated with the last line the job wrote to stderr while it runs.
    pub progress: output::LastLine,
    /// What the job's streams print, for the node to ship as the live log.
    pub log: live_log::LiveLog,
}

/// What the node follows of a running job's streams: the last line of stderr (its
/// progress, for heartbeats) and everything it prints (its live log).
#[derive(Debug, Clone, Default)]
pub struct StreamTaps {
    pub progress: output::LastLine,
    pub log: live_log::LiveLog,
}

/// A repository checkout a planner reads or a worker changes.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub path: PathBuf,
    /// For a worker: the checkout is writable, and this directory (on the job's own disk,
    /// like the checkout) is its `/out`. Otherwise the checkout is read-only.
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOutcome {
    pub status: JobOutcome,
    pub exit_code: Option<i32>,
    /// For commands: 1-based index of the command that failed.
    pub failed_command: Option<u32>,
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub truncated: Truncated,
    /// The raw bytes of the streams whose text is not all of them.
    pub raw: RawStreams,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
}

impl SandboxOutcome {
    /// A job that failed before (or instead of) running, saying why.
    pub fn failed(error: String, started_at: Timestamp) -> SandboxOutcome {
        SandboxOutcome {
            status: JobOutcome::Failed,
            exit_code: None,
            failed_command: None,
            error: Some(error),
            stdout: String::new(),
            stderr: String::new(),
            truncated: Truncated::default(),
            raw: RawStreams::default(),
            started_at,
            ended_at: time::OffsetDateTime::now_utc(),
        }
    }
}

/// Raw copies of a job's streams, where their text is cut or converted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawStreams {
    pub stdout: Option<output::RawBytes>,
    pub stderr: Option<output::RawBytes>,
}

impl RawStreams {
    pub fn get(&self, stream: OutputStream) -> Option<&output::RawBytes> {
        match stream {
            OutputStream::Stdout => self.stdout.as_ref(),
            OutputStream::Stderr => self.stderr.as_ref(),
        }
    }

    /// What the result announces: the size of each raw copy.
    pub fn announced(&self) -> RawOutput {
        let mut raw = RawOutput::default();
        for stream in OutputStream::ALL {
            raw.set(
                stream,
                self.get(stream).map(|copy| StreamBytes {
                    size: copy.bytes.len() as u64,
                    total: copy.total,
                }),
            );
        }
        raw
    }
}

/// Where a node's warm sandboxes keep their files, and what pods for model jobs mount.
#[derive(Debug, Clone)]
pub struct WarmSetup {
    /// A private directory of the node's (emptied when the pool starts).
    pub dir: PathBuf,
    /// On nodes with models: what a warm pod for a prompt needs.
    pub pods: Option<WarmPods>,
}

/// The binaries and socket directory a warm pod for a prompt is started with.
#[derive(Debug, Clone)]
pub struct WarmPods {
    pub proxy_binary: PathBuf,
    pub agent_binary: PathBuf,
    /// The node's directory of job sockets (each pod's socket directory is made there).
    pub sockets_dir: PathBuf,
}

#[async_trait]
pub trait Sandbox: Send + Sync {
    /// Runs the job to completion, timeout, or until `stop` is cancelled.
    async fn run(&self, job: SandboxJob, stop: CancellationToken) -> SandboxOutcome;
    /// Removes sandboxes an earlier run of this node left behind; returns how many.
    async fn remove_orphans(&self) -> anyhow::Result<usize>;
    /// Starts keeping sandboxes ready ahead of jobs (after [`Sandbox::remove_orphans`]).
    fn start_warm_pool(&self, _setup: WarmSetup) {}
    /// Removes the sandboxes kept ready; the node is stopping.
    async fn close(&self) {}
}
