//! Preferences: what a user may tune about how their work runs (the default model, the
//! agent's step limit, a task's timeout, a worker's test command), set at four scopes
//! and resolved by one rule: the narrowest scope that sets a key wins (task, then
//! project, then user, then system), else the key's documented default.
//!
//! Keys are typed and checked on the way in; the store keeps a key as its name, so a
//! value of a key this build does not know is skipped, never an error.

use serde_json::Value;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{ProjectId, TaskId, UserId};
use crate::limits::MAX_JOB_TIMEOUT_SECS;
use crate::wire::{EffectivePreference, PreferenceEntry, PreferenceScope};
use crate::ErrorCode;

/// Longest string value (a model name, a test command).
pub const MAX_TEXT_BYTES: usize = 1000;

/// The keys, each with its type, bounds and default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreferenceKey {
    /// `agent.max_steps`: integer 1–64.
    AgentMaxSteps,
    /// `task.default_model`: the model a prompt task or planned work uses when it names
    /// none.
    DefaultModel,
    /// `task.local_model`: a model a node may serve that is as good as the hosted
    /// `task.default_model` for this work; while a node serves it, it is used instead.
    LocalModel,
    /// `task.timeout_seconds`: integer 1–10800.
    TaskTimeout,
    /// `worker.test_command`: what a worker's change must pass when its project names no
    /// test command.
    WorkerTestCommand,
}

impl PreferenceKey {
    pub const ALL: [PreferenceKey; 5] = [
        PreferenceKey::AgentMaxSteps,
        PreferenceKey::DefaultModel,
        PreferenceKey::LocalModel,
        PreferenceKey::TaskTimeout,
        PreferenceKey::WorkerTestCommand,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PreferenceKey::AgentMaxSteps => "agent.max_steps",
            PreferenceKey::DefaultModel => "task.default_model",
            PreferenceKey::LocalModel => "task.local_model",
            PreferenceKey::TaskTimeout => "task.timeout_seconds",
            PreferenceKey::WorkerTestCommand => "worker.test_command",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            PreferenceKey::AgentMaxSteps => {
                "the most steps the in-sandbox agent takes before it must answer (1-64; default: the node's, 8 unless its operator changed it)"
            }
            PreferenceKey::DefaultModel => {
                "the model a prompt task or planned work uses when it names none: a node's model, or a hosted one as <provider>/<model> (default: the node's default model)"
            }
            PreferenceKey::LocalModel => {
                "a node model as good as the hosted task.default_model for your work: while a node serves it, tasks run on it instead of through the provider (default: none)"
            }
            PreferenceKey::TaskTimeout => {
                "seconds a job may run when its task gives no timeout (1-10800; default: the node's, 3600)"
            }
            PreferenceKey::WorkerTestCommand => {
                "the command a worker's change must pass when its project names none (default: none)"
            }
        }
    }

    fn is_model(self) -> bool {
        matches!(
            self,
            PreferenceKey::DefaultModel | PreferenceKey::LocalModel
        )
    }

    /// The key named `name`; `unknown_preference` (404) otherwise.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|key| key.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|key| key.name()).collect();
                unknown_name(ErrorCode::UnknownPreference, "preference", name, &known)
            })
    }

    /// `value` if it is of this key's type and within its bounds (strings trimmed).
    pub fn check(self, value: &Value) -> Result<Value> {
        let invalid = |what: &str| {
            Error::validation(
                ErrorCode::InvalidPreference,
                format!("{} must be {what}", self.name()),
            )
        };
        match self {
            PreferenceKey::AgentMaxSteps | PreferenceKey::TaskTimeout => {
                let max = match self {
                    PreferenceKey::AgentMaxSteps => 64,
                    _ => MAX_JOB_TIMEOUT_SECS,
                };
                match value.as_u64() {
                    Some(n) if (1..=max).contains(&n) => Ok(Value::from(n)),
                    _ => Err(invalid(&format!("an integer from 1 to {max}"))),
                }
            }
            PreferenceKey::DefaultModel
            | PreferenceKey::LocalModel
            | PreferenceKey::WorkerTestCommand => {
                let text = value.as_str().map(str::trim).unwrap_or_default();
                if text.is_empty()
                    || text.len() > MAX_TEXT_BYTES
                    || text.chars().any(char::is_control)
                    || (self.is_model() && text.contains(char::is_whitespace))
                {
                    return Err(invalid(&format!(
                        "a non-empty string of at most {MAX_TEXT_BYTES} bytes without control characters{}",
                        if self.is_model() {
                            " or spaces"
                        } else {
                            ""
                        }
                    )));
                }
                Ok(Value::from(text))
            }
        }
    }
}

/// 404 with `code` for a `what` named `name` that does not exist, listing the `known`
/// names (preferences, settings).
pub(crate) fn unknown_name(code: ErrorCode, what: &str, name: &str, known: &[&str]) -> Error {
    Error::not_found(
        code,
        format!(
            "no {what} '{}'; the {what}s are {}",
            name.chars().take(64).collect::<String>(),
            known.join(", ")
        ),
    )
}

/// Where a value is set: a scope and, below the system, whom it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PreferenceTarget {
    System,
    User(UserId),
    Project(ProjectId),
    Task(TaskId),
}

impl PreferenceTarget {
    pub fn scope(&self) -> PreferenceScope {
        match self {
            PreferenceTarget::System => PreferenceScope::System,
            PreferenceTarget::User(_) => PreferenceScope::User,
            PreferenceTarget::Project(_) => PreferenceScope::Project,
            PreferenceTarget::Task(_) => PreferenceScope::Task,
        }
    }

    /// The project's or task's id (a user's own id is never shown back).
    pub fn shown_id(&self) -> Option<String> {
        match self {
            PreferenceTarget::Project(id) => Some(id.to_string()),
            PreferenceTarget::Task(id) => Some(id.to_string()),
            _ => None,
        }
    }
}

/// One value as stored at a target.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPreference {
    /// The key's name.
    pub key: String,
    pub value: Value,
    pub updated_at: Timestamp,
}

impl StoredPreference {
    pub fn entry(&self, target: &PreferenceTarget) -> PreferenceEntry {
        PreferenceEntry {
            key: self.key.clone(),
            value: self.value.clone(),
            scope: target.scope(),
            scope_id: target.shown_id(),
            updated_at: self.updated_at,
        }
    }
}

/// Every key's value and where it came from, given what each scope sets (in any order).
pub fn resolve(layers: &[(PreferenceScope, Vec<StoredPreference>)]) -> Vec<EffectivePreference> {
    PreferenceKey::ALL
        .into_iter()
        .map(|key| {
            let narrowest = layers
                .iter()
                .flat_map(|(scope, values)| values.iter().map(move |value| (*scope, value)))
                .filter(|(_, stored)| stored.key == key.name())
                // A value stored before a bound tightened is skipped, not applied.
                .filter_map(|(scope, stored)| Some((scope, key.check(&stored.value).ok()?)))
                .max_by_key(|(scope, _)| *scope);
            let (source, value) = match narrowest {
                Some((scope, value)) => (scope.as_str(), value),
                None => ("default", Value::Null),
            };
            EffectivePreference {
                key: key.name().to_owned(),
                value,
                source: source.to_owned(),
                description: key.description().to_owned(),
            }
        })
        .collect()
}

/// The effective values a job is built with (`None`: the node or the project decides).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPreferences {
    pub agent_max_steps: Option<u32>,
    pub default_model: Option<String>,
    pub local_model: Option<String>,
    pub timeout_secs: Option<u64>,
    pub test_command: Option<String>,
}

impl JobPreferences {
    pub fn from_effective(effective: &[EffectivePreference]) -> Self {
        let value = |key: PreferenceKey| {
            effective
                .iter()
                .find(|pref| pref.key == key.name())
                .map(|pref| &pref.value)
        };
        let text = |key| value(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key| value(key).and_then(Value::as_u64);
        Self {
            agent_max_steps: number(PreferenceKey::AgentMaxSteps).map(|n| n as u32),
            default_model: text(PreferenceKey::DefaultModel),
            local_model: text(PreferenceKey::LocalModel),
            timeout_secs: number(PreferenceKey::TaskTimeout),
            test_command: text(PreferenceKey::WorkerTestCommand),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(key: &str, value: Value) -> StoredPreference {
        StoredPreference {
            key: key.into(),
            value,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn effective<'a>(all: &'a [EffectivePreference], key: &str) -> &'a EffectivePreference {
        all.iter().find(|pref| pref.key == key).unwrap()
    }

    #[test]
    fn the_narrowest_scope_that_sets_a_key_wins_whatever_order_the_layers_come_in() {
        let layers = vec![
            (
                PreferenceScope::Task,
                vec![stored("agent.max_steps", json!(2))],
            ),
            (
                PreferenceScope::System,
                vec![
                    stored("agent.max_steps", json!(10)),
                    stored("task.default_model", json!("sys-model")),
                    stored("task.timeout_seconds", json!(100)),
                ],
            ),
            (
                PreferenceScope::User,
                vec![
                    stored("agent.max_steps", json!(5)),
                    stored("task.default_model", json!("user-model")),
                ],
            ),
            (PreferenceScope::Project, vec![]),
        ];
        let all = resolve(&layers);
        assert_eq!(all.len(), PreferenceKey::ALL.len());
        let steps = effective(&all, "agent.max_steps");
        assert_eq!(
            (steps.value.clone(), steps.source.as_str()),
            (json!(2), "task")
        );
        let model = effective(&all, "task.default_model");
        assert_eq!(
            (model.value.clone(), model.source.as_str()),
            (json!("user-model"), "user")
        );
        let timeout = effective(&all, "task.timeout_seconds");
        assert_eq!(timeout.source, "system");
        let test = effective(&all, "worker.test_command");
        assert_eq!(
            (test.value.clone(), test.source.as_str()),
            (Value::Null, "default")
        );
        assert_eq!(
            JobPreferences::from_effective(&all),
            JobPreferences {
                agent_max_steps: Some(2),
                default_model: Some("user-model".into()),
                local_model: None,
                timeout_secs: Some(100),
                test_command: None,
            }
        );
    }

    #[test]
    fn values_of_unknown_keys_or_out_of_bounds_are_skipped() {
        let all = resolve(&[
            (
                PreferenceScope::Task,
                vec![
                    stored("agent.max_steps", json!(999)),
                    stored("from.a.newer.build", json!(true)),
                ],
            ),
            (
                PreferenceScope::User,
                vec![stored("agent.max_steps", json!(3))],
            ),
        ]);
        assert_eq!(effective(&all, "agent.max_steps").source, "user");
        assert!(all.iter().all(|pref| pref.key != "from.a.newer.build"));
    }

    #[test]
    fn values_are_checked_by_type_and_bounds() {
        let steps = PreferenceKey::parse("agent.max_steps").unwrap();
        assert_eq!(steps.check(&json!(64)).unwrap(), json!(64));
        for bad in [
            json!(0),
            json!(65),
            json!("3"),
            json!(2.5),
            json!(-1),
            Value::Null,
        ] {
            let err = steps.check(&bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidPreference, "{bad}");
        }
        let timeout = PreferenceKey::TaskTimeout;
        assert!(timeout.check(&json!(MAX_JOB_TIMEOUT_SECS)).is_ok());
        assert!(timeout.check(&json!(MAX_JOB_TIMEOUT_SECS + 1)).is_err());
        let model = PreferenceKey::DefaultModel;
        assert_eq!(model.check(&json!("  qwen2 ")).unwrap(), json!("qwen2"));
        for bad in [json!(""), json!("a b"), json!("a\nb"), json!(7)] {
            assert!(model.check(&bad).is_err(), "{bad}");
        }
        let command = PreferenceKey::WorkerTestCommand;
        assert_eq!(
            command.check(&json!("cargo test -q")).unwrap(),
            json!("cargo test -q")
        );
        assert!(command
            .check(&json!("x".repeat(MAX_TEXT_BYTES + 1)))
            .is_err());
        let err = PreferenceKey::parse("agent.nope").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownPreference);
        assert!(err.message.contains("agent.max_steps"), "{}", err.message);
    }
}
