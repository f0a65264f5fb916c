//! Sandboxes started ahead of their jobs, so that a job's start costs no `podman run`
//! (and a prompt's no pod and sidecar either).
//!
//! A warm sandbox is started exactly like a job's (same flags, limits, user namespace,
//! mounts), in the node's default image, with a private directory of its own at `/job`.
//! Its only process is a shell blocked reading the fifo `/job/.start`. To give it a job,
//! the node opens the fifo (which succeeds only once the shell is reading: a sandbox that
//! died or has not got that far is never handed a job), writes the job's files and a
//! launcher into that directory, moves the job's attachments in (a rename), moves a
//! prompt's inference socket into the pod's socket directory (the listening socket keeps
//! working under its new name), and writes one line: the shell sources the launcher,
//! which `exec`s the program. From then on it is the job's sandbox: its streams are
//! captured, the node stops it at the job's timeout (its own `--timeout` counted from
//! before it had a job), and it is removed when the job ends. Every warm sandbox runs
//! exactly one job; nothing of one job can be seen by the next, which is another
//! container with its own tmpfs scratch space, directory and user namespace.
//!
//! Kinds: containers for script and commands jobs in the default image without a model
//! (`sandbox.warm_containers`), and pods with their inference sidecar for jobs with one:
//! prompts, and scripts or commands that ask for a model (`sandbox.warm_pods`; a warm
//! pod's sandbox always has the agent's binary and `/out`, which such a script may ignore).
//! Planned work (a checkout, a worker's disk) and other images start their sandbox as
//! before. A background task refills the pool after each take, two sandboxes at a time,
//! and replaces sandboxes older than [`MAX_IDLE`]; a failing start backs off. The pool's sandboxes are removed when the node
//! stops; a node that is killed leaves them to its next start's orphan removal (they
//! carry the node's label) or to their own `--timeout`.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::pod::PodNames;
use super::run::{Running, Spawned};
use super::{agent_mounts, PodmanSandbox, Prepared, RunSpec};
use crate::sandbox::{Program, SandboxJob, WarmSetup, INFERENCE_SOCKET};

/// How long a warm sandbox waits for a job before it is replaced.
pub const MAX_IDLE: Duration = Duration::from_secs(600);
/// How often the pool looks for sandboxes to replace while it is full.
const RECYCLE_EVERY: Duration = Duration::from_secs(60);
/// How long a job waits for its warm sandbox's shell to be reading its fifo.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many sandboxes the pool starts at once (as many as a node runs jobs by default).
const PARALLEL_STARTS: usize = 2;
/// The longest pause after failed starts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The fifo the waiting shell reads, and the launcher it then sources.
const START_FIFO: &str = ".start";
const LAUNCHER: &str = ".launch";
/// The warm sandbox's only process until it has a job.
const WAITER: &str = "read -r go < /job/.start && . /job/.launch";

/// What a warm sandbox is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WarmKind {
    /// A script or commands job without a model, in the default image.
    Container = 0,
    /// A job with a model (a prompt, or a script that asks for one), in a pod with its
    /// inference sidecar.
    Pod = 1,
}

/// A sandbox waiting for its job.
pub(super) struct WarmSandbox {
    name: String,
    pod: Option<String>,
    /// Mounted read-only at `/job`.
    job_dir: PathBuf,
    /// A pod's socket directory (mounted into its sidecar).
    socket_dir: Option<PathBuf>,
    spawned: Spawned,
    born: Instant,
}

impl WarmSandbox {
    /// Whether it can still take a job: running, and not past [`MAX_IDLE`].
    fn usable(&mut self) -> bool {
        self.born.elapsed() < MAX_IDLE && matches!(self.spawned.child.try_wait(), Ok(None))
    }

    /// Its directories, removed with it.
    fn dirs(&self) -> Vec<PathBuf> {
        std::iter::once(self.job_dir.clone())
            .chain(self.socket_dir.clone())
            .collect()
    }
}

/// Why a warm sandbox did not take its job (the job starts a sandbox of its own).
#[derive(Debug)]
pub struct NotTaken(pub String);

/// The node's warm sandboxes, and the task keeping their number up.
pub(super) struct WarmPool {
    /// Starts and removes them (without a pool of its own).
    sandbox: PodmanSandbox,
    setup: WarmSetup,
    /// How many of each [`WarmKind`] to keep.
    sizes: [usize; 2],
    ready: Mutex<[VecDeque<WarmSandbox>; 2]>,
    wake: Notify,
    stop: CancellationToken,
    filler: Mutex<Option<JoinHandle<()>>>,
}

impl WarmPool {
    /// Starts keeping `sandbox`'s warm sandboxes in `setup.dir`, or `None` when the
    /// configuration asks for none (or the directory cannot be made).
    pub fn start(sandbox: PodmanSandbox, setup: WarmSetup) -> Option<Arc<WarmPool>> {
        let sizes = [
            sandbox.limits.warm.containers as usize,
            if setup.pods.is_some() {
                sandbox.limits.warm.pods as usize
            } else {
                0
            },
        ];
        if sizes == [0, 0] {
            return None;
        }
        // Directories of an earlier run belong to sandboxes the orphan removal removed.
        let _ = std::fs::remove_dir_all(&setup.dir);
        let made = std::fs::create_dir_all(&setup.dir).and_then(|()| {
            std::fs::set_permissions(&setup.dir, std::fs::Permissions::from_mode(0o711))
        });
        if let Err(err) = made {
            tracing::warn!(dir = %setup.dir.display(), error = %err, "no warm sandboxes: cannot make their directory");
            return None;
        }
        tracing::info!(
            containers = sizes[0],
            pods = sizes[1],
            "keeping sandboxes warm"
        );
        let pool = Arc::new(WarmPool {
            sandbox: PodmanSandbox {
                warm: Arc::default(),
                ..sandbox
            },
            setup,
            sizes,
            ready: Mutex::default(),
            wake: Notify::new(),
            stop: CancellationToken::new(),
            filler: Mutex::default(),
        });
        let filler = tokio::spawn(pool.clone().fill());
        *pool.filler.lock().expect("filler lock") = Some(filler);
        Some(pool)
    }

    /// The kind of warm sandbox `job` can run in, if any.
    fn kind_for(&self, job: &SandboxJob) -> Option<WarmKind> {
        let default_image = job
            .image
            .as_deref()
            .is_none_or(|image| image == self.sandbox.limits.image);
        if job.checkout.is_some() || !default_image {
            return None;
        }
        match (&job.program, &job.inference, &self.setup.pods) {
            (Program::Agent { .. }, None, _) => None,
            (_, None, _) => Some(WarmKind::Container),
            (Program::Agent { binary, .. }, Some(_), Some(pods))
                if *binary != pods.agent_binary =>
            {
                None
            }
            (_, Some(access), Some(pods)) if access.proxy_binary == pods.proxy_binary => {
                Some(WarmKind::Pod)
            }
            _ => None,
        }
    }

    /// A usable warm sandbox for `job`, if one is ready; the pool is refilled behind it.
    pub fn take(&self, job: &SandboxJob) -> Option<WarmSandbox> {
        let kind = self.kind_for(job)?;
        if self.stop.is_cancelled() {
            return None;
        }
        let mut taken = None;
        let mut spent = vec![];
        {
            let mut ready = self.ready.lock().expect("warm pool lock");
            while let Some(mut warm) = ready[kind as usize].pop_front() {
                if warm.usable() {
                    taken = Some(warm);
                    break;
                }
                spent.push(warm);
            }
        }
        for warm in spent {
            self.discard_later(warm);
        }
        self.wake.notify_one();
        taken
    }

    /// Removes every warm sandbox and stops refilling; the node is stopping.
    pub async fn close(&self) {
        self.stop.cancel();
        let filler = self.filler.lock().expect("filler lock").take();
        if let Some(filler) = filler {
            // A start in progress (a pod's sidecar can take seconds) is cut short; what
            // it had made is swept below.
            filler.abort();
            let _ = filler.await;
        }
        let all: Vec<WarmSandbox> = {
            let mut ready = self.ready.lock().expect("warm pool lock");
            ready.iter_mut().flat_map(|kind| kind.drain(..)).collect()
        };
        futures_util::future::join_all(all.into_iter().map(|warm| self.sandbox.discard(warm)))
            .await;
        self.sandbox.sweep_warm().await;
        let _ = std::fs::remove_dir_all(&self.setup.dir);
    }

    /// The sandboxes to start next: up to [`PARALLEL_STARTS`] of the kinds short of
    /// their size.
    fn wanted(&self) -> Vec<WarmKind> {
        let ready = self.ready.lock().expect("warm pool lock");
        [WarmKind::Container, WarmKind::Pod]
            .into_iter()
            .flat_map(|kind| {
                let missing = self.sizes[kind as usize].saturating_sub(ready[kind as usize].len());
                std::iter::repeat_n(kind, missing)
            })
            .take(PARALLEL_STARTS)
            .collect()
    }

    /// Takes out sandboxes that died or waited too long.
    fn recycle(&self) {
        let mut spent = vec![];
        {
            let mut ready = self.ready.lock().expect("warm pool lock");
            for kind in ready.iter_mut() {
                let mut keep = VecDeque::new();
                for mut warm in kind.drain(..) {
                    if warm.usable() {
                        keep.push_back(warm);
                    } else {
                        spent.push(warm);
                    }
                }
                *kind = keep;
            }
        }
        for warm in spent {
            self.discard_later(warm);
        }
    }

    /// Removes `warm` in the background (the node waits for it when it stops).
    fn discard_later(&self, warm: WarmSandbox) {
        let sandbox = self.sandbox.clone();
        self.sandbox
            .cleanup
            .spawn(async move { sandbox.discard(warm).await });
    }

    /// Keeps each kind at its size, [`PARALLEL_STARTS`] starts at a time, until the pool
    /// closes.
    async fn fill(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            self.recycle();
            let wanted = self.wanted();
            if wanted.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(RECYCLE_EVERY) => {}
                    _ = self.stop.cancelled() => return,
                }
                continue;
            }
            let starts = wanted
                .iter()
                .map(|kind| self.sandbox.start_warm_sandbox(*kind, &self.setup));
            let started = futures_util::future::join_all(starts).await;
            let mut failed = None;
            for (kind, started) in wanted.into_iter().zip(started) {
                match started {
                    Ok(warm) if self.stop.is_cancelled() => self.sandbox.discard(warm).await,
                    Ok(warm) => {
                        tracing::info!(sandbox = %warm.name, kind = ?kind, "a warm sandbox is ready");
                        self.ready.lock().expect("warm pool lock")[kind as usize].push_back(warm)
                    }
                    Err(err) => failed = Some((kind, err)),
                }
            }
            let Some((kind, err)) = failed else {
                failures = 0;
                continue;
            };
            failures += 1;
            let pause = Duration::from_secs(1 << failures.min(6)).min(MAX_BACKOFF);
            tracing::warn!(kind = ?kind, error = %err, retry_in = ?pause, "could not start a warm sandbox");
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }
}

/// Makes the fifo a warm sandbox's shell waits on: the node's, readable by the sandbox.
fn make_fifo(path: &Path) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c_path` is a valid NUL-terminated path; mkfifo has no other preconditions.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

/// `text` as one shell word.
fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The launcher a warm sandbox's shell sources: the job's variables, then its program.
fn launcher(job: &SandboxJob, command: &[String]) -> String {
    let words: Vec<String> = command.iter().map(|word| shell_word(word)).collect();
    format!(
        "export CYNODE_JOB_ID={}\nexec {}\n",
        shell_word(job.job_id.as_str()),
        words.join(" ")
    )
}

impl PodmanSandbox {
    /// Starts a sandbox of `kind` that waits for its job.
    async fn start_warm_sandbox(
        &self,
        kind: WarmKind,
        setup: &WarmSetup,
    ) -> Result<WarmSandbox, String> {
        let id = cynode_protocol::ids::new_ulid().to_lowercase();
        let name = format!("cynode-warm-{id}");
        let job_dir = setup.dir.join(&id);
        let made = std::fs::create_dir_all(&job_dir)
            .and_then(|()| {
                std::fs::set_permissions(&job_dir, std::fs::Permissions::from_mode(0o755))
            })
            .and_then(|()| make_fifo(&job_dir.join(START_FIFO)));
        if let Err(err) = made {
            let _ = std::fs::remove_dir_all(&job_dir);
            return Err(format!("could not make its directory: {err}"));
        }
        let (pod, socket_dir, mounts) = match (kind, &setup.pods) {
            (WarmKind::Container, _) => (None, None, vec![]),
            (WarmKind::Pod, None) => return Err("this node serves no models".into()),
            (WarmKind::Pod, Some(pods)) => {
                let socket_dir = pods.sockets_dir.join(format!("warm-{id}"));
                let names = PodNames::warm(&id);
                let started = match std::fs::create_dir_all(&socket_dir) {
                    Ok(()) => {
                        self.start_pod(&names, None, &socket_dir, &pods.proxy_binary)
                            .await
                    }
                    Err(err) => Err(format!("could not make its socket directory: {err}")),
                };
                if let Err(err) = started {
                    let _ = std::fs::remove_dir_all(&job_dir);
                    let _ = std::fs::remove_dir_all(&socket_dir);
                    return Err(err);
                }
                (
                    Some(names.pod),
                    Some(socket_dir),
                    agent_mounts(&pods.agent_binary, None),
                )
            }
        };
        // Its own --timeout only backs the node's up: it counts from now.
        let backstop = Duration::from_secs(self.limits.max_timeout_secs) + MAX_IDLE + RECYCLE_EVERY;
        let args = self.run_args(RunSpec {
            name: &name,
            job_id: None,
            pod: pod.as_deref(),
            job_dir: &job_dir,
            checkout: None,
            timeout: backstop,
            image: &self.limits.image,
            prepared: Prepared {
                command: vec!["/bin/sh".into(), "-c".into(), WAITER.into()],
                mounts,
            },
        });
        match self.spawn_run(args) {
            Ok(spawned) => Ok(WarmSandbox {
                name,
                pod,
                job_dir,
                socket_dir,
                spawned,
                born: Instant::now(),
            }),
            Err(err) => {
                if let Some(pod) = &pod {
                    self.remove_pod(pod).await;
                }
                let _ = std::fs::remove_dir_all(&job_dir);
                if let Some(dir) = &socket_dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                Err(err)
            }
        }
    }

    /// Hands `job` to `warm`. `Err(NotTaken)`: it could not (and is removed); the job
    /// starts a sandbox of its own. A failure after the sandbox took the job is the job's.
    pub(super) async fn start_warm(
        &self,
        job: &SandboxJob,
        mut warm: WarmSandbox,
    ) -> Result<Result<Running, String>, NotTaken> {
        let start = match wait_for_reader(&warm.job_dir.join(START_FIFO), &mut warm).await {
            Ok(start) => start,
            Err(reason) => {
                self.discard(warm).await;
                return Err(NotTaken(reason));
            }
        };
        match self.hand_over(job, &warm, start) {
            Ok(()) => {
                tracing::info!(sandbox = %warm.name, "the job runs in a warm sandbox");
                let dirs = warm.dirs();
                Ok(Ok(Running {
                    name: warm.name,
                    pod: warm.pod,
                    started: warm.spawned.capture(job),
                    clock: Instant::now(),
                    node_timeout: true,
                    dirs,
                }))
            }
            Err(err) => {
                self.discard(warm).await;
                Ok(Err(format!(
                    "could not hand the job to its warm sandbox: {err}"
                )))
            }
        }
    }

    /// Writes the job into the warm sandbox's directory and lets its shell go on.
    fn hand_over(
        &self,
        job: &SandboxJob,
        warm: &WarmSandbox,
        start: std::fs::File,
    ) -> std::io::Result<()> {
        use std::io::Write;
        let prepared = self.prepare(job, &warm.job_dir)?;
        std::fs::write(
            warm.job_dir.join(LAUNCHER),
            launcher(job, &prepared.command),
        )?;
        let attachments = job.job_dir.join("attachments");
        if attachments.exists() {
            std::fs::rename(&attachments, warm.job_dir.join("attachments"))?;
        }
        if let (Some(access), Some(socket_dir)) = (&job.inference, &warm.socket_dir) {
            std::fs::rename(
                access.socket_dir.join(INFERENCE_SOCKET),
                socket_dir.join(INFERENCE_SOCKET),
            )?;
        }
        let mut start = start;
        start.write_all(b"go\n")
    }

    /// Removes a warm sandbox (its pod and directories too) and reaps its `podman run`.
    async fn discard(&self, warm: WarmSandbox) {
        let WarmSandbox {
            name,
            pod,
            job_dir,
            socket_dir,
            mut spawned,
            ..
        } = warm;
        self.remove(&name).await;
        // Its `podman run --rm` removes the container too as it exits; the pod goes after.
        let _ = tokio::time::timeout(Duration::from_secs(10), spawned.child.wait()).await;
        if let Some(pod) = &pod {
            self.remove_pod(pod).await;
        }
        let _ = std::fs::remove_dir_all(&job_dir);
        if let Some(dir) = &socket_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl PodmanSandbox {
    /// Removes whatever warm sandbox of this node is left (one a start cut short made).
    async fn sweep_warm(&self) {
        for name in self.warm_names(false).await {
            self.remove(&name).await;
        }
        for pod in self.warm_names(true).await {
            self.remove_pod(&pod).await;
        }
    }

    /// The names of this node's warm containers (or pods).
    async fn warm_names(&self, pods: bool) -> Vec<String> {
        let args: &[&str] = if pods {
            &[
                "pod",
                "ps",
                "--filter",
                "label=cynode.warm=true",
                "--format",
                r#"{{.Name}} {{index .Labels "cynode.node"}}"#,
            ]
        } else {
            &[
                "ps",
                "--all",
                "--filter",
                "label=cynode.warm=true",
                "--format",
                r#"{{.Names}} {{index .Labels "cynode.node"}}"#,
            ]
        };
        let Ok(out) = self.podman(args).await else {
            return vec![];
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(_, node)| *node == self.node_name)
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

/// Opens the warm sandbox's fifo for writing, which succeeds only while its shell is
/// reading it; waits for that (a sandbox still starting) up to [`READY_TIMEOUT`].
async fn wait_for_reader(fifo: &Path, warm: &mut WarmSandbox) -> Result<std::fs::File, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(file) => return Ok(file),
            // No reader yet.
            Err(err) if err.raw_os_error() == Some(libc::ENXIO) => {}
            Err(err) => return Err(format!("could not open its fifo: {err}")),
        }
        if !matches!(warm.spawned.child.try_wait(), Ok(None)) {
            return Err("it is no longer running".into());
        }
        if Instant::now() > deadline {
            return Err("its shell was not waiting in time".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_quotes_every_word() {
        let job = SandboxJob {
            job_id: cynode_protocol::ids::JobId::generate(),
            attempt: 1,
            image: None,
            program: Program::Commands(vec![]),
            job_dir: PathBuf::from("/nowhere"),
            timeout: Duration::from_secs(1),
            inference: None,
            checkout: None,
            progress: Default::default(),
            log: Default::default(),
        };
        let text = launcher(&job, &["/bin/sh".into(), "/job/it's".into()]);
        assert_eq!(
            text,
            format!(
                "export CYNODE_JOB_ID='{}'\nexec '/bin/sh' '/job/it'\\''s'\n",
                job.job_id
            )
        );
    }
}
