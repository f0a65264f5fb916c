//! The `tasks` function: see `cynode_api::routing::Function::Tasks`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_function(
        cynode_api::routing::Function::Tasks,
        cynode_api::routing::tasks_routes,
    )
    .await
}
