//! The `console` function: the web console's pages (`cynode_api::routes::console`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_console().await
}
