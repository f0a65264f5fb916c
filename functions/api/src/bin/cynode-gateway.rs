//! Every gateway function on one local port (`CYNODE_LISTEN`, default 127.0.0.1:8080),
//! routed exactly as the deployed HTTP API routes them. For development and tests; in
//! AWS each function runs as its own Lambda.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::init_tracing();
    let state = cynode_api::state::AppState::from_env().await?;
    cynode_api::host::serve(
        cynode_api::routing::local_gateway(state),
        cynode_api::host::Responses::Streamed,
    )
    .await
}
