//! `cynode-edge`: see the library docs. Exit codes: 0 stopped cleanly, 1 failed while
//! running, 2 bad configuration, 3 Podman missing or misconfigured.

use std::process::ExitCode;

use clap::Parser;
use cynode_edge::config::{Args, EdgeConfig};
use cynode_edge::sandbox::podman::PodmanError;

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
    match runtime.block_on(cynode_edge::agent::run(config)) {
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
