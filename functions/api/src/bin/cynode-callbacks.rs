//! The `callbacks` function: see `cynode_api::routing::Function::Callbacks`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_function(
        cynode_api::routing::Function::Callbacks,
        cynode_api::routing::callbacks_routes,
    )
    .await
}
