//! A job that needs a model runs in a pod of its own (network `none`) beside the
//! inference proxy sidecar, which listens on localhost inside the pod and reaches the
//! node only through the job's unix socket (mounted into the sidecar only).

use std::path::Path;
use std::time::{Duration, Instant};

use cynode_protocol::ids::JobId;

use super::{PodmanSandbox, SANDBOX_USER, USERNS};
use crate::sandbox::SandboxJob;

/// Where the proxy binary appears inside the sidecar (bind-mounted read-only).
const PROXY_PATH: &str = "/opt/cynode/bin/cynode-inference-proxy";
/// The file the sidecar creates in its socket directory once it listens.
const PROXY_READY_FILE: &str = "proxy.ready";
const SIDECAR_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The names of a pod and its sidecar.
pub(super) struct PodNames {
    pub pod: String,
    pub sidecar: String,
}

impl PodNames {
    /// A job's own pod.
    pub fn of_job(job: &SandboxJob) -> Self {
        Self {
            pod: format!("cynode-pod-{}-{}", job.job_id, job.attempt),
            sidecar: format!("cynode-proxy-{}-{}", job.job_id, job.attempt),
        }
    }

    /// A warm pod, started before its job is known.
    pub fn warm(id: &str) -> Self {
        Self {
            pod: format!("cynode-warm-pod-{id}"),
            sidecar: format!("cynode-warm-proxy-{id}"),
        }
    }
}

impl PodmanSandbox {
    /// Creates a pod (network `none`) with the proxy sidecar listening inside it, reaching
    /// out only through `socket_dir`, and waits until the sidecar is ready. `job`: the job
    /// it is for, `None` for a warm pod.
    pub(super) async fn start_pod(
        &self,
        names: &PodNames,
        job: Option<&JobId>,
        socket_dir: &Path,
        proxy_binary: &Path,
    ) -> Result<(), String> {
        let pod = &names.pod;
        let node_label = format!("--label=cynode.node={}", self.node_name);
        let job_label = match job {
            Some(job) => format!("--label=cynode.job={job}"),
            None => "--label=cynode.warm=true".to_owned(),
        };
        self.remove_pod(pod).await;
        let created = self
            .podman(&[
                "pod",
                "create",
                "--name",
                pod,
                "--network=none",
                USERNS,
                &node_label,
                &job_label,
            ])
            .await
            .map_err(|err| format!("could not run podman: {err}"))?;
        if !created.status.success() {
            return Err(format!(
                "could not create the job's pod: {}",
                String::from_utf8_lossy(&created.stderr).trim()
            ));
        }
        let ready = socket_dir.join(PROXY_READY_FILE);
        let _ = std::fs::remove_file(&ready);
        let sidecar = format!("--name={}", names.sidecar);
        let pod_arg = format!("--pod={pod}");
        // `U`: the sidecar's user writes its ready file there.
        let socket_mount = format!("--volume={}:/run/cynode:rw,U", socket_dir.display());
        let binary_mount = format!("--volume={}:{PROXY_PATH}:ro", proxy_binary.display());
        let ready_env = format!("--env=CYNODE_PROXY_READY_FILE=/run/cynode/{PROXY_READY_FILE}");
        let started = self
            .podman(&[
                "run",
                "--detach",
                // No --rm: its cleanup would race the pod's removal (seconds lost).
                "--pull=never",
                &sidecar,
                &pod_arg,
                &node_label,
                &job_label,
                "--cap-drop=ALL",
                "--security-opt=no-new-privileges",
                "--http-proxy=false",
                &format!("--user={SANDBOX_USER}"),
                "--read-only",
                "--memory=64m",
                "--pids-limit=64",
                "--log-driver=none",
                &socket_mount,
                &binary_mount,
                &ready_env,
                &self.limits.image,
                PROXY_PATH,
            ])
            .await
            .map_err(|err| format!("could not run podman: {err}"))?;
        if !started.status.success() {
            self.remove_pod(pod).await;
            return Err(format!(
                "could not start the inference proxy: {}",
                String::from_utf8_lossy(&started.stderr).trim()
            ));
        }
        let deadline = Instant::now() + SIDECAR_READY_TIMEOUT;
        while !ready.exists() {
            if Instant::now() > deadline {
                self.remove_pod(pod).await;
                return Err("the inference proxy did not start listening in time".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Removes a pod at once (SIGKILL: nothing in it needs a graceful stop). A container
    /// of it still being removed by its own `podman run --rm` can make the removal fail
    /// half-way (the pod stays, empty): it is tried again.
    pub(super) async fn remove_pod(&self, pod: &str) {
        for _ in 0..3 {
            let _ = self
                .podman(&["pod", "rm", "--force", "--ignore", "--time=0", pod])
                .await;
            let exists = self.podman(&["pod", "exists", pod]).await;
            if !exists.is_ok_and(|out| out.status.success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!(pod, "could not remove the pod");
    }
}
