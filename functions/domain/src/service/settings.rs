//! System settings in force, read by every function through a short cache (a warm
//! function re-reads the stored record at most every `cache_secs`), and changed by
//! admins one key at a time, each change a new version written over the one it was made
//! from and recorded on the audit trail.

use std::sync::{Arc, Mutex};

use time::Duration;

use crate::audit::{Actor, AuditRecord};
use crate::clock::{Clock, Timestamp};
use crate::error::{Error, Result, StoreError};
use crate::ids::new_ulid;
use crate::ports::SettingsStore;
use crate::principal::{require_admin, Principal};
use crate::service::audit::Auditor;
use crate::settings::{SettingKey, Settings, SettingsRecord};
use crate::wire::{SetSettingRequest, SettingView, SettingsView};
use crate::ErrorCode;

/// Default seconds a function keeps the settings it read.
pub const DEFAULT_SETTINGS_CACHE_SECS: u64 = 10;

pub struct SettingsService {
    store: Arc<dyn SettingsStore>,
    clock: Arc<dyn Clock>,
    deployment: Settings,
    cache_secs: u64,
    cached: Mutex<Option<(Timestamp, Option<SettingsRecord>)>>,
    audit: Auditor,
}

impl SettingsService {
    /// Settings over `deployment`'s values (what the function started with).
    pub fn new(
        store: Arc<dyn SettingsStore>,
        clock: Arc<dyn Clock>,
        deployment: Settings,
        cache_secs: u64,
    ) -> Self {
        Self {
            store,
            clock,
            deployment,
            cache_secs,
            cached: Mutex::new(None),
            audit: Auditor::default(),
        }
    }

    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// The values in force, as of at most `cache_secs` ago.
    pub async fn current(&self) -> Result<Settings> {
        let record = self.record().await?;
        Ok(record.map_or(self.deployment, |record| record.applied_to(self.deployment)))
    }

    async fn record(&self) -> Result<Option<SettingsRecord>> {
        let now = self.clock.now();
        if let Some((read_at, record)) = self.cached.lock().expect("settings cache").as_ref() {
            if now < *read_at + Duration::seconds(self.cache_secs as i64) {
                return Ok(record.clone());
            }
        }
        let record = self.store.settings().await?;
        *self.cached.lock().expect("settings cache") = Some((now, record.clone()));
        Ok(record)
    }

    /// Every setting with its value and source (admins).
    pub async fn list(&self, principal: &Principal) -> Result<SettingsView> {
        require_admin(principal)?;
        // An admin looking at the settings sees what is stored now.
        *self.cached.lock().expect("settings cache") = None;
        let record = self.record().await?;
        Ok(self.view(record.as_ref()))
    }

    pub async fn get(&self, principal: &Principal, key: &str) -> Result<SettingView> {
        let key = SettingKey::parse(key)?;
        let all = self.list(principal).await?;
        all.settings
            .into_iter()
            .find(|setting| setting.key == key.name())
            .ok_or_else(|| Error::internal("a known setting is missing from the list"))
    }

    /// Sets one key (`null`: back to the deployment's value) and answers every setting.
    pub async fn set(
        &self,
        principal: &Principal,
        key: &str,
        req: SetSettingRequest,
    ) -> Result<SettingsView> {
        require_admin(principal)?;
        let key = SettingKey::parse(key)?;
        let value = match &req.value {
            serde_json::Value::Null => None,
            value => Some(key.check(value)?),
        };
        let stored = self.store.settings().await?;
        let previous = stored.as_ref().map(|record| record.version.clone());
        if req.version.is_some() && req.version != previous {
            return Err(concurrent_update());
        }
        let mut values = stored.map(|record| record.values).unwrap_or_default();
        let was = values.get(key.name()).copied();
        match value {
            Some(value) => values.insert(key.name().to_owned(), value),
            None => values.remove(key.name()),
        };
        let next = SettingsRecord {
            values,
            version: new_ulid(),
            updated_at: self.clock.now(),
            updated_by: principal.handle.clone(),
        };
        match self
            .store
            .replace_settings(previous.as_deref(), &next)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(concurrent_update()),
            Err(err) => return Err(err.into()),
        }
        let shown = |value: Option<u64>| value.map_or("deployment".to_owned(), |v| v.to_string());
        let record = AuditRecord::new(
            "settings.set",
            Actor::of(principal),
            format!("setting:{}", key.name()),
        )
        .detail(format!("value={} was={}", shown(value), shown(was)));
        self.audit.record(record).await?;
        *self.cached.lock().expect("settings cache") = Some((self.clock.now(), Some(next.clone())));
        Ok(self.view(Some(&next)))
    }

    fn view(&self, record: Option<&SettingsRecord>) -> SettingsView {
        let current = record.map_or(self.deployment, |record| record.applied_to(self.deployment));
        SettingsView {
            settings: SettingKey::ALL
                .into_iter()
                .map(|key| {
                    let set = record.is_some_and(|record| {
                        record.values.contains_key(key.name())
                            && current.get(key) == record.values[key.name()]
                    });
                    SettingView {
                        key: key.name().to_owned(),
                        value: current.get(key),
                        source: if set { "setting" } else { "deployment" }.to_owned(),
                        deployment_value: self.deployment.get(key),
                        description: key.description().to_owned(),
                    }
                })
                .collect(),
            version: record.map(|record| record.version.clone()),
            updated_at: record.map(|record| record.updated_at),
            updated_by: record.map(|record| record.updated_by.clone()),
        }
    }
}

fn concurrent_update() -> Error {
    Error::conflict(
        ErrorCode::ConcurrentUpdate,
        "the settings changed while this request ran; read them again and retry",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use serde_json::json;
    use time::macros::datetime;

    fn deployment() -> Settings {
        Settings::for_tests()
    }

    fn set(value: serde_json::Value) -> SetSettingRequest {
        SetSettingRequest {
            value,
            version: None,
        }
    }

    #[tokio::test]
    async fn another_instance_sees_a_change_once_its_cache_time_is_over() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-01 00:00 UTC)));
        let writer = SettingsService::new(store.clone(), clock.clone(), deployment(), 10);
        let reader = SettingsService::new(store.clone(), clock.clone(), deployment(), 10);
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        assert_eq!(reader.current().await.unwrap().max_unfinished_tasks, 100);
        let view = writer
            .set(&root, "tasks.max_unfinished_per_user", set(json!(3)))
            .await
            .unwrap();
        let quota = &view
            .settings
            .iter()
            .find(|s| s.key == "tasks.max_unfinished_per_user")
            .unwrap();
        assert_eq!(
            (quota.value, quota.source.as_str(), quota.deployment_value),
            (3, "setting", 100)
        );
        assert_eq!(
            writer.current().await.unwrap().max_unfinished_tasks,
            3,
            "its own at once"
        );
        assert_eq!(
            reader.current().await.unwrap().max_unfinished_tasks,
            100,
            "cached"
        );
        clock.advance(Duration::seconds(11));
        assert_eq!(reader.current().await.unwrap().max_unfinished_tasks, 3);
        writer
            .set(
                &root,
                "tasks.max_unfinished_per_user",
                set(serde_json::Value::Null),
            )
            .await
            .unwrap();
        assert_eq!(writer.current().await.unwrap().max_unfinished_tasks, 100);
    }

    #[tokio::test]
    async fn only_admins_change_settings_and_stale_versions_are_refused() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-01 00:00 UTC)));
        let service = SettingsService::new(store, clock, deployment(), 10);
        let alice = Principal::test_user("alice");
        let err = service
            .set(&alice, "nodes.stale_secs", set(json!(60)))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        assert_eq!(
            service.list(&alice).await.unwrap_err().code,
            ErrorCode::AdminRequired
        );
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        let first = service
            .set(&root, "nodes.stale_secs", set(json!(60)))
            .await
            .unwrap();
        let stale = SetSettingRequest {
            value: json!(90),
            version: Some("01JD0000000000000000000000".into()),
        };
        let err = service
            .set(&root, "nodes.stale_secs", stale)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::ConcurrentUpdate);
        let fresh = SetSettingRequest {
            value: json!(90),
            version: first.version,
        };
        service.set(&root, "nodes.stale_secs", fresh).await.unwrap();
        assert_eq!(
            service.get(&root, "nodes.stale_secs").await.unwrap().value,
            90
        );
        let err = service
            .set(&root, "nodes.stale_secs", set(json!(1)))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidSetting);
    }
}
