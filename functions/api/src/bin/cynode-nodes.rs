//! The `nodes` function: see `cynode_api::routing::Function::Nodes`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_function(
        cynode_api::routing::Function::Nodes,
        cynode_api::routing::nodes_routes,
    )
    .await
}
