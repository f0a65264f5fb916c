//! Routing a new task's model calls: the facts [`crate::model_routing::decide`] needs
//! (the owner's effective preferences; then, only when a model is named or preferred, the
//! models nodes serve now and the registered providers' models, read at once), and the
//! decision kept on the task.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model_routing::{decide, RoutingFacts};
use crate::ports::PreferenceStore;
use crate::provider::split_model_id;
use crate::service::preferences::effective_for_task;
use crate::service::{NodeService, ProviderService};
use crate::task::{Task, TaskInput};
use crate::wire::{ModelRoute, TaskRouting};
use crate::ErrorCode;

/// Gathers what a routing decision is made from.
pub struct ModelRouter {
    preferences: Arc<dyn PreferenceStore>,
    nodes: Arc<NodeService>,
    providers: Arc<ProviderService>,
}

impl ModelRouter {
    pub fn new(
        preferences: Arc<dyn PreferenceStore>,
        nodes: Arc<NodeService>,
        providers: Arc<ProviderService>,
    ) -> Self {
        Self {
            preferences,
            nodes,
            providers,
        }
    }

    /// Where `task`'s model calls go (`input` is its full input). A chat, completion or
    /// embeddings naming a node model is sent to it as named, with nothing read; a
    /// hosted model id whose provider offers no such model is 404 `model_not_found`.
    pub async fn route(&self, task: &Task, input: &TaskInput) -> Result<TaskRouting> {
        let direct_call = !matches!(
            input,
            TaskInput::Prompt { .. } | TaskInput::Script { .. } | TaskInput::Commands { .. }
        );
        if let (true, Some(model)) = (direct_call, &task.model) {
            return Ok(TaskRouting {
                via: ModelRoute::Node,
                model: Some(model.clone()),
                reason: format!("the request names {model}, a node model"),
            });
        }
        let preferences = effective_for_task(self.preferences.as_ref(), task).await?;
        let chosen = task.model.is_some()
            || preferences
                .iter()
                .any(|pref| pref.key == "task.default_model" && pref.value.is_string());
        // No model named or preferred (most prompts and agent chats): a node's default,
        // with nothing more to read.
        if !chosen {
            return Ok(decide(&RoutingFacts {
                named: None,
                preferences: &preferences,
                hosted: &|_| false,
                served: &[],
            }));
        }
        let (served, providers) =
            futures_util::future::join(self.nodes.available_models(), self.providers.all()).await;
        let (served, providers) = (served?, providers?);
        let hosted = |id: &str| {
            split_model_id(id).is_some_and(|(provider, model)| {
                providers
                    .iter()
                    .any(|p| p.name == provider && p.model(model).is_some())
            })
        };
        // A registered provider's name with a model it does not offer is a mistake, not
        // a node model to wait for.
        if let Some((provider, model)) = task.model.as_deref().and_then(split_model_id) {
            if providers
                .iter()
                .any(|p| p.name == provider && p.model(model).is_none())
            {
                return Err(Error::not_found(
                    ErrorCode::ModelNotFound,
                    format!("provider '{provider}' offers no model '{model}'; GET /v1/models lists them"),
                )
                .with_param("model"));
            }
        }
        Ok(decide(&RoutingFacts {
            named: task.model.as_deref(),
            preferences: &preferences,
            hosted: &hosted,
            served: &served,
        }))
    }
}
