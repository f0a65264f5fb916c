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
//! - a few sandboxes are started ahead of their jobs ([`warm`]), exactly as above but
//!   waiting for their program; each runs one job and is then removed.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use cynode_protocol::ids::JobId;

mod exit;
mod pod;
mod run;
pub mod warm;

use crate::config::SandboxLimits;
use crate::sandbox::{Checkout, Program, Sandbox, SandboxJob, SandboxOutcome, WarmSetup};
use warm::WarmPool;

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

#[derive(Clone)]
pub struct PodmanSandbox {
    podman: String,
    node_name: String,
    limits: SandboxLimits,
    /// How long past the job's timeout `podman run` may take (see [`RUN_DEADLINE_GRACE`]).
    run_grace: Duration,
    /// Sandboxes started ahead of their jobs, once [`Sandbox::start_warm_pool`] ran.
    warm: Arc<OnceLock<Arc<WarmPool>>>,
    /// Removals of finished sandboxes, done after their job's outcome is handed on (the
    /// node waits for them when it stops).
    cleanup: TaskTracker,
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

/// One `podman run` of a sandbox.
struct RunSpec<'a> {
    name: &'a str,
    /// The job it runs; `None` for a warm sandbox, started before its job is known.
    job_id: Option<&'a JobId>,
    pod: Option<&'a str>,
    /// Mounted read-only at `/job`.
    job_dir: &'a Path,
    checkout: Option<&'a Checkout>,
    /// Podman's own `--timeout`.
    timeout: Duration,
    image: &'a str,
    prepared: Prepared,
}

impl Prepared {
    fn command(command: Vec<String>) -> Self {
        Self {
            command,
            mounts: vec![],
        }
    }
}

impl PodmanSandbox {
    pub fn new(podman: String, node_name: String, limits: SandboxLimits) -> Self {
        Self {
            podman,
            node_name,
            limits,
            run_grace: RUN_DEADLINE_GRACE,
            warm: Arc::default(),
            cleanup: TaskTracker::new(),
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

    /// Writes the program into `dir` (the job's directory, or a warm sandbox's); returns
    /// the command to run in the box and the extra mounts it needs.
    fn prepare(&self, job: &SandboxJob, dir: &Path) -> std::io::Result<Prepared> {
        use std::os::unix::fs::PermissionsExt;
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
                Prepared {
                    command: vec![AGENT_PATH.into()],
                    mounts: agent_mounts(
                        binary,
                        job.checkout.as_ref().and_then(|c| c.out.as_deref()),
                    ),
                }
            }
        })
    }

    fn run_args(&self, spec: RunSpec) -> Vec<String> {
        let limits = &self.limits;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--pull=never".into(),
            format!("--name={}", spec.name),
            format!("--label=cynode.node={}", self.node_name),
            match spec.job_id {
                Some(job_id) => format!("--label=cynode.job={job_id}"),
                None => "--label=cynode.warm=true".into(),
            },
        ];
        match spec.pod {
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
            format!("--volume={}:/job:ro", spec.job_dir.display()),
        ]);
        if let Some(checkout) = spec.checkout {
            // `U`: the checkout is the job's user's (git refuses a repository of another).
            let mode = if checkout.out.is_some() { "rw" } else { "ro" };
            args.push(format!(
                "--volume={}:/repo:{mode},U",
                checkout.path.display()
            ));
        }
        args.extend(spec.prepared.mounts);
        args.extend([
            "--workdir=/workspace".into(),
            "--env=HOME=/workspace".into(),
        ]);
        if let Some(job_id) = spec.job_id {
            args.push(format!("--env=CYNODE_JOB_ID={job_id}"));
        }
        args.extend([
            format!("--memory={}", limits.memory),
            format!("--memory-swap={}", limits.memory),
            format!("--cpus={}", limits.cpus),
            format!("--pids-limit={}", limits.pids),
            format!("--timeout={}", spec.timeout.as_secs().max(1)),
            "--log-driver=none".into(),
            "--preserve-fds=1".into(),
            spec.image.to_owned(),
        ]);
        args.extend(spec.prepared.command);
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

    /// Removes a container at once (SIGKILL: a job's PID 1 shell ignores SIGTERM, which
    /// would hold `rm` for Podman's 10 s).
    async fn remove(&self, name: &str) {
        let _ = self
            .podman(&["rm", "--force", "--ignore", "--time=0", name])
            .await;
    }
}

/// The agent's mounts: its binary, read-only, and its `/out` for the result, on the
/// job's disk for a worker (`out`: its change goes there), else in memory.
fn agent_mounts(binary: &Path, out: Option<&Path>) -> Vec<String> {
    vec![
        format!("--volume={}:{AGENT_PATH}:ro", binary.display()),
        match out {
            Some(out) => format!("--volume={}:/out:rw,U", out.display()),
            None => format!("--mount=type=tmpfs,destination=/out,tmpfs-size={OUT_SIZE},U=true"),
        },
    ]
}

#[async_trait]
impl Sandbox for PodmanSandbox {
    async fn run(&self, job: SandboxJob, stop: CancellationToken) -> SandboxOutcome {
        let started_at = time::OffsetDateTime::now_utc();
        let warm = self.warm.get().and_then(|pool| pool.take(&job));
        let running = match warm {
            Some(warm) => match self.start_warm(&job, warm).await {
                Ok(running) => running,
                // It never got the job: start one the usual way.
                Err(warm::NotTaken(reason)) => {
                    tracing::warn!(reason = %reason, "a warm sandbox could not take the job; starting a new one");
                    self.start_cold(&job).await
                }
            },
            None => self.start_cold(&job).await,
        };
        match running {
            Ok(running) => self.finish(&job, running, stop, started_at).await,
            Err(err) => SandboxOutcome::failed(err, started_at),
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
        // A `podman run` of the earlier run may still be exiting and removing its own
        // container, which makes a pod's removal fail: look again, a few times.
        for pass in 0..3 {
            let pods = self
                .podman(&["pod", "ps", "--filter", &filter, "--format", "{{.Name}}"])
                .await?;
            let pods = String::from_utf8_lossy(&pods.stdout).into_owned();
            if pods.trim().is_empty() {
                break;
            }
            if pass > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            for pod in pods.lines() {
                tracing::warn!(pod = %pod, "removing a pod left by an earlier run");
                self.remove_pod(pod).await;
            }
        }
        Ok(names.len())
    }

    fn start_warm_pool(&self, setup: WarmSetup) {
        if self.warm.get().is_some() {
            return;
        }
        if let Some(pool) = WarmPool::start(self.clone(), setup) {
            let _ = self.warm.set(pool);
        }
    }

    async fn close(&self) {
        if let Some(pool) = self.warm.get() {
            pool.close().await;
        }
        self.cleanup.close();
        if tokio::time::timeout(Duration::from_secs(30), self.cleanup.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sandboxes were not removed in time; the next start removes them");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Program;
    use cynode_protocol::ids::JobId;
    use cynode_protocol::status::JobOutcome;
    use std::time::Instant;

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
            max_log_bytes: 1 << 20,
            default_timeout_secs: 60,
            max_timeout_secs: 60,
            warm: Default::default(),
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
            log: Default::default(),
        }
    }

    #[test]
    fn the_sandbox_gets_no_host_environment_a_user_namespace_and_sized_scratch_space() {
        let sandbox = PodmanSandbox::new("podman".into(), "n".into(), limits());
        let dir = std::env::temp_dir();
        let job = job(&dir, 3);
        let name = container_name(&job);
        assert!(name.ends_with("-3"), "names carry the attempt: {name}");
        let args = sandbox.run_args(spec(&job, &name, None, Some(&job.job_id)));
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
        let args = sandbox.run_args(spec(&job, &name, Some("pod"), Some(&job.job_id)));
        assert!(!args.iter().any(|a| a.starts_with("--userns")), "{args:?}");
    }

    fn spec<'a>(
        job: &'a SandboxJob,
        name: &'a str,
        pod: Option<&'a str>,
        job_id: Option<&'a JobId>,
    ) -> RunSpec<'a> {
        RunSpec {
            name,
            job_id,
            pod,
            job_dir: &job.job_dir,
            checkout: None,
            timeout: job.timeout,
            image: "localhost/cynode-sandbox:latest",
            prepared: Prepared::command(vec!["true".into()]),
        }
    }

    #[test]
    fn a_warm_sandbox_starts_with_the_same_confinement_and_nothing_of_a_job() {
        let sandbox = PodmanSandbox::new("podman".into(), "n".into(), limits());
        let job = job(&std::env::temp_dir(), 1);
        let cold = sandbox.run_args(spec(&job, "x", None, Some(&job.job_id)));
        let warm = sandbox.run_args(spec(&job, "x", None, None));
        let job_specific = |arg: &String| arg.contains(job.job_id.as_str());
        let cold_rest: Vec<&String> = cold.iter().filter(|a| !job_specific(a)).collect();
        let warm_rest: Vec<&String> = warm
            .iter()
            .filter(|a| a.as_str() != "--label=cynode.warm=true")
            .collect();
        assert_eq!(cold_rest, warm_rest);
        assert!(!warm.iter().any(job_specific), "{warm:?}");
        assert!(
            warm.iter().any(|a| a == "--label=cynode.node=n"),
            "{warm:?}"
        );
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
