//! The Podman sandbox.
//!
//! Each job is one container named `cynode-job-<job id>-<attempt>` (so cleaning up one
//! attempt can never touch another's), labelled with the node's name so that the next
//! start of the same node removes whatever a crash left behind:
//!
//! - `--network none`, `--cap-drop ALL`, `no-new-privileges`, user 1000, read-only root;
//!   the only writable places are `/workspace`, `/tmp`, `/run` and `/dev/shm`, each a
//!   tmpfs of a fixed size.
//! - a user namespace of its own (`--userns=auto`): Podman gives each job's container (or
//!   pod) a range of host uids no other container holds, so two jobs never share a host
//!   uid, and root in the sandbox is no one on the host. Directories a job must write are
//!   handed to its user with Podman's `U` mount option.
//! - no host environment: `--http-proxy=false` keeps the agent's proxy settings out; the
//!   job sees only the variables set here.
//! - every `podman` call has an outer deadline: a hung podman still ends the job (as a
//!   timeout) instead of the slot.
//! - memory (swap capped to the same), CPU and pids limits from the node's config.
//! - the job's files are bind-mounted read-only at `/job`.
//! - the timeout is Podman's own `--timeout`: killing the podman client would leave the
//!   container running.
//! - stdout and stderr are separate pipes, each captured up to 256 KiB.
//! - a job that needs a model runs in a pod `cynode-pod-<job id>` (network `none`) beside
//!   the sidecar `cynode-proxy-<job id>`, which listens on localhost:11434 in the pod and
//!   reaches the node only through the job's unix socket (mounted into the sidecar only);
//!   the sandbox gets `OLLAMA_BASE_URL` and `OPENAI_BASE_URL`. Other jobs pay nothing.
//! - a prompt runs the agent binary, mounted read-only, with a writable `/out` for its
//!   result: a small tmpfs, or for a worker a directory on the job's own disk beside its
//!   checkout (see [`super::disk`]).
//! - for commands, a small runner script reports the index of a failing command on fd 3,
//!   a pipe only the runner holds (`--preserve-fds 1`; commands run with fd 3 closed).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use cynode_protocol::limits::{MAX_RAW_OUTPUT_BYTES, MAX_STREAM_BYTES};
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::Truncated;

mod exit;
mod pod;

use exit::Ended;

use crate::config::SandboxLimits;
use crate::sandbox::output::capture;
use crate::sandbox::{Program, RawStreams, Sandbox, SandboxJob, SandboxOutcome};

/// The uid:gid jobs run as inside the sandbox.
pub(super) const SANDBOX_USER: &str = "1000:1000";
/// Each job's user namespace: a range of 65536 host ids of its own, picked by Podman
/// from the `containers` entries of /etc/subuid and /etc/subgid.
pub(super) const USERNS: &str = "--userns=auto:size=65536";
/// Sizes of the scratch filesystems besides `/workspace`.
const TMP_SIZE: &str = "64m";
/// The agent's `/out` when it is not a worker's (its result file only).
const OUT_SIZE: &str = "16m";
const RUN_SIZE: &str = "16m";
const SHM_SIZE: &str = "64m";
/// How long any podman call other than the job's own run may take.
const PODMAN_CALL_DEADLINE: Duration = Duration::from_secs(120);
/// How long past the job's timeout `podman run` may take to return before the node
/// kills the container itself.
const RUN_DEADLINE_GRACE: Duration = Duration::from_secs(60);
/// Where the node's helper binaries appear inside containers (bind-mounted read-only).
const AGENT_PATH: &str = "/opt/cynode/bin/cynode-prompt-agent";

/// The port the sidecar listens on inside the pod: Ollama's.
const PROXY_PORT: u16 = 11434;
/// Seconds `podman stop` waits after SIGTERM before SIGKILL.
const STOP_GRACE_SECS: &str = "2";

const COMMANDS_RUNNER: &str = r#"#!/bin/sh
# Written by cynode-edge: runs /job/commands/* in order, stops at the first failure and
# reports its index on fd 3 (closed for the commands themselves).
i=0
for command in /job/commands/*; do
    i=$((i + 1))
    /bin/sh "$command" 3>&-
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "$i" >&3
        exit "$status"
    fi
done
exit 0
"#;

pub struct PodmanSandbox {
    podman: String,
    node_name: String,
    limits: SandboxLimits,
    /// How long past the job's timeout `podman run` may take (see [`RUN_DEADLINE_GRACE`]).
    run_grace: Duration,
}

/// What `podman` reports about itself, checked before the agent starts.
#[derive(Debug, Clone)]
pub struct PodmanInfo {
    pub version: String,
    pub images: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
    #[error(
        "podman is not installed or not on PATH ({0}); install it (apt-get install podman runc)"
    )]
    Missing(String),
    #[error("podman does not work on this machine: {0}\nsee README.md, 'Podman setup'")]
    Broken(String),
    #[error(
        "the sandbox image {0} is not present; build it with edge-node/sandbox/build-image.sh"
    )]
    NoImage(String),
    #[error(
        "{0} has no range for 'containers': each job runs in a user namespace of its own \
         (podman --userns=auto), taken from that range; add one, e.g. \
         'containers:2147483647:2147483648' (scripts/install-deps does)"
    )]
    NoIdRange(&'static str),
}

fn container_name(job: &SandboxJob) -> String {
    format!("cynode-job-{}-{}", job.job_id, job.attempt)
}

/// What to run in the sandbox, and the mounts beyond the job directory it needs.
struct Prepared {
    command: Vec<String>,
    mounts: Vec<String>,
}

impl Prepared {
    fn command(command: Vec<String>) -> Self {
        Self {
            command,
            mounts: vec![],
        }
    }
}

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

impl PodmanSandbox {
    pub fn new(podman: String, node_name: String, limits: SandboxLimits) -> Self {
        Self {
            podman,
            node_name,
            limits,
            run_grace: RUN_DEADLINE_GRACE,
        }
    }

    async fn podman(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        let call = Command::new(&self.podman)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(PODMAN_CALL_DEADLINE, call)
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "podman {} did not return within {}s",
                        args.first().unwrap_or(&""),
                        PODMAN_CALL_DEADLINE.as_secs()
                    ),
                ))
            })
    }

    /// Checks that Podman works and the sandbox image is present.
    pub async fn check(&self) -> Result<PodmanInfo, PodmanError> {
        let version = self
            .podman(&["version", "--format", "{{.Client.Version}}"])
            .await
            .map_err(|err| PodmanError::Missing(err.to_string()))?;
        if !version.status.success() {
            return Err(PodmanError::Broken(
                String::from_utf8_lossy(&version.stderr).trim().to_owned(),
            ));
        }
        // `podman info` exercises the runtime and storage configuration.
        let info = self
            .podman(&["info", "--format", "{{.Host.OCIRuntime.Name}}"])
            .await;
        match info {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(PodmanError::Broken(
                    String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                ))
            }
            Err(err) => return Err(PodmanError::Broken(err.to_string())),
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            let ranges = std::fs::read_to_string(file).unwrap_or_default();
            if !ranges.lines().any(|line| line.starts_with("containers:")) {
                return Err(PodmanError::NoIdRange(file));
            }
        }
        for image in &self.limits.allowed_images {
            let exists = self.podman(&["image", "exists", image]).await;
            if !exists.is_ok_and(|out| out.status.success()) {
                return Err(PodmanError::NoImage(image.clone()));
            }
        }
        let images = self
            .podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .await
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(PodmanInfo {
            version: String::from_utf8_lossy(&version.stdout).trim().to_owned(),
            images,
        })
    }

    /// Writes the program into the job directory; returns the command to run in the box
    /// and the extra mounts it needs.
    fn prepare(&self, job: &SandboxJob) -> std::io::Result<Prepared> {
        use std::os::unix::fs::PermissionsExt;
        let dir = &job.job_dir;
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        let write = |path: &Path, text: &str, mode: u32| -> std::io::Result<()> {
            std::fs::write(path, text)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        };
        Ok(match &job.program {
            Program::Script(script) => Prepared::command(if script.starts_with("#!") {
                write(&dir.join("script"), script, 0o755)?;
                vec!["/job/script".into()]
            } else {
                write(&dir.join("script"), script, 0o755)?;
                vec!["/bin/sh".into(), "/job/script".into()]
            }),
            Program::Commands(commands) => {
                let commands_dir = dir.join("commands");
                std::fs::create_dir_all(&commands_dir)?;
                std::fs::set_permissions(&commands_dir, std::fs::Permissions::from_mode(0o755))?;
                for (i, command) in commands.iter().enumerate() {
                    write(&commands_dir.join(format!("{:04}", i + 1)), command, 0o644)?;
                }
                write(&dir.join("run-commands"), COMMANDS_RUNNER, 0o755)?;
                Prepared::command(vec!["/bin/sh".into(), "/job/run-commands".into()])
            }
            Program::Agent {
                job: agent_job,
                binary,
            } => {
                let text = serde_json::to_string(agent_job).map_err(std::io::Error::other)?;
                write(&dir.join("prompt.json"), &text, 0o644)?;
                // The agent's result: the one place outside /workspace it may write, on
                // the job's disk for a worker (its change goes there), else in memory.
                let out = match job.checkout.as_ref().and_then(|c| c.out.as_ref()) {
                    Some(out) => format!("--volume={}:/out:rw,U", out.display()),
                    None => {
                        format!("--mount=type=tmpfs,destination=/out,tmpfs-size={OUT_SIZE},U=true")
                    }
                };
                Prepared {
                    command: vec![AGENT_PATH.into()],
                    mounts: vec![
                        format!("--volume={}:{AGENT_PATH}:ro", binary.display()),
                        out,
                    ],
                }
            }
        })
    }

    fn run_args(
        &self,
        job: &SandboxJob,
        name: &str,
        pod: Option<&str>,
        prepared: Prepared,
    ) -> Vec<String> {
        let limits = &self.limits;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--pull=never".into(),
            format!("--name={name}"),
            format!("--label=cynode.node={}", self.node_name),
            format!("--label=cynode.job={}", job.job_id),
        ];
        match pod {
            // The pod's network is `none`; the sidecar is the only thing listening in it.
            Some(pod) => args.extend([
                format!("--pod={pod}"),
                format!("--env=OLLAMA_BASE_URL=http://localhost:{PROXY_PORT}"),
                format!("--env=OPENAI_BASE_URL=http://localhost:{PROXY_PORT}/v1"),
            ]),
            // In a pod, the pod's user namespace applies.
            None => args.extend(["--network=none".into(), USERNS.into()]),
        }
        args.extend([
            "--cap-drop=ALL".into(),
            "--security-opt=no-new-privileges".into(),
            "--http-proxy=false".into(),
            format!("--user={SANDBOX_USER}"),
            "--read-only".into(),
            // Only the scratch space below, each with a size.
            "--read-only-tmpfs=false".into(),
            format!(
                "--mount=type=tmpfs,destination=/workspace,tmpfs-size={},U=true",
                limits.workspace_size
            ),
            format!("--mount=type=tmpfs,destination=/tmp,tmpfs-size={TMP_SIZE},tmpfs-mode=1777"),
            format!("--mount=type=tmpfs,destination=/run,tmpfs-size={RUN_SIZE},tmpfs-mode=1777"),
            format!("--shm-size={SHM_SIZE}"),
            format!("--volume={}:/job:ro", job.job_dir.display()),
        ]);
        if let Some(checkout) = &job.checkout {
            // `U`: the checkout is the job's user's (git refuses a repository of another).
            let mode = if checkout.out.is_some() { "rw" } else { "ro" };
            args.push(format!(
                "--volume={}:/repo:{mode},U",
                checkout.path.display()
            ));
        }
        args.extend(prepared.mounts);
        args.extend([
            "--workdir=/workspace".into(),
            "--env=HOME=/workspace".into(),
            format!("--env=CYNODE_JOB_ID={}", job.job_id),
            format!("--memory={}", limits.memory),
            format!("--memory-swap={}", limits.memory),
            format!("--cpus={}", limits.cpus),
            format!("--pids-limit={}", limits.pids),
            format!("--timeout={}", job.timeout.as_secs().max(1)),
            "--log-driver=none".into(),
            "--preserve-fds=1".into(),
            job.image.clone().unwrap_or_else(|| limits.image.clone()),
        ]);
        args.extend(prepared.command);
        args
    }

    async fn stop(&self, name: &str) {
        match self
            .podman(&["stop", "--ignore", "--time", STOP_GRACE_SECS, name])
            .await
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                tracing::warn!(container = name, stderr = %String::from_utf8_lossy(&out.stderr).trim(), "podman stop failed")
            }
            Err(err) => tracing::warn!(container = name, error = %err, "podman stop failed"),
        }
    }

    async fn remove(&self, name: &str) {
        let _ = self.podman(&["rm", "--force", "--ignore", name]).await;
    }
}

/// A started `podman run`: the child, the read end of its status pipe, and the tasks
/// capturing its streams.
struct Started {
    child: tokio::process::Child,
    status_read: OwnedFd,
    stdout: tokio::task::JoinHandle<super::output::Captured>,
    stderr: tokio::task::JoinHandle<super::output::Captured>,
}

impl PodmanSandbox {
    /// Starts the job's container with its streams captured and its status pipe on fd 3.
    fn start_run(
        &self,
        job: &SandboxJob,
        name: &str,
        pod: Option<&str>,
        prepared: Prepared,
    ) -> Result<Started, String> {
        let (status_read, status_write) = match status_pipe() {
            Ok(pipe) => pipe,
            Err(err) => return Err(format!("could not create a pipe: {err}")),
        };
        let mut command = Command::new(&self.podman);
        command
            .args(self.run_args(job, name, pod, prepared))
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
        let raw_limit = MAX_RAW_OUTPUT_BYTES as usize;
        let stdout = tokio::spawn(capture(
            child.stdout.take().expect("piped"),
            MAX_STREAM_BYTES,
            raw_limit,
            None,
        ));
        let progress = job.progress.clone();
        let child_stderr = child.stderr.take().expect("piped");
        let stderr = tokio::spawn(async move {
            capture(child_stderr, MAX_STREAM_BYTES, raw_limit, Some(&progress)).await
        });

        Ok(Started {
            child,
            status_read,
            stdout,
            stderr,
        })
    }
}

#[async_trait]
impl Sandbox for PodmanSandbox {
    async fn run(&self, job: SandboxJob, stop: CancellationToken) -> SandboxOutcome {
        let started_at = time::OffsetDateTime::now_utc();
        let name = container_name(&job);
        // A container of an earlier attempt of this job on this node cannot still be
        // running (its runner is gone), but its name must be free.
        self.remove(&name).await;
        let prepared = match self.prepare(&job) {
            Ok(prepared) => prepared,
            Err(err) => {
                return SandboxOutcome::failed(
                    format!("could not prepare the job directory: {err}"),
                    started_at,
                )
            }
        };
        let pod = match &job.inference {
            Some(access) => match self.start_pod(&job, access).await {
                Ok(pod) => Some(pod),
                Err(err) => return SandboxOutcome::failed(err, started_at),
            },
            None => None,
        };
        let clock = Instant::now();
        let Started {
            mut child,
            status_read,
            stdout,
            stderr,
        } = match self.start_run(&job, &name, pod.as_deref(), prepared) {
            Ok(started) => started,
            Err(err) => {
                if let Some(pod) = &pod {
                    self.remove_pod(pod).await;
                }
                return SandboxOutcome::failed(err, started_at);
            }
        };

        let mut stopped = false;
        // Podman's own --timeout should end the run; if podman itself hangs, this does.
        let deadline = tokio::time::Instant::now() + job.timeout + self.run_grace;
        let mut hung = false;
        let exit = loop {
            tokio::select! {
                exit = child.wait() => break exit,
                _ = stop.cancelled(), if !stopped => {
                    stopped = true;
                    self.stop(&name).await;
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
        self.remove(&name).await;
        if let Some(pod) = &pod {
            self.remove_pod(pod).await;
        }

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

    async fn remove_orphans(&self) -> anyhow::Result<usize> {
        let filter = format!("label=cynode.node={}", self.node_name);
        let out = self
            .podman(&["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"])
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "podman ps failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        for name in &names {
            tracing::warn!(container = %name, "removing a sandbox left by an earlier run");
            self.remove(name).await;
        }
        let pods = self
            .podman(&["pod", "ps", "--filter", &filter, "--format", "{{.Name}}"])
            .await?;
        for pod in String::from_utf8_lossy(&pods.stdout).lines() {
            tracing::warn!(pod = %pod, "removing a pod left by an earlier run");
            self.remove_pod(pod).await;
        }
        Ok(names.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Program;
    use cynode_protocol::ids::JobId;

    fn limits() -> SandboxLimits {
        SandboxLimits {
            image: "localhost/cynode-sandbox:latest".into(),
            allowed_images: vec!["localhost/cynode-sandbox:latest".into()],
            memory: "128m".into(),
            cpus: 1.0,
            pids: 64,
            workspace_size: "16m".into(),
            disk_bytes: 1 << 30,
            max_change_bytes: 1 << 20,
            default_timeout_secs: 60,
            max_timeout_secs: 60,
        }
    }

    fn job(dir: &Path, attempt: u32) -> SandboxJob {
        SandboxJob {
            job_id: JobId::generate(),
            attempt,
            image: None,
            program: Program::Commands(vec!["true".into()]),
            job_dir: dir.to_owned(),
            timeout: Duration::from_secs(1),
            inference: None,
            checkout: None,
            progress: Default::default(),
        }
    }

    #[test]
    fn the_sandbox_gets_no_host_environment_a_user_namespace_and_sized_scratch_space() {
        let sandbox = PodmanSandbox::new("podman".into(), "n".into(), limits());
        let dir = std::env::temp_dir();
        let job = job(&dir, 3);
        let name = container_name(&job);
        assert!(name.ends_with("-3"), "names carry the attempt: {name}");
        let args = sandbox.run_args(&job, &name, None, Prepared::command(vec!["true".into()]));
        for expected in [
            "--http-proxy=false",
            "--userns=auto:size=65536",
            "--read-only-tmpfs=false",
            "--shm-size=64m",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
        }
        for mount in [
            "destination=/tmp,tmpfs-size=64m",
            "destination=/run,tmpfs-size=16m",
        ] {
            assert!(
                args.iter().any(|a| a.contains(mount)),
                "{mount} in {args:?}"
            );
        }
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--env-host") || a.starts_with("--env-file")),
            "only the variables set here"
        );
        // In a pod, the pod's namespace applies (the pod is created with the mapping).
        let args = sandbox.run_args(&job, &name, Some("pod"), Prepared::command(vec![]));
        assert!(!args.iter().any(|a| a.starts_with("--userns")), "{args:?}");
    }

    /// A podman that never returns from `run` (and answers everything else at once).
    fn hung_podman(dir: &Path) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("podman");
        std::fs::write(
            &path,
            "#!/bin/sh\nif [ \"$1\" = run ]; then exec sleep 1000; fi\nexit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[tokio::test]
    async fn a_hung_podman_still_ends_the_job_as_a_timeout() {
        let dir = std::env::temp_dir().join(format!("cynode-hung-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut sandbox = PodmanSandbox::new(hung_podman(&dir), "n".into(), limits());
        sandbox.run_grace = Duration::from_secs(1);
        let started = Instant::now();
        let outcome = sandbox
            .run(job(&dir.join("job"), 1), CancellationToken::new())
            .await;
        assert_eq!(outcome.status, JobOutcome::Timeout, "{outcome:?}");
        assert!(
            outcome
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("podman did not return"),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
