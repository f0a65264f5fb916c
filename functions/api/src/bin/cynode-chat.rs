//! The `chat` function: see `cynode_api::routing::Function::Chat`. Hosted with a
//! streaming response under Lambda (function URL invoke mode `RESPONSE_STREAM`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cynode_api::host::run_function(
        cynode_api::routing::Function::Chat,
        cynode_api::routing::chat_routes,
    )
    .await
}
