//! The `auth` function: see `cynode_api::routing::Function::Auth`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_function(
        cynode_api::routing::Function::Auth,
        cynode_api::routing::auth_routes,
    )
    .await
}
