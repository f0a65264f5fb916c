//! Where a task's model calls go, decided once when it is created and kept on the task
//! with the reason (`GET /v1/tasks/{id}` shows it): the model is the one the task names,
//! else the owner's effective `task.default_model`; a hosted model (`<provider>/<model>`)
//! is served through the egress unless a node serves the model the owner's
//! `task.local_model` marks as its equivalent, which is then preferred. Either way the
//! job runs on a node, in its sandbox: only the thinking moves.
//!
//! This is the rule alone, over facts the task service gathers
//! ([`crate::service::tasks`]).

use crate::wire::{EffectivePreference, ModelRoute, TaskRouting};

/// What the decision is made from.
pub struct RoutingFacts<'a> {
    /// The model the task itself names.
    pub named: Option<&'a str>,
    /// The owner's effective preferences (`task.default_model`, `task.local_model`).
    pub preferences: &'a [EffectivePreference],
    /// Whether a model id names a registered provider's model.
    pub hosted: &'a dyn Fn(&str) -> bool,
    /// The models some node serves now.
    pub served: &'a [String],
}

fn preference<'a>(preferences: &'a [EffectivePreference], key: &str) -> Option<(&'a str, &'a str)> {
    preferences
        .iter()
        .find(|pref| pref.key == key)
        .and_then(|pref| Some((pref.value.as_str()?, pref.source.as_str())))
}

/// The routing of a task with `facts`.
pub fn decide(facts: &RoutingFacts<'_>) -> TaskRouting {
    let (model, chosen_by) = match (
        facts.named,
        preference(facts.preferences, "task.default_model"),
    ) {
        (Some(model), _) => (model, "the task names".to_owned()),
        (None, Some((model, scope))) => (model, format!("task.default_model ({scope}) names")),
        (None, None) => {
            return TaskRouting {
                via: ModelRoute::Node,
                model: None,
                reason: "no model named or preferred (task.default_model): a node's default model"
                    .into(),
            }
        }
    };
    let served = |model: &str| facts.served.iter().any(|m| m == model);
    if !(facts.hosted)(model) {
        let waits = if served(model) {
            ""
        } else {
            "; no node serves it now, so the task waits for one"
        };
        return TaskRouting {
            via: ModelRoute::Node,
            model: Some(model.to_owned()),
            reason: format!("{chosen_by} {model}, a node model{waits}"),
        };
    }
    match preference(facts.preferences, "task.local_model") {
        Some((local, scope)) if served(local) => TaskRouting {
            via: ModelRoute::Node,
            model: Some(local.to_owned()),
            reason: format!(
                "{chosen_by} hosted {model}; a node serves {local}, its local equivalent \
                 (task.local_model, {scope}): local preferred"
            ),
        },
        Some((local, scope)) => TaskRouting {
            via: ModelRoute::Egress,
            model: Some(model.to_owned()),
            reason: format!(
                "{chosen_by} hosted {model}; no node serves its local equivalent {local} \
                 (task.local_model, {scope}) now: through the egress"
            ),
        },
        None => TaskRouting {
            via: ModelRoute::Egress,
            model: Some(model.to_owned()),
            reason: format!(
                "{chosen_by} hosted {model} and no local equivalent is set \
                 (task.local_model): through the egress"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn pref(key: &str, value: &str, source: &str) -> EffectivePreference {
        EffectivePreference {
            key: key.into(),
            value: Value::from(value),
            source: source.into(),
            description: String::new(),
        }
    }

    fn hosted(model: &str) -> bool {
        model.starts_with("acme/")
    }

    fn served() -> Vec<String> {
        vec!["qwen:7b".into()]
    }

    #[test]
    fn nothing_named_or_preferred_is_the_nodes_default() {
        let routing = decide(&RoutingFacts {
            named: None,
            preferences: &[],
            hosted: &hosted,
            served: &[],
        });
        assert_eq!(routing.via, ModelRoute::Node);
        assert_eq!(routing.model, None);
        assert!(
            routing.reason.contains("default model"),
            "{}",
            routing.reason
        );
    }

    #[test]
    fn a_node_model_goes_to_a_node_and_says_when_none_serves_it() {
        let served = served();
        let prefs = [pref("task.default_model", "llama:1b", "user")];
        let routing = decide(&RoutingFacts {
            preferences: &prefs,
            hosted: &hosted,
            served: &served,
            named: None,
        });
        assert_eq!(
            (routing.via, routing.model.as_deref()),
            (ModelRoute::Node, Some("llama:1b"))
        );
        assert!(routing
            .reason
            .contains("task.default_model (user) names llama:1b"));
        assert!(
            routing.reason.contains("waits for one"),
            "{}",
            routing.reason
        );
    }

    #[test]
    fn a_hosted_model_goes_through_the_egress_without_a_served_equivalent() {
        let served = served();
        for local in [None, Some("llama:1b")] {
            let mut prefs = vec![pref("task.default_model", "acme/big", "project")];
            prefs.extend(local.map(|l| pref("task.local_model", l, "user")));
            let routing = decide(&RoutingFacts {
                preferences: &prefs,
                hosted: &hosted,
                served: &served,
                named: None,
            });
            assert_eq!(
                (routing.via, routing.model.as_deref()),
                (ModelRoute::Egress, Some("acme/big"))
            );
            let why = match local {
                None => "no local equivalent is set",
                Some(_) => "no node serves its local equivalent llama:1b",
            };
            assert!(routing.reason.contains(why), "{}", routing.reason);
        }
    }

    #[test]
    fn a_served_local_equivalent_is_preferred_even_to_a_named_hosted_model() {
        let served = served();
        let prefs = [
            pref("task.default_model", "acme/other", "user"),
            pref("task.local_model", "qwen:7b", "user"),
        ];
        let routing = decide(&RoutingFacts {
            named: Some("acme/big"),
            preferences: &prefs,
            hosted: &hosted,
            served: &served,
        });
        assert_eq!(
            (routing.via, routing.model.as_deref()),
            (ModelRoute::Node, Some("qwen:7b"))
        );
        assert!(
            routing
                .reason
                .starts_with("the task names hosted acme/big; a node serves qwen:7b"),
            "{}",
            routing.reason
        );
    }
}
