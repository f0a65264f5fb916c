//! One job's `podman run`: started with its streams piped and a status pipe on fd 3
//! ([`Spawned`]), its streams captured ([`Started`]), then waited for, stopped at its
//! timeout or cancel, removed, and judged ([`PodmanSandbox::finish`]). A job's own sandbox
//! is started here ([`PodmanSandbox::start_cold`]); a warm one in [`super::warm`].

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Instant;

use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use cynode_protocol::limits::{MAX_RAW_OUTPUT_BYTES, MAX_STREAM_BYTES};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{OutputStream, Truncated};

use super::exit::Ended;
use super::{container_name, pod, PodmanSandbox, RunSpec};
use crate::sandbox::output::{self, capture};
use crate::sandbox::{RawStreams, SandboxJob, SandboxOutcome};

/// A pipe whose write end the child gets as fd 3.
fn status_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds` on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads what the runner wrote on fd 3 (non-blocking: anything still holding the pipe
/// open cannot stall the agent).
fn read_status(read_end: OwnedFd) -> Option<u32> {
    use std::io::Read;
    let mut text = String::new();
    let mut file = std::fs::File::from(read_end);
    let _ = file.read_to_string(&mut text);
    text.trim().parse().ok()
}

/// A `podman run` just started: the child, the read end of its status pipe and its
/// streams, not read yet (a warm sandbox's are read once it has its job).
pub(super) struct Spawned {
    pub(super) child: tokio::process::Child,
    pub(super) status_read: OwnedFd,
    pub(super) stdout: tokio::process::ChildStdout,
    pub(super) stderr: tokio::process::ChildStderr,
}

/// A sandbox running a job: the child, the read end of its status pipe, and the tasks
/// capturing its streams.
pub(super) struct Started {
    child: tokio::process::Child,
    status_read: OwnedFd,
    stdout: tokio::task::JoinHandle<output::Captured>,
    stderr: tokio::task::JoinHandle<output::Captured>,
}

impl Spawned {
    /// Starts reading the streams, both into the job's live log and the last line of
    /// stderr into its progress.
    pub(super) fn capture(self, job: &SandboxJob) -> Started {
        let raw_limit = MAX_RAW_OUTPUT_BYTES as usize;
        let (progress, out_log, err_log) = (job.progress.clone(), job.log.clone(), job.log.clone());
        let child_stdout = self.stdout;
        let stdout = tokio::spawn(async move {
            let live = Some((&out_log, OutputStream::Stdout));
            capture(child_stdout, MAX_STREAM_BYTES, raw_limit, None, live).await
        });
        let child_stderr = self.stderr;
        let stderr = tokio::spawn(async move {
            let live = Some((&err_log, OutputStream::Stderr));
            capture(
                child_stderr,
                MAX_STREAM_BYTES,
                raw_limit,
                Some(&progress),
                live,
            )
            .await
        });
        Started {
            child: self.child,
            status_read: self.status_read,
            stdout,
            stderr,
        }
    }
}

/// A job's sandbox once its program runs, and what to remove when it ends.
pub(super) struct Running {
    pub(super) name: String,
    pub(super) pod: Option<String>,
    pub(super) started: Started,
    /// When the program started.
    pub(super) clock: Instant,
    /// The node stops the sandbox at the job's timeout (a warm sandbox's own `--timeout`
    /// counts from before it had its job).
    pub(super) node_timeout: bool,
    /// A warm sandbox's directories.
    pub(super) dirs: Vec<std::path::PathBuf>,
}

impl PodmanSandbox {
    /// Starts a `podman run` with its streams piped and its status pipe on fd 3.
    pub(super) fn spawn_run(&self, args: Vec<String>) -> Result<Spawned, String> {
        let (status_read, status_write) = match status_pipe() {
            Ok(pipe) => pipe,
            Err(err) => return Err(format!("could not create a pipe: {err}")),
        };
        let mut command = Command::new(&self.podman);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        let write_fd = status_write.as_raw_fd();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(write_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|err| format!("could not start podman: {err}"))?;
        drop(status_write);
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        Ok(Spawned {
            child,
            status_read,
            stdout,
            stderr,
        })
    }

    /// The job in a sandbox of its own, started now.
    pub(super) async fn start_cold(&self, job: &SandboxJob) -> Result<Running, String> {
        let name = container_name(job);
        // A container of an earlier attempt of this job on this node cannot still be
        // running (its runner is gone), but its name must be free.
        self.remove(&name).await;
        let prepared = self
            .prepare(job, &job.job_dir)
            .map_err(|err| format!("could not prepare the job directory: {err}"))?;
        let pod = match &job.inference {
            Some(access) => {
                let pod = pod::PodNames::of_job(job);
                self.start_pod(
                    &pod,
                    Some(&job.job_id),
                    &access.socket_dir,
                    &access.proxy_binary,
                )
                .await?;
                Some(pod.pod)
            }
            None => None,
        };
        let image = job.image.as_deref().unwrap_or(&self.limits.image);
        let args = self.run_args(RunSpec {
            name: &name,
            job_id: Some(&job.job_id),
            pod: pod.as_deref(),
            job_dir: &job.job_dir,
            checkout: job.checkout.as_ref(),
            timeout: job.timeout,
            image,
            prepared,
        });
        let clock = Instant::now();
        let spawned = match self.spawn_run(args) {
            Ok(spawned) => spawned,
            Err(err) => {
                if let Some(pod) = &pod {
                    self.remove_pod(pod).await;
                }
                return Err(err);
            }
        };
        Ok(Running {
            name,
            pod,
            started: spawned.capture(job),
            clock,
            node_timeout: false,
            dirs: vec![],
        })
    }

    /// Waits for the job's sandbox to end (or stops it), removes it, and says how the job
    /// ended.
    pub(super) async fn finish(
        &self,
        job: &SandboxJob,
        running: Running,
        stop: CancellationToken,
        started_at: cynode_protocol::clock::Timestamp,
    ) -> SandboxOutcome {
        let Running {
            name,
            pod,
            started:
                Started {
                    mut child,
                    status_read,
                    stdout,
                    stderr,
                },
            clock,
            node_timeout,
            dirs,
        } = running;
        let mut stopped = false;
        let mut expired = !node_timeout;
        let timeout_at = tokio::time::Instant::from_std(clock) + job.timeout;
        // Podman's own --timeout should end the run; if podman itself hangs, this does.
        let deadline = timeout_at + self.run_grace;
        let mut hung = false;
        let exit = loop {
            tokio::select! {
                exit = child.wait() => break exit,
                _ = stop.cancelled(), if !stopped => {
                    stopped = true;
                    self.stop(&name).await;
                }
                _ = tokio::time::sleep_until(timeout_at), if !expired => {
                    expired = true;
                    // As Podman's own --timeout does.
                    let _ = self.podman(&["kill", "--signal=KILL", &name]).await;
                }
                _ = tokio::time::sleep_until(deadline), if !hung => {
                    hung = true;
                    tracing::error!(container = %name, "podman did not return after the job's timeout; killing it");
                    let _ = child.start_kill();
                    self.remove(&name).await;
                }
            }
        };
        let elapsed = clock.elapsed();
        let stdout = stdout.await.unwrap_or_default();
        let stderr = stderr.await.unwrap_or_default();
        let failed_command = read_status(status_read);
        // `podman run --rm` has removed the container when it returned (a hung one was
        // removed above); the rest (the pod, a warm sandbox's directories) need not hold
        // up the outcome.
        let orphaned = exit.is_err();
        let sandbox = self.clone();
        self.cleanup.spawn(async move {
            if orphaned {
                sandbox.remove(&name).await;
            }
            if let Some(pod) = &pod {
                sandbox.remove_pod(pod).await;
            }
            for dir in dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        });

        let exit_code = exit.as_ref().ok().and_then(|status| status.code());
        let ended = Ended {
            exit: &exit,
            elapsed,
            timeout: job.timeout,
            stopped,
            hung,
            failed_command,
        };
        let (status, error) = ended.judge(&self.limits.memory);
        SandboxOutcome {
            status,
            exit_code,
            failed_command: failed_command.filter(|_| status == JobOutcome::Failed),
            error,
            truncated: Truncated {
                stdout: stdout.truncated,
                stderr: stderr.truncated,
            },
            raw: RawStreams {
                stdout: stdout.raw,
                stderr: stderr.raw,
            },
            stdout: stdout.preview,
            stderr: stderr.preview,
            started_at,
            ended_at: time::OffsetDateTime::now_utc(),
        }
    }
}
