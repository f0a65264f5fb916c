//! The scheduled recovery sweep (see `cynode_domain::service::recovery`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_sweeper().await
}
