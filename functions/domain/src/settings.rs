//! System settings: the values operators change while the deployment runs (a user's
//! quotas, the window after which a silent node counts as gone, how long finished tasks
//! are kept, how often planned work's planner and workers are tried). Each has a deployment value (the environment or template parameter the
//! functions start with); an admin's setting, stored once with a version, overrides it
//! for every function, which re-reads it within a short cache time.

use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::plan::PlanPolicy;
use crate::preference::unknown_name;
use crate::ErrorCode;

/// The settings, each with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SettingKey {
    MaxUnfinishedTasks,
    MaxOpenStreams,
    NodeStaleSecs,
    TaskRetentionSecs,
    PlannerMaxAttempts,
    WorkerMaxAttempts,
    EgressTokensPerMinute,
    EgressCentsPerDay,
    EgressCentsPerMonth,
}

impl SettingKey {
    pub const ALL: [SettingKey; 9] = [
        SettingKey::EgressCentsPerDay,
        SettingKey::EgressCentsPerMonth,
        SettingKey::EgressTokensPerMinute,
        SettingKey::MaxOpenStreams,
        SettingKey::MaxUnfinishedTasks,
        SettingKey::NodeStaleSecs,
        SettingKey::PlannerMaxAttempts,
        SettingKey::TaskRetentionSecs,
        SettingKey::WorkerMaxAttempts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SettingKey::MaxUnfinishedTasks => "tasks.max_unfinished_per_user",
            SettingKey::MaxOpenStreams => "streams.max_open_per_user",
            SettingKey::NodeStaleSecs => "nodes.stale_secs",
            SettingKey::TaskRetentionSecs => "tasks.retention_secs",
            SettingKey::PlannerMaxAttempts => "plans.planner_max_attempts",
            SettingKey::WorkerMaxAttempts => "plans.worker_max_attempts",
            SettingKey::EgressTokensPerMinute => "egress.max_tokens_per_minute_per_user",
            SettingKey::EgressCentsPerDay => "egress.max_usd_cents_per_day_per_user",
            SettingKey::EgressCentsPerMonth => "egress.max_usd_cents_per_month_per_user",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            SettingKey::MaxUnfinishedTasks => {
                "tasks one user may have queued or running at once; more get 429 (0: no limit)"
            }
            SettingKey::MaxOpenStreams => {
                "streams one user may have open at once; more get 429 (0: no limit)"
            }
            SettingKey::NodeStaleSecs => {
                "seconds after which a silent node no longer counts for /readyz and /v1/models, and its name may be taken over"
            }
            SettingKey::TaskRetentionSecs => {
                "finished tasks unchanged this long are deleted by the sweep (0: kept for ever)"
            }
            SettingKey::PlannerMaxAttempts => {
                "planner runs a planned task gets (its plan refused or its run failed) before it is planning_failed"
            }
            SettingKey::WorkerMaxAttempts => {
                "worker runs a subtask gets, with backoff between them, before it is blocked_failure"
            }
            SettingKey::EgressTokensPerMinute => {
                "tokens one user's hosted model calls may use in a minute; more get 429 token_rate_exceeded (0: no limit)"
            }
            SettingKey::EgressCentsPerDay => {
                "US cents one user's hosted model calls may cost in a day (UTC); more get 429 budget_exhausted (0: no limit)"
            }
            SettingKey::EgressCentsPerMonth => {
                "US cents one user's hosted model calls may cost in a calendar month (UTC); more get 429 budget_exhausted (0: no limit)"
            }
        }
    }

    /// Inclusive bounds.
    fn bounds(self) -> (u64, u64) {
        match self {
            SettingKey::MaxUnfinishedTasks => (0, 100_000),
            SettingKey::MaxOpenStreams => (0, 1_000),
            SettingKey::NodeStaleSecs => (30, 86_400),
            SettingKey::TaskRetentionSecs => (0, 10 * 365 * 86_400),
            SettingKey::PlannerMaxAttempts | SettingKey::WorkerMaxAttempts => (1, 10),
            SettingKey::EgressTokensPerMinute => (0, 1_000_000_000),
            SettingKey::EgressCentsPerDay | SettingKey::EgressCentsPerMonth => (0, 100_000_000),
        }
    }

    /// The setting named `name`; 404 `unknown_setting` otherwise.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|key| key.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|key| key.name()).collect();
                unknown_name(ErrorCode::UnknownSetting, "setting", name, &known)
            })
    }

    /// `value` when it is a whole number within the bounds; 400 `invalid_setting`.
    pub fn check(self, value: &serde_json::Value) -> Result<u64> {
        let (min, max) = self.bounds();
        value
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                Error::validation(
                    ErrorCode::InvalidSetting,
                    format!("{} must be a whole number from {min} to {max}", self.name()),
                )
            })
    }
}

/// The values in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub max_unfinished_tasks: u32,
    pub max_open_streams: u32,
    pub node_stale_secs: u64,
    pub task_retention_secs: u64,
    pub planner_max_attempts: u32,
    pub worker_max_attempts: u32,
    /// The egress's limits per user (0: none).
    pub egress: EgressLimits,
}

/// What one user's hosted model calls may use; 0 is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EgressLimits {
    pub tokens_per_minute: u64,
    pub cents_per_day: u64,
    pub cents_per_month: u64,
}

impl Settings {
    /// `policy` with the attempt limits in force.
    pub fn plan_policy(&self, policy: &PlanPolicy) -> PlanPolicy {
        PlanPolicy {
            max_planner_attempts: self.planner_max_attempts,
            max_worker_attempts: self.worker_max_attempts,
            ..policy.clone()
        }
    }

    pub fn get(&self, key: SettingKey) -> u64 {
        match key {
            SettingKey::MaxUnfinishedTasks => u64::from(self.max_unfinished_tasks),
            SettingKey::MaxOpenStreams => u64::from(self.max_open_streams),
            SettingKey::NodeStaleSecs => self.node_stale_secs,
            SettingKey::TaskRetentionSecs => self.task_retention_secs,
            SettingKey::PlannerMaxAttempts => u64::from(self.planner_max_attempts),
            SettingKey::WorkerMaxAttempts => u64::from(self.worker_max_attempts),
            SettingKey::EgressTokensPerMinute => self.egress.tokens_per_minute,
            SettingKey::EgressCentsPerDay => self.egress.cents_per_day,
            SettingKey::EgressCentsPerMonth => self.egress.cents_per_month,
        }
    }

    fn set(&mut self, key: SettingKey, value: u64) {
        match key {
            SettingKey::MaxUnfinishedTasks => self.max_unfinished_tasks = value as u32,
            SettingKey::MaxOpenStreams => self.max_open_streams = value as u32,
            SettingKey::NodeStaleSecs => self.node_stale_secs = value,
            SettingKey::TaskRetentionSecs => self.task_retention_secs = value,
            SettingKey::PlannerMaxAttempts => self.planner_max_attempts = value as u32,
            SettingKey::WorkerMaxAttempts => self.worker_max_attempts = value as u32,
            SettingKey::EgressTokensPerMinute => self.egress.tokens_per_minute = value,
            SettingKey::EgressCentsPerDay => self.egress.cents_per_day = value,
            SettingKey::EgressCentsPerMonth => self.egress.cents_per_month = value,
        }
    }
}

#[cfg(test)]
impl Settings {
    /// The deployment's defaults, as unit tests start from them.
    pub(crate) fn for_tests() -> Settings {
        Settings {
            max_unfinished_tasks: 100,
            max_open_streams: 8,
            node_stale_secs: 120,
            task_retention_secs: 0,
            planner_max_attempts: 3,
            worker_max_attempts: 3,
            egress: EgressLimits::default(),
        }
    }
}

/// What admins set, as stored: the overrides by name, and a version that each change
/// replaces (a change is written only over the version it was made from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsRecord {
    pub values: BTreeMap<String, u64>,
    /// A ULID.
    pub version: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

impl SettingsRecord {
    /// `deployment` with this record's overrides (a stored value of a setting this build
    /// does not know, or out of its bounds, is skipped).
    pub fn applied_to(&self, deployment: Settings) -> Settings {
        let mut settings = deployment;
        for key in SettingKey::ALL {
            if let Some(value) = self.values.get(key.name()) {
                if key.check(&serde_json::Value::from(*value)).is_ok() {
                    settings.set(key, *value);
                }
            }
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Settings {
        Settings::for_tests()
    }

    #[test]
    fn stored_values_override_the_deployments_and_bad_ones_are_skipped() {
        let record = SettingsRecord {
            values: BTreeMap::from([
                ("tasks.max_unfinished_per_user".to_owned(), 2),
                ("nodes.stale_secs".to_owned(), 5),
                ("from.a.newer.build".to_owned(), 1),
            ]),
            version: "v".into(),
            updated_at: Timestamp::UNIX_EPOCH,
            updated_by: "root".into(),
        };
        let settings = record.applied_to(deployment());
        assert_eq!(settings.max_unfinished_tasks, 2);
        assert_eq!(settings.node_stale_secs, 120, "5 is below the bound");
        assert_eq!(settings.max_open_streams, 8);
    }

    #[test]
    fn values_are_checked_against_their_bounds() {
        let key = SettingKey::parse("nodes.stale_secs").unwrap();
        assert_eq!(key.check(&json!(60)).unwrap(), 60);
        for bad in [json!(29), json!(86_401), json!("60"), json!(-1), json!(1.5)] {
            assert_eq!(key.check(&bad).unwrap_err().code, ErrorCode::InvalidSetting);
        }
        assert_eq!(
            SettingKey::parse("nope").unwrap_err().code,
            ErrorCode::UnknownSetting
        );
        for key in SettingKey::ALL {
            let mut settings = deployment();
            settings.set(key, 77);
            assert_eq!(settings.get(key), 77, "{}", key.name());
        }
    }
}
