//! Every gateway function on one local port (`CYNODE_LISTEN`, default 127.0.0.1:8080),
//! routed exactly as the deployed HTTP API routes them, plus the recovery sweep on a
//! timer. For development and tests; in AWS each function runs as its own Lambda, and a
//! schedule invokes the sweeper. Like the functions it fetches its secrets from Secrets
//! Manager (LocalStack's, locally); the admin is created by `cynode-bootstrap`.

use cynode_api::config::SecretName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::init_tracing();
    let needed = [SecretName::JwtKey, SecretName::NodeKey, SecretName::NodePsk];
    let state = cynode_api::state::AppState::from_env(&needed).await?;
    let every = std::time::Duration::from_secs(state.config().sweep_interval_secs);
    cynode_api::host::sweep_periodically(state.clone(), every);
    cynode_api::host::serve(
        cynode_api::routing::local_gateway(state),
        cynode_api::routing::Responses::Streamed,
    )
    .await
}
