//! `cynode-edge`: see the library docs. Builds the real parts (the gateway over HTTP,
//! SQS, Podman, the spool on disk) and the shutdown signal, and runs the agent. Exit
//! codes: 0 stopped cleanly, 1 failed while running, 2 bad configuration, 3 Podman
//! missing or misconfigured.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use cynode_edge::agent::{self, Parts};
use cynode_edge::capabilities;
use cynode_edge::config::{Args, EdgeConfig};
use cynode_edge::gateway::GatewayClient;
use cynode_edge::queue::SqsConnector;
use cynode_edge::sandbox::podman::{PodmanError, PodmanSandbox};
use cynode_edge::spool::DiskSpool;

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .init();
    let config = match EdgeConfig::load(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("cynode-edge: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cynode-edge: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(start(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<PodmanError>().is_some() => {
            eprintln!("cynode-edge: {err}");
            ExitCode::from(3)
        }
        Err(err) => {
            eprintln!("cynode-edge: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// The real parts, then the agent.
async fn start(config: EdgeConfig) -> anyhow::Result<()> {
    let sandbox = PodmanSandbox::new(
        config.podman.clone(),
        config.node_name.clone(),
        config.sandbox.clone(),
    );
    let podman = sandbox.check().await?;
    tracing::info!(podman = %podman.version, "podman ready");
    let gateway = Arc::new(GatewayClient::new(&config.gateway_url)?);
    let spool = DiskSpool::open(&config.state_dir).context("opening the result spool")?;
    let parts = Parts {
        capabilities: capabilities::collect(&config, &podman).await,
        queues: Arc::new(SqsConnector {
            gateway: gateway.clone(),
        }),
        gateway,
        sandbox: Arc::new(sandbox),
        spool: Arc::new(spool),
    };
    agent::run(config, parts, signal()).await
}

/// Resolves on the first SIGTERM or SIGINT.
async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!(error = %err, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}
