//! The agent's life: clean up after an earlier crash, register, apply the configuration,
//! then long-poll the queues and run jobs in a fixed number of slots until `shutdown`
//! fires; then stop taking jobs, give running ones a grace period, and hand the rest back
//! to the queue for other nodes (a stopping node never ends a user's task).
//!
//! A node with a model server polls two queues, each with its own slots: sandbox jobs,
//! and jobs that need a model. The second only while the endpoint serves a model; its
//! model list is re-read periodically and changes are reported to the gateway.
//!
//! [`run`] takes its parts as values ([`Parts`]: the gateway, the queues, the sandbox and
//! the spool, as trait objects) and its shutdown as a future, so `main` gives it the
//! real ones and the in-process tests give it fakes. Every loop it starts is awaited
//! before it returns.

mod loops;
mod registration;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use cynode_protocol::wire::{CapabilityReport, RegisterNodeRequest};

use crate::config::EdgeConfig;
use crate::gateway::{Gateway, Identity, SharedIdentity};
use crate::inference::forwarder::Forwarder;
use crate::inference::hosted::HostedModels;
use crate::inference::NodeInference;
use crate::job::{JobRunner, RunnerSetup};
use crate::outage::Outage;
use crate::queue::{NodeQueues, QueueConnector};
use crate::sandbox::{Sandbox, WarmPods, WarmSetup};
use crate::spool::ResultSpool;
use loops::Poller;
use registration::{acknowledge, Registrar};

/// How long to wait for stopped jobs to be handed back after the grace period.
const CANCEL_REPORT_SECS: u64 = 30;

/// What the agent works with.
pub struct Parts {
    pub gateway: Arc<dyn Gateway>,
    /// Opens the queues its registration names.
    pub queues: Arc<dyn QueueConnector>,
    pub sandbox: Arc<dyn Sandbox>,
    pub spool: Arc<dyn ResultSpool>,
    /// What this node offers, as first reported.
    pub capabilities: CapabilityReport,
}

/// The agent's background loops: all stop together, and all are awaited.
struct Loops {
    set: JoinSet<()>,
    stop: CancellationToken,
}

impl Loops {
    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.set.spawn(task);
    }

    async fn finish(mut self) {
        self.stop.cancel();
        while let Some(ended) = self.set.join_next().await {
            if let Err(err) = ended {
                tracing::error!(error = %err, "a background loop failed");
            }
        }
    }
}

/// Runs the agent until `shutdown` fires (or registration fails for good).
pub async fn run(
    config: EdgeConfig,
    parts: Parts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop_taking = CancellationToken::new();
    let mut loops = Loops {
        set: JoinSet::new(),
        stop: CancellationToken::new(),
    };
    {
        let (stop_taking, stop) = (stop_taking.clone(), loops.stop.clone());
        loops.spawn(async move {
            tokio::select! {
                _ = shutdown => {
                    tracing::info!("stopping: no new jobs; finishing running ones");
                    stop_taking.cancel();
                }
                _ = stop.cancelled() => {}
            }
        });
    }
    let sandbox = parts.sandbox.clone();
    let served = serve(&config, parts, &stop_taking, &mut loops).await;
    loops.finish().await;
    sandbox.close().await;
    if served.is_ok() {
        tracing::info!("stopped");
    }
    served
}

/// Everything between start and the last job handed back.
async fn serve(
    config: &EdgeConfig,
    parts: Parts,
    stop_taking: &CancellationToken,
    loops: &mut Loops,
) -> anyhow::Result<()> {
    let removed = parts.sandbox.remove_orphans().await?;
    // Job disks a crash left mounted, before their directories are removed.
    crate::sandbox::disk::unmount_leftovers(&config.state_dir.join("jobs")).await;
    let jobs_dir = prepare_state_dir(config)?;
    let boot_id = cynode_protocol::ids::new_ulid();
    check_helpers(config)?;
    tracing::info!(node = %config.node_name, removed_orphans = removed, %boot_id, "starting");
    if let Some(status) = &parts.capabilities.inference {
        tracing::info!(endpoint = %status.endpoint, reachable = status.reachable, models = ?status.models, "inference endpoint");
    }

    let registrar = Registrar {
        gateway: parts.gateway.clone(),
        request: RegisterNodeRequest {
            pre_shared_key: config.pre_shared_key.clone(),
            node_name: config.node_name.clone(),
            capabilities: parts.capabilities.clone(),
            node_secret: None,
        },
        state_dir: config.state_dir.clone(),
    };
    let registration = registrar.register(stop_taking).await?;
    let me = Identity {
        node_id: registration.node_id.clone(),
        node_key: registration.node_key.clone(),
    };
    tracing::info!(node_id = %me.node_id, "registered");
    acknowledge(parts.gateway.as_ref(), &me, &registration.config).await?;
    let me = SharedIdentity::new(me);
    let mut queues = parts.queues.open(&registration, me.clone()).await?;
    let (config_tx, config_rx) = watch::channel(registration.config);
    loops.spawn(loops::poll_config(
        parts.gateway.clone(),
        me.clone(),
        config.config_poll,
        config_tx,
        loops.stop.clone(),
    ));
    let (models_tx, models_rx) = watch::channel(parts.capabilities.models().to_vec());
    let inference = match (&config.inference_url, queues.inference.is_some()) {
        (Some(endpoint), true) => {
            loops.spawn(loops::refresh_models(
                parts.gateway.clone(),
                me.clone(),
                parts.capabilities.clone(),
                endpoint.clone(),
                config.inference.capabilities_poll,
                models_tx,
                loops.stop.clone(),
            ));
            Some(Arc::new(node_inference(
                config,
                endpoint,
                models_rx.clone(),
            )?))
        }
        (Some(_), false) => {
            tracing::warn!("the gateway has no inference queue; this node takes no model jobs");
            None
        }
        (None, _) => None,
    };
    if inference.is_none() {
        queues.inference = None;
    }
    let hosted = hosted_models(config, inference.as_deref())?;
    parts
        .sandbox
        .start_warm_pool(warm_setup(config, inference.as_deref()));
    let runner = Arc::new(JobRunner::new(RunnerSetup {
        gateway: parts.gateway.clone(),
        identity: me,
        queues: queues.clone(),
        sandbox: parts.sandbox,
        spool: parts.spool,
        boot_id,
        limits: config.sandbox.clone(),
        jobs_dir,
        config: config_rx,
        inference,
        hosted,
        outage: Outage::default(),
        remotes: config.remotes.clone(),
    }));
    loops.spawn(loops::resend_pending(runner.clone(), loops.stop.clone()));
    loops.spawn(loops::watch_gateway(
        parts.gateway,
        runner.clone(),
        registrar,
        loops.stop.clone(),
    ));
    take_jobs(config, queues, models_rx, runner, stop_taking).await;
    Ok(())
}

/// Polls the queues until `stop_taking`, then lets running jobs finish within the grace
/// period and hands back the rest.
async fn take_jobs(
    config: &EdgeConfig,
    queues: NodeQueues,
    models: watch::Receiver<Vec<String>>,
    runner: Arc<JobRunner>,
    stop_taking: &CancellationToken,
) {
    let shutdown = CancellationToken::new();
    let running = TaskTracker::new();
    let mut pollers = JoinSet::new();
    let slots = || Arc::new(Semaphore::new(config.job_slots as usize));
    tracing::info!(slots = config.job_slots, "waiting for jobs");
    let mut polled = vec![Poller {
        queue: queues.jobs,
        slots: slots(),
        models: None,
    }];
    if let Some(queue) = queues.inference {
        tracing::info!(
            slots = config.job_slots,
            "waiting for model jobs while a model is served"
        );
        polled.push(Poller {
            queue,
            slots: slots(),
            models: Some(models),
        });
    }
    for poller in polled {
        pollers.spawn(loops::poll_queue(
            poller,
            runner.clone(),
            running.clone(),
            stop_taking.clone(),
            shutdown.clone(),
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
            shutdown.cancel();
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
}

/// What jobs that use the node's models need.
fn node_inference(
    config: &EdgeConfig,
    endpoint: &str,
    models: watch::Receiver<Vec<String>>,
) -> anyhow::Result<NodeInference> {
    Ok(NodeInference {
        forwarder: Forwarder::new(endpoint, config.inference.limits.clone())?,
        settings: config.inference.clone(),
        helpers_dir: config.helpers_dir.clone(),
        sockets_dir: crate::inference::sockets_dir(&config.node_name)
            .context("creating the directory for jobs' inference sockets")?,
        models,
    })
}

/// What jobs with hosted models need, when the helpers their pods mount are here (a
/// node without them says so in its capabilities, and the gateway sends it none).
fn hosted_models(
    config: &EdgeConfig,
    inference: Option<&NodeInference>,
) -> anyhow::Result<Option<Arc<HostedModels>>> {
    let missing = crate::inference::hosted::missing_helpers(&config.helpers_dir);
    if !missing.is_empty() {
        tracing::warn!(missing = ?missing, "helpers missing: this node runs no jobs with hosted models");
        return Ok(None);
    }
    let sockets_dir = match inference {
        Some(node) => node.sockets_dir.clone(),
        None => crate::inference::sockets_dir(&config.node_name)
            .context("creating the directory for jobs' inference sockets")?,
    };
    Ok(Some(Arc::new(HostedModels {
        forwarder: Forwarder::for_relays(config.inference.limits.clone())?,
        helpers_dir: config.helpers_dir.clone(),
        sockets_dir,
        agent_max_steps: config.inference.agent_max_steps,
    })))
}

/// Where the warm sandboxes live, and with models, what their pods mount.
fn warm_setup(config: &EdgeConfig, inference: Option<&NodeInference>) -> WarmSetup {
    WarmSetup {
        dir: config.state_dir.join("warm"),
        pods: inference.map(|node| WarmPods {
            proxy_binary: node.helper("cynode-inference-proxy"),
            agent_binary: node.helper("cynode-prompt-agent"),
            sockets_dir: node.sockets_dir.clone(),
        }),
    }
}

/// A node with models needs the binaries it mounts into pods.
fn check_helpers(config: &EdgeConfig) -> anyhow::Result<()> {
    if config.inference_url.is_none() {
        return Ok(());
    }
    for helper in ["cynode-inference-proxy", "cynode-prompt-agent"] {
        let path = config.helpers_dir.join(helper);
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: model jobs need it (set helpers_dir, or inference_url = \"\" for a node without models)",
            path.display()
        );
    }
    Ok(())
}

/// The private state directory, and an empty `jobs/` in it.
fn prepare_state_dir(config: &EdgeConfig) -> anyhow::Result<PathBuf> {
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
