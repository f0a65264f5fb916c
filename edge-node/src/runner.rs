//! One job delivery, end to end: claim it from the gateway, keep it alive (heartbeats and
//! queue visibility) while the sandbox runs it, record the result on disk, report it, and
//! only then delete the message.

use cynode_protocol::wire::ErrorCode;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use cynode_protocol::limits::MAX_ATTACHMENT_BYTES;
use cynode_protocol::plan::WorkReport;
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{
    AgentAssignment, ChatMessage, ClaimDecision, HeartbeatRequest, InputMode, JobChunkRequest,
    JobClaim, JobMessage, JobReleaseRequest, JobResultReport, JobStartedRequest, NodeConfig,
    OutputStream, OutputUploadRequest,
};

use crate::config::SandboxLimits;
use crate::gateway::{GatewayClient, GatewayError, SharedIdentity};
use crate::inference::direct::{self, ChunkSink, DirectChat};
use crate::inference::NodeInference;
use crate::outage::Outage;
use crate::prompt_agent::{AgentJob, AgentRole};
use crate::queue::{NodeQueues, QueueKind, Received};
use crate::sandbox::output::LastLine;
use crate::sandbox::{Checkout, InferenceAccess, Program, Sandbox, SandboxJob, SandboxOutcome};
use crate::spool::{raw_path, PendingResult, Spool};
use crate::workspace::policy::RemotePolicy;
use crate::workspace::{PullRequestText, Workspace, WorkspaceLimits};

/// The agent's instructions for a planner or worker assignment.
fn assign(job: &mut AgentJob, assignment: &AgentAssignment) {
    job.workdir = Some("/repo".into());
    let retry_note = |error: &Option<String>| match error {
        Some(error) => format!("\n\nThe previous attempt failed: {error}"),
        None => String::new(),
    };
    match (assignment.role.as_str(), &assignment.subtask) {
        ("work", Some(subtask)) => {
            job.role = AgentRole::Work;
            job.test_command = assignment.test_command.clone();
            job.commit_subject = Some(format!("cyn-{}: {}", subtask.number, subtask.title));
            let tests = match &assignment.test_command {
                Some(test) => format!("\n\nThis command must pass when you are done: {test}"),
                None => String::new(),
            };
            job.prompt = format!(
                "Subtask {}: {}\n\nSpec:\n{}\n\nAcceptance criteria:\n{}{tests}{}",
                subtask.number,
                subtask.title,
                subtask.spec,
                subtask.acceptance,
                retry_note(&assignment.previous_error)
            );
        }
        _ => {
            job.role = AgentRole::Plan;
            job.prompt = format!(
                "Feature request:\n{}{}",
                job.prompt,
                retry_note(&assignment.previous_error)
            );
        }
    }
}

/// The outcome of a job that failed before its sandbox ran (bad input, no model…).
fn failed_before_running(error: String, started_at: time::OffsetDateTime) -> SandboxOutcome {
    SandboxOutcome {
        status: cynode_protocol::status::JobOutcome::Failed,
        exit_code: None,
        failed_command: None,
        error: Some(error),
        stdout: String::new(),
        stderr: String::new(),
        truncated: Default::default(),
        raw: Default::default(),
        started_at,
        ended_at: time::OffsetDateTime::now_utc(),
    }
}

/// A conversation as one prompt for the agent: the last message alone when it is the
/// only one, else the exchange so far and the question to answer.
fn conversation_prompt(messages: &[ChatMessage]) -> String {
    match messages {
        [] => String::new(),
        [only] => only.content.clone(),
        [earlier @ .., last] => {
            let mut text = String::from("The conversation so far:\n");
            for message in earlier {
                text.push_str(&format!("{}: {}\n", message.role, message.content));
            }
            text.push_str(&format!(
                "\nAnswer this {} message:\n{}",
                last.role, last.content
            ));
            text
        }
    }
}

/// Sends a chat job's text to the gateway as chunks of the current claim.
struct GatewaySink<'a> {
    runner: &'a Runner,
    message: &'a JobMessage,
    claim: &'a JobClaim,
}

#[async_trait::async_trait]
impl ChunkSink for GatewaySink<'_> {
    async fn send(&self, seq: u32, text: String) -> Result<(), String> {
        let request = JobChunkRequest {
            task_id: self.message.task_id.clone(),
            attempt: self.claim.attempt,
            lease_id: self.claim.lease_id.clone(),
            seq,
            text,
        };
        // A chunk is retried a few times; a lost one would leave a gap in the stream.
        let mut wait = Duration::from_millis(100);
        for attempt in 1..=4 {
            match self
                .runner
                .gateway
                .chunk(
                    &self.runner.identity.get(),
                    &self.message.job_id,
                    &self.claim.job_token,
                    &request,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) if !err.is_transient() || attempt == 4 => {
                    return Err(format!("could not stream the answer: {err}"))
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// What a running job and its keeper share: why the sandbox was stopped (set by the
/// keeper), and what the job last said it is doing (read by the keeper's heartbeats).
#[derive(Default)]
struct StopFlags {
    /// Its user canceled the task.
    user_canceled: AtomicBool,
    /// The node is being drained: hand the job back.
    release: AtomicBool,
    /// Another attempt owns the job now.
    superseded: AtomicBool,
    /// The last line of the job's stderr.
    progress: LastLine,
}

/// How one try at delivering a result ended.
enum Sent {
    Stored,
    /// Another attempt owns the job now; this result is moot.
    Superseded,
    /// The gateway will never take it.
    Refused(GatewayError),
    /// Not delivered yet; the resender tries again.
    Later,
}

/// Seconds a message for a model or image this node does not offer stays hidden from it.
const NOT_SERVED_RETRY_SECS: u32 = 5;

/// Seconds a message stays hidden when its job cannot be claimed right now.
const RETRY_LATER_SECS: u32 = 10;
/// Quick delivery tries before leaving a result to the background resender.
const QUICK_DELIVERY_TRIES: u32 = 3;

pub struct Runner {
    pub gateway: GatewayClient,
    pub identity: SharedIdentity,
    pub queues: NodeQueues,
    pub sandbox: Arc<dyn Sandbox>,
    pub spool: Arc<Spool>,
    pub boot_id: String,
    pub limits: SandboxLimits,
    pub jobs_dir: PathBuf,
    pub config: watch::Receiver<NodeConfig>,
    /// The node's models, when it has an inference endpoint.
    pub inference: Option<Arc<NodeInference>>,
    /// Whether the gateway answers; failures to reach it pause receiving.
    pub outage: Outage,
    /// Where planned work's repositories and forges may be (the node's `[remotes]`).
    pub remotes: RemotePolicy,
    /// Spool files being delivered right now (by a runner or the resender).
    delivering: Mutex<HashSet<PathBuf>>,
}

impl Runner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gateway: GatewayClient,
        identity: SharedIdentity,
        queues: NodeQueues,
        sandbox: Arc<dyn Sandbox>,
        spool: Arc<Spool>,
        boot_id: String,
        limits: SandboxLimits,
        jobs_dir: PathBuf,
        config: watch::Receiver<NodeConfig>,
        inference: Option<Arc<NodeInference>>,
        outage: Outage,
        remotes: RemotePolicy,
    ) -> Self {
        Self {
            gateway,
            identity,
            queues,
            sandbox,
            spool,
            boot_id,
            limits,
            jobs_dir,
            config,
            inference,
            outage,
            remotes,
            delivering: Mutex::new(HashSet::new()),
        }
    }

    /// Handles one delivery. `cancel_all` fires when the agent stops waiting for jobs at
    /// shutdown: the job is then stopped and reported `canceled`.
    pub async fn handle(&self, received: Received, cancel_all: CancellationToken) {
        let message: JobMessage = match serde_json::from_str(&received.body) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(error = %err, "dropping a queue message that is not a job");
                self.delete(received.queue, &received.receipt).await;
                return;
            }
        };
        if let Some(model) = &message.model {
            let served = self
                .inference
                .as_ref()
                .is_some_and(|node| node.models.borrow().contains(model));
            if !served {
                // Not ours to claim: back on the queue for a node that serves it.
                tracing::info!(job_id = %message.job_id, %model, "this node does not serve the job's model; leaving it");
                self.hide(received.queue, &received.receipt, NOT_SERVED_RETRY_SECS)
                    .await;
                return;
            }
        }
        if let Some(image) = &message.image {
            if self.limits.image_for(Some(image)).is_none() {
                tracing::info!(job_id = %message.job_id, %image, "this node does not allow the job's image; leaving it");
                self.hide(received.queue, &received.receipt, NOT_SERVED_RETRY_SECS)
                    .await;
                return;
            }
        }
        let span = tracing::info_span!("job", job_id = %message.job_id, task_id = %message.task_id);
        self.claim_and_run(message, received, cancel_all)
            .instrument(span)
            .await
    }

    async fn claim_and_run(
        &self,
        message: JobMessage,
        received: Received,
        cancel_all: CancellationToken,
    ) {
        let request = JobStartedRequest {
            task_id: message.task_id.clone(),
            boot_id: self.boot_id.clone(),
            receive_count: received.receive_count,
        };
        match self
            .gateway
            .started(&self.identity.get(), &message.job_id, &request)
            .await
        {
            Ok(ClaimDecision::Run(claim)) => self.run(message, *claim, received, cancel_all).await,
            Ok(ClaimDecision::Discard { status }) => {
                tracing::info!(%status, "job already ended; dropping its message");
                self.delete(received.queue, &received.receipt).await;
            }
            Ok(ClaimDecision::NotNow {
                reason,
                retry_after_secs,
            }) => {
                tracing::warn!(%reason, retry_after_secs, "the gateway says this node may not take jobs now; leaving the job to others");
                self.outage
                    .pause(Duration::from_secs(retry_after_secs.clamp(1, 3600)));
                self.hide(received.queue, &received.receipt, 0).await;
            }
            Ok(ClaimDecision::Elsewhere {
                reason,
                retry_after_secs,
            }) => {
                tracing::info!(%reason, retry_after_secs, "the job is not for this node; leaving it to others");
                self.hide(
                    received.queue,
                    &received.receipt,
                    retry_after_secs.clamp(1, 3600) as u32,
                )
                .await;
            }
            Ok(ClaimDecision::Retry { retry_after_secs }) => {
                tracing::info!(retry_after_secs, "job is claimed elsewhere; leaving it");
                self.hide(
                    received.queue,
                    &received.receipt,
                    retry_after_secs.clamp(1, 3600) as u32,
                )
                .await;
            }
            Err(err) => {
                self.outage.failed(&err);
                tracing::warn!(error = %err, receive_count = received.receive_count, "could not claim the job; it will come back");
                self.hide(received.queue, &received.receipt, RETRY_LATER_SECS)
                    .await;
            }
        }
    }

    async fn run(
        &self,
        message: JobMessage,
        claim: JobClaim,
        received: Received,
        cancel_all: CancellationToken,
    ) {
        let config = self.config.borrow().clone();
        let timeout = self
            .limits
            .timeout_for(claim.spec.timeout_secs, config.max_timeout_secs);
        tracing::info!(
            attempt = claim.attempt,
            timeout_secs = timeout.as_secs(),
            "running"
        );
        let stop = cancel_all.child_token();
        let flags = Arc::new(StopFlags::default());
        let keeper = self.keep_alive(
            &message,
            &claim,
            &received,
            &config,
            stop.clone(),
            flags.clone(),
        );
        let job_dir = self
            .jobs_dir
            .join(format!("{}-{}", message.job_id, claim.attempt));

        // The job's inference socket, on nodes with models (see NodeInference::sockets_dir).
        let proxy_dir = self.inference.as_ref().map(|node| {
            node.sockets_dir
                .join(format!("{}-{}", message.job_id, claim.attempt))
        });
        let workspace_dir = self
            .jobs_dir
            .join(format!("{}-{}-workspace", message.job_id, claim.attempt));
        let mut workspace = None;
        let mut work = None;
        let run = async {
            let inference = self.inference.as_deref();
            let no_models = || "this node serves no models, and the job needs one".to_owned();
            // A chat with a model: the node asks the model itself and streams the text on.
            if let (false, Some(model)) = (claim.spec.messages.is_empty(), &claim.spec.model) {
                let node = inference.ok_or_else(no_models)?;
                node.model_for(Some(model))?;
                let sink = GatewaySink {
                    runner: self,
                    message: &message,
                    claim: &claim,
                };
                let chat = DirectChat {
                    model,
                    messages: &claim.spec.messages,
                    max_tokens: claim.spec.max_tokens,
                    temperature: claim.spec.temperature,
                };
                let (outcome, usage) = direct::answer(
                    node.forwarder.http(),
                    node.forwarder.upstream(),
                    chat,
                    &sink,
                    timeout,
                    stop.clone(),
                )
                .await;
                return Ok((outcome, Some(usage)));
            }
            let mut program = match claim.spec.mode {
                InputMode::Script => Program::Script(claim.spec.script.clone().unwrap_or_default()),
                InputMode::Commands => Program::Commands(claim.spec.commands.clone()),
                InputMode::Prompt => {
                    let node = inference.ok_or_else(no_models)?;
                    let prompt = match &claim.spec.prompt {
                        Some(prompt) => prompt.clone(),
                        None => conversation_prompt(&claim.spec.messages),
                    };
                    let mut job = AgentJob {
                        model: node.model_for(claim.spec.model.as_deref())?,
                        max_steps: node.settings.agent_max_steps,
                        command_timeout_secs: 60,
                        max_tokens: 256,
                        role: AgentRole::Answer,
                        workdir: None,
                        test_command: None,
                        commit_subject: None,
                        base_commit: None,
                        prompt,
                    };
                    if let Some(assignment) = &claim.spec.agent {
                        assign(&mut job, assignment);
                    }
                    Program::Agent {
                        job,
                        binary: node.helper("cynode-prompt-agent"),
                    }
                }
            };
            // Planned work: the node clones the repository (with the credential, which
            // stays out of the sandbox) and mounts a copy at /repo.
            if let Some(assignment) = &claim.spec.agent {
                let limits = WorkspaceLimits {
                    disk_bytes: self.limits.disk_bytes,
                    max_change_bytes: self.limits.max_change_bytes,
                };
                let prepared =
                    Workspace::prepare(&workspace_dir, assignment, &self.remotes, limits).await?;
                // A worker hands its commits back as a bundle of what follows this one.
                if let (Program::Agent { job, .. }, true) =
                    (&mut program, prepared.sandbox_out().is_some())
                {
                    job.base_commit = Some(prepared.base_commit().to_owned());
                }
                workspace = Some(prepared);
            }
            // Jobs that need a model get the pod's way to it: a socket served here.
            let mut proxy = None;
            let access = if claim.spec.inference {
                let (node, proxy_dir) = inference.zip(proxy_dir.as_ref()).ok_or_else(no_models)?;
                if let Some(model) = claim.spec.model.as_deref() {
                    node.model_for(Some(model))?;
                }
                std::fs::create_dir_all(proxy_dir)
                    .map_err(|err| format!("creating the proxy directory: {err}"))?;
                proxy = Some(
                    node.forwarder
                        .serve(
                            &proxy_dir.join("inference.sock"),
                            message.job_id.clone(),
                            node.models.clone(),
                        )
                        .map_err(|err| format!("opening the job's inference socket: {err}"))?,
                );
                Some(InferenceAccess {
                    socket_dir: proxy_dir.clone(),
                    proxy_binary: node.helper("cynode-inference-proxy"),
                })
            } else {
                None
            };
            self.fetch_attachments(&claim, &job_dir).await?;
            let image = match claim.spec.image.as_deref() {
                None => None,
                Some(named) => Some(
                    self.limits
                        .image_for(Some(named))
                        .ok_or_else(|| format!("this node does not allow the image '{named}'"))?
                        .to_owned(),
                ),
            };
            let job = SandboxJob {
                job_id: message.job_id.clone(),
                attempt: claim.attempt,
                image,
                program,
                job_dir: job_dir.clone(),
                timeout,
                inference: access,
                progress: flags.progress.clone(),
                checkout: workspace.as_ref().map(|ws| Checkout {
                    path: ws.sandbox_checkout().to_owned(),
                    out: ws.sandbox_out(),
                }),
            };
            let mut outcome = self.sandbox.run(job, stop.clone()).await;
            if let (Some(assignment), Some(ws)) = (&claim.spec.agent, &workspace) {
                work = self.after_agent(assignment, ws, &mut outcome).await;
            }
            let usage = match proxy {
                Some(proxy) => Some(proxy.finish().await),
                None => None,
            };
            Ok((outcome, usage))
        };
        let started_at = time::OffsetDateTime::now_utc();
        let outcome = tokio::select! {
            outcome = run => outcome,
            never = keeper => match never {},
        };
        if let Some(dir) = &proxy_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = std::fs::remove_dir_all(&job_dir);
        if let Some(workspace) = workspace.take() {
            workspace.release().await;
        }
        let _ = std::fs::remove_dir_all(&workspace_dir);
        if flags.superseded.load(Ordering::SeqCst) {
            tracing::warn!("another attempt took the job over; not reporting this one");
            return;
        }
        let (outcome, usage) =
            outcome.unwrap_or_else(|error| (failed_before_running(error, started_at), None));
        // Stopped because the node is going away (shutdown past its grace period, or an
        // operator's drain), not by its user: hand it back so another node runs it.
        let draining = flags.release.load(Ordering::SeqCst) || cancel_all.is_cancelled();
        if outcome.status == JobOutcome::Canceled
            && draining
            && !flags.user_canceled.load(Ordering::SeqCst)
        {
            let reason = if flags.release.load(Ordering::SeqCst) {
                "its node is being drained"
            } else {
                "its node shut down before the job finished"
            };
            self.hand_back(&message, &claim, &received, reason).await;
            return;
        }
        tracing::info!(status = outcome.status.as_str(), exit_code = ?outcome.exit_code, "finished");
        let pending = PendingResult {
            job_id: message.job_id.clone(),
            job_token: claim.job_token.clone(),
            receipt: received.receipt,
            queue: received.queue,
            report: JobResultReport {
                task_id: message.task_id.clone(),
                attempt: claim.attempt,
                lease_id: claim.lease_id.clone(),
                status: outcome.status,
                exit_code: outcome.exit_code,
                failed_command: outcome.failed_command,
                error: outcome.error,
                stdout: outcome.stdout,
                stderr: outcome.stderr,
                truncated: outcome.truncated,
                raw: outcome.raw.announced(),
                started_at: outcome.started_at,
                ended_at: outcome.ended_at,
                usage,
                work,
            },
        };
        match self.spool.store(&pending, &outcome.raw) {
            Ok(path) => self.deliver(&path, &pending, QUICK_DELIVERY_TRIES).await,
            Err(err) => {
                tracing::error!(error = %err, "could not record the result on disk; sending it anyway");
                self.send(None, &pending, QUICK_DELIVERY_TRIES).await;
            }
        }
    }

    /// After a planner or worker: a worker's finished change is pushed and proposed; a
    /// failed agent's reason is its last words (the sandbox's exit code says little).
    async fn after_agent(
        &self,
        assignment: &AgentAssignment,
        workspace: &Workspace,
        outcome: &mut SandboxOutcome,
    ) -> Option<WorkReport> {
        if let Some(size) = workspace.disk_full() {
            tracing::warn!(disk_bytes = size, "the worker filled its disk");
            outcome.status = JobOutcome::Failed;
            outcome.error = Some(format!(
                "disk_quota_exceeded: the job filled its disk of {} MiB",
                size >> 20
            ));
            return None;
        }
        if outcome.status == JobOutcome::Completed && assignment.role == "work" {
            let subtask = assignment.subtask.as_ref();
            let text = PullRequestText {
                title: subtask.map_or_else(|| "CyNode change".to_owned(), |s| s.title.clone()),
                body: format!(
                    "{}\n\n{}\n\n_Built by a CyNode worker agent._",
                    subtask.map(|s| s.spec.as_str()).unwrap_or_default(),
                    outcome.stdout.trim()
                ),
            };
            match workspace.publish(assignment, text).await {
                Ok(report) => {
                    tracing::info!(branch = %report.branch, commit = %report.commit, "pushed the worker's branch");
                    return Some(report);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not publish the worker's change");
                    outcome.status = JobOutcome::Failed;
                    outcome.error = Some(err);
                }
            }
        }
        if outcome.status == JobOutcome::Failed && outcome.error.is_none() {
            outcome.error = outcome
                .stderr
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .map(|line| {
                    line.trim_start_matches("cynode-prompt-agent: ")
                        .chars()
                        .take(300)
                        .collect()
                });
        }
        None
    }

    /// Gives the job back to the queue unfinished: the gateway queues it again, and the
    /// message becomes visible at once for another node. If the gateway cannot be told,
    /// the lease runs out and the message comes back by itself; nothing is lost.
    async fn hand_back(
        &self,
        message: &JobMessage,
        claim: &JobClaim,
        received: &Received,
        reason: &str,
    ) {
        let request = JobReleaseRequest {
            task_id: message.task_id.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            reason: reason.to_owned(),
        };
        match self
            .gateway
            .release(
                &self.identity.get(),
                &message.job_id,
                &claim.job_token,
                &request,
            )
            .await
        {
            Ok(()) => {
                tracing::info!(reason, "handed the job back for another node");
                self.hide(received.queue, &received.receipt, 0).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not hand the job back; it is taken over when its lease runs out")
            }
        }
    }

    /// Heartbeats the claim and keeps the message hidden until dropped. Stops the job if
    /// the user canceled it, the node is drained, or another attempt superseded this one.
    fn keep_alive(
        &self,
        message: &JobMessage,
        claim: &JobClaim,
        received: &Received,
        config: &NodeConfig,
        stop: CancellationToken,
        flags: Arc<StopFlags>,
    ) -> impl std::future::Future<Output = std::convert::Infallible> + '_ {
        let interval = Duration::from_secs(config.heartbeat_interval_secs.max(1));
        let hide_secs = (config.lease_secs + config.heartbeat_interval_secs) as u32;
        let job = message.job_id.clone();
        let token = claim.job_token.clone();
        let (queue, receipt) = (received.queue, received.receipt.clone());
        let mut beat = HeartbeatRequest {
            task_id: message.task_id.clone(),
            attempt: claim.attempt,
            lease_id: claim.lease_id.clone(),
            progress: None,
        };
        async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                self.hide(queue, &receipt, hide_secs).await;
                beat.progress = flags.progress.get();
                match self
                    .gateway
                    .heartbeat(&self.identity.get(), &job, &token, &beat)
                    .await
                {
                    Ok(answer) if answer.canceled && !stop.is_cancelled() => {
                        tracing::info!("canceled by its owner; stopping the sandbox");
                        flags.user_canceled.store(true, Ordering::SeqCst);
                        stop.cancel();
                    }
                    Ok(answer) if answer.release && !stop.is_cancelled() => {
                        tracing::info!(
                            "this node is being drained; stopping the job to hand it back"
                        );
                        flags.release.store(true, Ordering::SeqCst);
                        stop.cancel();
                    }
                    Ok(_) => {}
                    Err(err) if err.code() == Some(ErrorCode::StaleAttempt) => {
                        flags.superseded.store(true, Ordering::SeqCst);
                        stop.cancel();
                    }
                    // An admin revoked this node: its work is not wanted; stop, report
                    // nothing (the job runs again elsewhere once its lease runs out).
                    Err(err) if err.code() == Some(ErrorCode::NodeRevoked) => {
                        tracing::error!(error = %err, "this node was revoked; stopping the job");
                        self.outage.failed(&err);
                        flags.superseded.store(true, Ordering::SeqCst);
                        stop.cancel();
                    }
                    Err(err) => {
                        self.outage.failed(&err);
                        tracing::warn!(error = %err, "heartbeat failed");
                    }
                }
            }
        }
    }

    async fn fetch_attachments(&self, claim: &JobClaim, job_dir: &Path) -> Result<(), String> {
        if claim.spec.attachments.is_empty() {
            return Ok(());
        }
        let dir = job_dir.join("attachments");
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("creating the attachments directory: {err}"))?;
        for attachment in &claim.spec.attachments {
            // Names were checked by the gateway; check again before touching the disk.
            if attachment.name.contains('/') || attachment.name == ".." || attachment.name == "." {
                return Err(format!("refusing attachment name '{}'", attachment.name));
            }
            let limit = attachment.size.min(MAX_ATTACHMENT_BYTES);
            self.gateway
                .download(&attachment.url, &dir.join(&attachment.name), limit)
                .await
                .map_err(|err| format!("downloading attachment '{}': {err}", attachment.name))?;
        }
        Ok(())
    }

    /// Sends a spooled result, removing it once the gateway has stored it.
    pub async fn deliver(&self, path: &Path, pending: &PendingResult, tries: u32) {
        if !self
            .delivering
            .lock()
            .expect("lock")
            .insert(path.to_owned())
        {
            return; // someone else is on it
        }
        self.send(Some(path), pending, tries).await;
        self.delivering.lock().expect("lock").remove(path);
    }

    async fn send(&self, path: Option<&Path>, pending: &PendingResult, tries: u32) {
        let err = match self.try_send(path, pending, tries).await {
            Sent::Stored | Sent::Superseded => {
                if let Some(path) = path {
                    self.spool.remove(path);
                }
                return;
            }
            Sent::Later => return,
            Sent::Refused(err) => err,
        };
        // The job must still end: keep the refused result for inspection, and report a
        // failure the gateway accepts instead.
        tracing::error!(job_id = %pending.job_id, error = %err, path = ?path, "the gateway refused the result; reporting the job failed (the result is kept as .rejected)");
        if let Some(path) = path {
            let _ = std::fs::rename(path, path.with_extension("rejected"));
        }
        let fallback = pending.refused(&err);
        match self.try_send(None, &fallback, tries).await {
            Sent::Stored | Sent::Superseded => {}
            Sent::Refused(err) => {
                tracing::error!(job_id = %pending.job_id, error = %err, "the gateway refused the failure report too")
            }
            Sent::Later => {
                if let Err(err) = self.spool.replace(&fallback) {
                    tracing::error!(job_id = %pending.job_id, error = %err, "could not record the failure report on disk");
                }
            }
        }
    }

    /// Uploads the raw copies the result announces, then sends the result.
    async fn try_send(&self, path: Option<&Path>, pending: &PendingResult, tries: u32) -> Sent {
        let mut last = None;
        for attempt in 1..=tries {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt - 1))).await;
            }
            let sent = match self.upload_raw(path, pending).await {
                Ok(report) => {
                    self.gateway
                        .result(
                            &self.identity.get(),
                            &pending.job_id,
                            &pending.job_token,
                            &report,
                        )
                        .await
                }
                Err(err) => Err(err),
            };
            match sent {
                Ok(ack) => {
                    tracing::info!(job_id = %pending.job_id, duplicate = ack.duplicate, "result stored");
                    self.delete(pending.queue, &pending.receipt).await;
                    return Sent::Stored;
                }
                Err(err) if err.code() == Some(ErrorCode::StaleAttempt) => {
                    tracing::warn!(job_id = %pending.job_id, "result belongs to a superseded attempt; dropping it");
                    return Sent::Superseded;
                }
                Err(err) if !err.is_transient() => return Sent::Refused(err),
                Err(err) => {
                    tracing::warn!(job_id = %pending.job_id, error = %err, attempt, "could not deliver the result yet");
                    last = Some(err);
                }
            }
        }
        if let Some(err) = last {
            self.outage.failed(&err);
        }
        Sent::Later
    }

    /// Uploads each raw copy beside the spooled result; returns the report to send (which
    /// no longer announces a copy that is missing on disk).
    async fn upload_raw(
        &self,
        path: Option<&Path>,
        pending: &PendingResult,
    ) -> Result<JobResultReport, GatewayError> {
        let mut report = pending.report.clone();
        for stream in OutputStream::ALL {
            let Some(announced) = report.raw.get(stream) else {
                continue;
            };
            let bytes = path.and_then(|path| std::fs::read(raw_path(path, stream)).ok());
            let Some(bytes) = bytes.filter(|b| b.len() as u64 == announced.size) else {
                tracing::warn!(job_id = %pending.job_id, stream = stream.as_str(), "the raw output is gone from disk; sending the preview only");
                report.raw.set(stream, None);
                continue;
            };
            let request = OutputUploadRequest {
                task_id: report.task_id.clone(),
                attempt: report.attempt,
                lease_id: report.lease_id.clone(),
                stream,
                size: announced.size,
            };
            let url = self
                .gateway
                .output_upload_url(
                    &self.identity.get(),
                    &pending.job_id,
                    &pending.job_token,
                    &request,
                )
                .await?;
            self.gateway.upload(&url.url, bytes).await?;
        }
        Ok(report)
    }

    /// Re-sends every result still on disk (after a restart, or after the gateway was down).
    pub async fn resend_pending(&self) {
        for (path, pending) in self.spool.pending() {
            self.deliver(&path, &pending, 1).await;
        }
    }

    async fn delete(&self, queue: QueueKind, receipt: &str) {
        let Some(queue) = self.queues.get(queue) else {
            return;
        };
        if let Err(err) = queue.delete(receipt).await {
            // A stale receipt (the agent restarted): the redelivered message is discarded
            // when its claim finds the job finished.
            tracing::info!(error = %err, "could not delete the message; it will be discarded on redelivery");
        }
    }

    async fn hide(&self, queue: QueueKind, receipt: &str, secs: u32) {
        let Some(queue) = self.queues.get(queue) else {
            return;
        };
        if let Err(err) = queue.hide_for(receipt, secs).await {
            tracing::warn!(error = %err, "could not change the message's visibility");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cynode_protocol::wire::{Credential, SubtaskBrief};

    fn agent_job() -> AgentJob {
        AgentJob {
            prompt: "Add a README".into(),
            model: "m".into(),
            max_steps: 8,
            command_timeout_secs: 60,
            max_tokens: 256,
            role: AgentRole::Answer,
            workdir: None,
            test_command: None,
            commit_subject: None,
            base_commit: None,
        }
    }

    fn assignment(role: &str) -> AgentAssignment {
        AgentAssignment {
            role: role.into(),
            repo_url: "file:///srv/widgets.git".into(),
            default_branch: "main".into(),
            credential: Some(Credential("tok-never-in-a-prompt".into())),
            subtask: (role == "work").then(|| SubtaskBrief {
                number: 2,
                title: "Write notes".into(),
                spec: "Create NOTES.md".into(),
                acceptance: "NOTES.md says hello".into(),
            }),
            branch: Some("cyn-2-write-notes-abc123".into()),
            test_command: Some("make test".into()),
            forge: None,
            previous_error: Some("the tests failed (exit 1): make test".into()),
        }
    }

    #[test]
    fn a_planner_gets_the_request_and_why_its_last_plan_was_refused() {
        let mut job = agent_job();
        assign(&mut job, &assignment("plan"));
        assert_eq!(job.role, AgentRole::Plan);
        assert_eq!(job.workdir.as_deref(), Some("/repo"));
        assert!(job.prompt.starts_with("Feature request:\nAdd a README"));
        assert!(job
            .prompt
            .ends_with("The previous attempt failed: the tests failed (exit 1): make test"));
        assert_eq!(job.test_command, None);
    }

    #[test]
    fn a_worker_gets_its_subtask_tests_and_commit_subject_and_never_the_credential() {
        let mut job = agent_job();
        assign(&mut job, &assignment("work"));
        assert_eq!(job.role, AgentRole::Work);
        assert_eq!(job.test_command.as_deref(), Some("make test"));
        assert_eq!(job.commit_subject.as_deref(), Some("cyn-2: Write notes"));
        for part in [
            "Subtask 2: Write notes",
            "Create NOTES.md",
            "NOTES.md says hello",
            "must pass when you are done: make test",
        ] {
            assert!(job.prompt.contains(part), "{part}: {}", job.prompt);
        }
        let written = serde_json::to_string(&job).unwrap();
        assert!(
            !written.contains("tok-never-in-a-prompt"),
            "the job file the sandbox reads"
        );
    }
}
