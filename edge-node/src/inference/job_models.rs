//! What a job's model calls may name, and who answers them: the models its node serves
//! now, or (for a task routed through the egress) its one hosted model, relayed to the
//! gateway ([`ModelRelay`]). The forwarder checks every call against it before anything
//! leaves the node.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde::Deserialize;

use cynode_protocol::wire::HostedCall;

use super::forwarder::ServedModels;
use super::routes::InferenceRoute;

/// What a job's calls may name, and who answers them.
#[derive(Clone)]
pub enum JobModels {
    /// The node's model server, for the models it serves now.
    Served(ServedModels),
    /// A hosted model (`<provider>/<model>`), answered through the gateway's egress.
    Hosted {
        model: String,
        relay: Arc<dyn ModelRelay>,
    },
}

/// Sends a hosted model's call on to the gateway, under the job's claim.
#[async_trait::async_trait]
pub trait ModelRelay: Send + Sync {
    /// The gateway's answer as it streams in (its status and body are the pod's), or
    /// why the gateway could not be reached.
    async fn call(
        &self,
        call: HostedCall,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, String>;
}

/// The model a call names: `model`, or `name` (Ollama's older `/api/show`).
#[derive(Deserialize)]
struct ModelField {
    model: Option<String>,
    name: Option<String>,
}

/// The hosted call a route is, if a job with a hosted model may make it.
pub(super) fn hosted_call(route: InferenceRoute) -> Option<HostedCall> {
    match route {
        InferenceRoute::OpenAiChatCompletions => Some(HostedCall::ChatCompletions),
        InferenceRoute::OpenAiEmbeddings => Some(HostedCall::Embeddings),
        _ => None,
    }
}

/// The model a call names, if the job may call it.
pub(super) fn served_model(
    models: &JobModels,
    route: InferenceRoute,
    body: &[u8],
) -> Result<String, (StatusCode, String)> {
    let named = serde_json::from_slice::<ModelField>(body).map_err(|err| {
        (
            StatusCode::BAD_REQUEST,
            format!("{} takes a JSON body naming a model: {err}", route.path()),
        )
    })?;
    let model = named.model.or(named.name).ok_or_else(|| {
        (
            StatusCode::BAD_REQUEST,
            format!("{} needs a \"model\"", route.path()),
        )
    })?;
    let served = match models {
        JobModels::Served(served) => served.borrow(),
        JobModels::Hosted { model: hosted, .. } if *hosted == model => return Ok(model),
        JobModels::Hosted { model: hosted, .. } => {
            return Err((
                StatusCode::NOT_FOUND,
                format!(
                    "model '{}' is not this job's: it may call only its hosted model {hosted}",
                    model.chars().take(100).collect::<String>()
                ),
            ))
        }
    };
    if served.contains(&model) {
        return Ok(model);
    }
    Err((
        StatusCode::NOT_FOUND,
        format!(
            "model '{}' is not served by this node (it serves: {}); jobs cannot pull models",
            model.chars().take(100).collect::<String>(),
            if served.is_empty() {
                "none".to_owned()
            } else {
                served.join(", ")
            }
        ),
    ))
}
