//! The agent's life: check Podman, clean up after an earlier crash, register, apply the
//! configuration, then long-poll the queues and run jobs in a fixed number of slots until
//! SIGTERM; then stop taking jobs, give running ones a grace period, and hand the rest
//! back to the queue for other nodes (a stopping node never ends a user's task).
//!
//! A node with a model server polls two queues, each with its own slots: sandbox jobs,
//! and jobs that need a model. The second only while the endpoint serves a model; its
//! model list is re-read periodically and changes are reported to the gateway.

use cynode_protocol::wire::ErrorCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use tokio_util::task::TaskTracker;

use cynode_protocol::wire::{
    CapabilityReport, ConfigAck, NodeConfig, NodeRegistration, RegisterNodeRequest,
};

use crate::capabilities;
use crate::config::EdgeConfig;
use crate::credentials::GatewayCredentials;
use crate::gateway::{GatewayClient, GatewayError, Identity, SharedIdentity};
use crate::inference::forwarder::Forwarder;
use crate::inference::NodeInference;
use crate::outage::{Backoff, Outage};
use crate::queue::{NodeQueue, NodeQueues, QueueKind, SqsQueue};
use crate::runner::Runner;
use crate::sandbox::podman::PodmanSandbox;
use crate::sandbox::Sandbox;
use crate::spool::Spool;

/// SQS long-poll wait.
const RECEIVE_WAIT_SECS: u32 = 20;
/// How long to wait for stopped jobs to be handed back after the grace period.
const CANCEL_REPORT_SECS: u64 = 30;

/// Fires `stop_taking` on the first SIGTERM or SIGINT.
fn watch_signals(stop_taking: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::error!(error = %err, "cannot watch SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: no new jobs; finishing running ones"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: no new jobs; finishing running ones"),
        }
        stop_taking.cancel();
    });
}

async fn register(
    gateway: &GatewayClient,
    request: &RegisterNodeRequest,
    stop: &CancellationToken,
) -> anyhow::Result<NodeRegistration> {
    let mut wait = Duration::from_secs(1);
    loop {
        match gateway.register(request).await {
            Ok(registration) => return Ok(registration),
            Err(err) if !err.is_transient() => {
                anyhow::bail!("the gateway refused to register this node: {err}")
            }
            Err(err) => tracing::warn!(error = %err, retry_in = ?wait, "cannot register yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = stop.cancelled() => anyhow::bail!("stopped before registering"),
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

async fn acknowledge(
    gateway: &GatewayClient,
    me: &Identity,
    config: &NodeConfig,
) -> Result<(), GatewayError> {
    let ack = ConfigAck {
        config_version: config.config_version.clone(),
        applied: true,
        error: None,
    };
    gateway.acknowledge(me, &ack).await?;
    tracing::info!(config_version = %config.config_version, "configuration applied");
    Ok(())
}

/// Registers again when the gateway no longer knows this node (its tables were reset):
/// the same request as at start, with the secret on disk.
struct Registrar {
    gateway: GatewayClient,
    request: RegisterNodeRequest,
    state_dir: std::path::PathBuf,
}

impl Registrar {
    /// Registers (retrying while the gateway is unreachable), saves the issued secret.
    async fn register(&self, stop: &CancellationToken) -> anyhow::Result<NodeRegistration> {
        let request = RegisterNodeRequest {
            node_secret: read_node_secret(&self.state_dir)?,
            ..self.request.clone()
        };
        let registration = register(&self.gateway, &request, stop).await?;
        save_node_secret(&self.state_dir, &registration.node_secret)
            .context("saving the node secret the gateway issued")?;
        Ok(registration)
    }

    async fn register_again(
        &self,
        me: &SharedIdentity,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let registration = self.register(stop).await?;
        let identity = Identity {
            node_id: registration.node_id.clone(),
            node_key: registration.node_key.clone(),
        };
        acknowledge(&self.gateway, &identity, &registration.config).await?;
        tracing::warn!(node_id = %identity.node_id, "the gateway had forgotten this node; registered again");
        me.set(identity);
        Ok(())
    }
}

/// Polls for configuration changes; applies and acknowledges newer versions.
fn poll_config(
    gateway: GatewayClient,
    me: SharedIdentity,
    every: Duration,
    tx: watch::Sender<NodeConfig>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {},
                _ = stop.cancelled() => return,
            }
            let identity = me.get();
            match gateway.config(&identity).await {
                Ok(config) if config.config_version > tx.borrow().config_version => {
                    if let Err(err) = acknowledge(&gateway, &identity, &config).await {
                        tracing::warn!(error = %err, "could not acknowledge the new configuration");
                        continue;
                    }
                    let _ = tx.send(config);
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "could not fetch the configuration"),
            }
        }
    });
}

/// Where the node keeps the secret its last registration issued (0600, in the 0700
/// state directory): it proves this machine is the node of that name next time.
fn node_secret_path(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("node-secret")
}

fn read_node_secret(state_dir: &std::path::Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(node_secret_path(state_dir)) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|s| !s.is_empty())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).context("reading the node secret"),
    }
}

/// Temp file (0600), fsync, rename: a crash leaves the old secret or the new one.
fn save_node_secret(state_dir: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = node_secret_path(state_dir);
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(secret.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(state_dir)?.sync_all()
}

fn prepare_state_dir(config: &EdgeConfig) -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let state = &config.state_dir;
    std::fs::create_dir_all(state)
        .with_context(|| format!("creating state directory {}", state.display()))?;
    std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o700))?;
    let jobs = state.join("jobs");
    // Job directories of an earlier run are scratch space of sandboxes that are gone.
    let _ = std::fs::remove_dir_all(&jobs);
    std::fs::create_dir_all(&jobs)?;
    std::fs::set_permissions(&jobs, std::fs::Permissions::from_mode(0o711))?;
    Ok(jobs)
}

/// Re-reads the endpoint's models every `every`; reports a change to the gateway and to
/// the inference poller (which stops taking model jobs while the node serves none).
fn refresh_models(
    gateway: GatewayClient,
    me: SharedIdentity,
    mut report: CapabilityReport,
    endpoint: String,
    every: Duration,
    models: watch::Sender<Vec<String>>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut reported = report.inference.clone();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {},
                _ = stop.cancelled() => return,
            }
            let status = crate::inference::models::probe(&endpoint).await;
            report.inference = Some(status.clone());
            let now = report.models().to_vec();
            models.send_if_modified(|known| {
                let changed = *known != now;
                if changed {
                    tracing::info!(models = ?now, "the inference endpoint's models changed");
                    *known = now;
                }
                changed
            });
            if reported.as_ref() != Some(&status) {
                match gateway.report_capabilities(&me.get(), &report).await {
                    Ok(_) => reported = Some(status),
                    Err(err) => tracing::warn!(error = %err, "could not report capabilities"),
                }
            }
        }
    });
}

/// While the gateway is marked down, probes it with backoff and jitter (a signed call,
/// so the store behind it is checked too). When it answers, results on disk go out
/// first; receiving resumes once none is left. A gateway that no longer knows this node
/// gets it registered again.
fn watch_gateway(runner: Arc<Runner>, registrar: Registrar, stop: CancellationToken) {
    tokio::spawn(async move {
        while runner.outage.wait_down(&stop).await {
            let mut backoff = Backoff::default();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_wait()) => {},
                    _ = stop.cancelled() => return,
                }
                match runner.gateway.config(&runner.identity.get()).await {
                    Ok(_) => {
                        runner.resend_pending().await;
                        if runner.spool.pending().is_empty() {
                            runner.outage.recovered();
                            break;
                        }
                    }
                    Err(err)
                        if matches!(
                            err.code(),
                            Some(ErrorCode::UnknownNode | ErrorCode::NodeRevoked)
                        ) =>
                    {
                        if let Err(err) = registrar.register_again(&runner.identity, &stop).await {
                            tracing::error!(error = %err, "could not register again");
                        }
                    }
                    Err(err) => tracing::info!(error = %err, "the gateway is still unreachable"),
                }
            }
        }
    });
}

/// Receives from one queue into its own slots until `stop_taking`. With `models`, it
/// receives only while the node serves at least one model.
async fn poll_queue(
    queue: Arc<dyn NodeQueue>,
    slots: Arc<Semaphore>,
    runner: Arc<Runner>,
    running: TaskTracker,
    stop_taking: CancellationToken,
    cancel_all: CancellationToken,
    mut models: Option<watch::Receiver<Vec<String>>>,
) {
    loop {
        if let Some(models) = models.as_mut() {
            while models.borrow_and_update().is_empty() {
                tokio::select! {
                    changed = models.changed() => if changed.is_err() { return },
                    _ = stop_taking.cancelled() => return,
                }
            }
        }
        // Nothing is received while the gateway is down: each receive would use up a
        // delivery of a job that cannot be claimed.
        if !runner.outage.wait_up(&stop_taking).await {
            return;
        }
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("semaphore never closes"),
            _ = stop_taking.cancelled() => return,
        };
        let free = 1 + slots.available_permits() as u32;
        let received = tokio::select! {
            received = queue.receive(free, RECEIVE_WAIT_SECS) => received,
            _ = stop_taking.cancelled() => return,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(error = %err, "cannot receive jobs; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {},
                    _ = stop_taking.cancelled() => return,
                }
                continue;
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match slots.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        // More messages than slots: hand this one back at once.
                        let _ = queue.hide_for(&message.receipt, 0).await;
                        continue;
                    }
                },
            };
            let runner = runner.clone();
            let cancel_all = cancel_all.clone();
            running.spawn(async move {
                runner.handle(message, cancel_all).await;
                drop(permit);
            });
        }
    }
}

pub async fn run(config: EdgeConfig) -> anyhow::Result<()> {
    let sandbox = PodmanSandbox::new(
        config.podman.clone(),
        config.node_name.clone(),
        config.sandbox.clone(),
    );
    let podman = sandbox.check().await?;
    let removed = sandbox.remove_orphans().await?;
    // Job disks a crash left mounted, before their directories are removed.
    crate::sandbox::disk::unmount_leftovers(&config.state_dir.join("jobs")).await;
    let jobs_dir = prepare_state_dir(&config)?;
    let spool = Arc::new(Spool::open(&config.state_dir)?);
    let boot_id = cynode_protocol::ids::new_ulid();
    if config.inference_url.is_some() {
        for helper in ["cynode-inference-proxy", "cynode-prompt-agent"] {
            let path = config.helpers_dir.join(helper);
            anyhow::ensure!(
                path.is_file(),
                "{} is missing: model jobs need it (set helpers_dir, or inference_url = \"\" for a node without models)",
                path.display()
            );
        }
    }
    tracing::info!(node = %config.node_name, podman = %podman.version, removed_orphans = removed, %boot_id, "starting");

    let stop_taking = CancellationToken::new();
    watch_signals(stop_taking.clone());

    let gateway = GatewayClient::new(&config.gateway_url)?;
    let report = capabilities::collect(&config, &podman).await;
    if let Some(status) = &report.inference {
        tracing::info!(endpoint = %status.endpoint, reachable = status.reachable, models = ?status.models, "inference endpoint");
    }
    let (models_tx, models_rx) = watch::channel(report.models().to_vec());
    let registrar = Registrar {
        gateway: gateway.clone(),
        request: RegisterNodeRequest {
            pre_shared_key: config.pre_shared_key.clone(),
            node_name: config.node_name.clone(),
            capabilities: report.clone(),
            node_secret: None,
        },
        state_dir: config.state_dir.clone(),
    };
    let registration = registrar.register(&stop_taking).await?;
    let me = Identity {
        node_id: registration.node_id.clone(),
        node_key: registration.node_key.clone(),
    };
    tracing::info!(node_id = %me.node_id, "registered");
    acknowledge(&gateway, &me, &registration.config).await?;
    let me = SharedIdentity::new(me);
    let issued = registration.credentials.clone();
    let queue_url = registration.config.queue_url.clone();
    let inference_queue_url = registration.config.inference_queue_url.clone();
    let (config_tx, config_rx) = watch::channel(registration.config);
    poll_config(
        gateway.clone(),
        me.clone(),
        config.config_poll,
        config_tx,
        stop_taking.clone(),
    );

    // Long polls wait up to 20 s; past 30 s the queue is not answering.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(60))
        .build();
    let mut aws =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
    match issued {
        Some(first) => {
            tracing::info!(expires_at = %first.expires_at, "using the gateway's queue credentials");
            aws = aws
                .credentials_provider(GatewayCredentials::new(gateway.clone(), me.clone(), first))
                .identity_cache(
                    aws_config::identity::IdentityCache::lazy()
                        .buffer_time(crate::credentials::RENEW_BEFORE)
                        .build(),
                );
        }
        None => tracing::warn!(
            "the gateway issues no queue credentials; using this machine's own AWS credentials"
        ),
    }
    let aws = aws.load().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let jobs_queue: Arc<dyn NodeQueue> =
        Arc::new(SqsQueue::new(sqs.clone(), queue_url, QueueKind::Jobs));
    let (inference, inference_queue) = match (&config.inference_url, inference_queue_url) {
        (Some(endpoint), Some(url)) => {
            refresh_models(
                gateway.clone(),
                me.clone(),
                report,
                endpoint.clone(),
                config.inference.capabilities_poll,
                models_tx,
                stop_taking.clone(),
            );
            let node = NodeInference {
                forwarder: Forwarder::new(endpoint, config.inference.limits.clone())?,
                settings: config.inference.clone(),
                helpers_dir: config.helpers_dir.clone(),
                sockets_dir: crate::inference::sockets_dir(&config.node_name)
                    .context("creating the directory for jobs' inference sockets")?,
                models: models_rx.clone(),
            };
            let queue: Arc<dyn NodeQueue> = Arc::new(SqsQueue::new(sqs, url, QueueKind::Inference));
            (Some(Arc::new(node)), Some(queue))
        }
        (Some(_), None) => {
            tracing::warn!("the gateway has no inference queue; this node takes no model jobs");
            (None, None)
        }
        (None, _) => (None, None),
    };
    let sandbox: Arc<dyn Sandbox> = Arc::new(sandbox);
    let runner = Arc::new(Runner::new(
        gateway,
        me,
        NodeQueues {
            jobs: jobs_queue.clone(),
            inference: inference_queue.clone(),
        },
        sandbox,
        spool,
        boot_id,
        config.sandbox.clone(),
        jobs_dir,
        config_rx,
        inference,
        Outage::default(),
        config.remotes.clone(),
    ));

    // Results a crash left on disk go out first, then every few seconds while any remain.
    {
        let runner = runner.clone();
        let stop = stop_taking.clone();
        tokio::spawn(async move {
            loop {
                runner.resend_pending().await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {},
                    _ = stop.cancelled() => return,
                }
            }
        });
    }

    let cancel_all = CancellationToken::new();
    let running = TaskTracker::new();
    let mut pollers = JoinSet::new();
    tracing::info!(slots = config.job_slots, "waiting for jobs");
    watch_gateway(runner.clone(), registrar, stop_taking.clone());
    pollers.spawn(poll_queue(
        jobs_queue,
        Arc::new(Semaphore::new(config.job_slots as usize)),
        runner.clone(),
        running.clone(),
        stop_taking.clone(),
        cancel_all.clone(),
        None,
    ));
    if let Some(queue) = inference_queue {
        tracing::info!(
            slots = config.job_slots,
            "waiting for model jobs while a model is served"
        );
        pollers.spawn(poll_queue(
            queue,
            Arc::new(Semaphore::new(config.job_slots as usize)),
            runner.clone(),
            running.clone(),
            stop_taking.clone(),
            cancel_all.clone(),
            Some(models_rx),
        ));
    }
    while pollers.join_next().await.is_some() {}

    running.close();
    let busy = running.len();
    if busy > 0 {
        tracing::info!(busy, grace = ?config.shutdown_grace, "waiting for running jobs");
        if tokio::time::timeout(config.shutdown_grace, running.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                still_running = running.len(),
                "grace period over; handing the remaining jobs back"
            );
            cancel_all.cancel();
            if tokio::time::timeout(Duration::from_secs(CANCEL_REPORT_SECS), running.wait())
                .await
                .is_err()
            {
                tracing::error!(
                    "some jobs were not handed back in time; they are taken over when their leases run out"
                );
            }
        }
    }
    runner.resend_pending().await;
    tracing::info!("stopped");
    Ok(())
}
