//! What a finished `podman run` means for the job: completed, failed (and why, in
//! words), timed out, or canceled.

use std::time::Duration;

use cynode_protocol::status::JobOutcome;

/// Podman reports a container its `--timeout` killed as this exit status.
const PODMAN_TIMEOUT_EXIT: i32 = 255;

/// How a run ended, as the node saw it.
pub(super) struct Ended<'a> {
    pub exit: &'a std::io::Result<std::process::ExitStatus>,
    pub elapsed: Duration,
    pub timeout: Duration,
    /// The node stopped it.
    pub stopped: bool,
    /// Podman did not return; the node killed it.
    pub hung: bool,
    /// For commands: which one failed.
    pub failed_command: Option<u32>,
}

impl Ended<'_> {
    /// The job's status and, for any but success, why in words. `memory` is the limit a
    /// SIGKILL most likely hit.
    pub fn judge(&self, memory: &str) -> (JobOutcome, Option<String>) {
        let exit_code = self.exit.as_ref().ok().and_then(|status| status.code());
        // Podman's timer starts a little after ours, and it reports a timeout kill as
        // exit status 255.
        let timed_out = self.elapsed >= self.timeout
            || (exit_code == Some(PODMAN_TIMEOUT_EXIT)
                && self.elapsed + Duration::from_secs(1) >= self.timeout);
        match exit_code {
            _ if self.stopped => (JobOutcome::Canceled, Some("canceled".to_owned())),
            _ if self.hung => (
                JobOutcome::Timeout,
                Some(format!(
                    "timed out after {}s (podman did not return; the node removed the container)",
                    self.timeout.as_secs()
                )),
            ),
            _ if timed_out => (
                JobOutcome::Timeout,
                Some(format!("timed out after {}s", self.timeout.as_secs())),
            ),
            Some(0) => (JobOutcome::Completed, None),
            Some(125) => (
                JobOutcome::Failed,
                Some("podman could not start the sandbox (see stderr)".to_owned()),
            ),
            Some(137) => (
                JobOutcome::Failed,
                Some(format!(
                    "killed by SIGKILL: the job most likely exceeded its memory limit ({})",
                    memory
                )),
            ),
            Some(code) => (
                JobOutcome::Failed,
                self.failed_command
                    .map(|i| format!("command {i} exited with status {code}")),
            ),
            None => (
                JobOutcome::Failed,
                Some(format!(
                    "podman did not report an exit status: {:?}",
                    self.exit
                )),
            ),
        }
    }
}
