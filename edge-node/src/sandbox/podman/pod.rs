//! A job that needs a model runs in a pod of its own (network `none`) beside the
//! inference proxy sidecar, which listens on localhost inside the pod and reaches the
//! node only through the job's unix socket (mounted into the sidecar only).

use std::time::{Duration, Instant};

use super::{PodmanSandbox, SANDBOX_USER, USERNS};
use crate::sandbox::{InferenceAccess, SandboxJob};

/// Where the proxy binary appears inside the sidecar (bind-mounted read-only).
const PROXY_PATH: &str = "/opt/cynode/bin/cynode-inference-proxy";
/// The file the sidecar creates in its socket directory once it listens.
const PROXY_READY_FILE: &str = "proxy.ready";
const SIDECAR_READY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn pod_name(job: &SandboxJob) -> String {
    format!("cynode-pod-{}-{}", job.job_id, job.attempt)
}

pub(super) fn sidecar_name(job: &SandboxJob) -> String {
    format!("cynode-proxy-{}-{}", job.job_id, job.attempt)
}

impl PodmanSandbox {
    /// Creates the job's pod (network `none`) with the proxy sidecar listening inside it,
    /// and waits until the sidecar is ready. Returns the pod's name.
    pub(super) async fn start_pod(
        &self,
        job: &SandboxJob,
        access: &InferenceAccess,
    ) -> Result<String, String> {
        let pod = pod_name(job);
        let node_label = format!("--label=cynode.node={}", self.node_name);
        let job_label = format!("--label=cynode.job={}", job.job_id);
        self.remove_pod(&pod).await;
        let created = self
            .podman(&[
                "pod",
                "create",
                "--name",
                &pod,
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
        let ready = access.socket_dir.join(PROXY_READY_FILE);
        let _ = std::fs::remove_file(&ready);
        let sidecar = format!("--name={}", sidecar_name(job));
        let pod_arg = format!("--pod={pod}");
        // `U`: the sidecar's user writes its ready file there.
        let socket_mount = format!("--volume={}:/run/cynode:rw,U", access.socket_dir.display());
        let binary_mount = format!("--volume={}:{PROXY_PATH}:ro", access.proxy_binary.display());
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
            self.remove_pod(&pod).await;
            return Err(format!(
                "could not start the inference proxy: {}",
                String::from_utf8_lossy(&started.stderr).trim()
            ));
        }
        let deadline = Instant::now() + SIDECAR_READY_TIMEOUT;
        while !ready.exists() {
            if Instant::now() > deadline {
                self.remove_pod(&pod).await;
                return Err("the inference proxy did not start listening in time".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(pod)
    }

    pub(super) async fn remove_pod(&self, pod: &str) {
        let _ = self
            .podman(&["pod", "rm", "--force", "--ignore", pod])
            .await;
    }
}
