//! The deploy-time bootstrap step: creates the first admin user from the admin password
//! secret. See `cynode_api::host::run_bootstrap`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_bootstrap().await
}
