//! Preferences at their four scopes: listing, reading, setting and unsetting a scope's
//! values (each scope's owner only; the system's by admins), and the effective values
//! for a task, a project or the caller, with where each came from. The job service
//! reads the same effective values when a node claims a job ([`effective_for_task`]).

use std::sync::Arc;

use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ports::PreferenceStore;
use crate::preference::{resolve, PreferenceKey, PreferenceTarget, StoredPreference};
use crate::principal::{require_admin, Principal};
use crate::service::audit::Auditor;
use crate::service::projects::ProjectService;
use crate::service::tasks::TaskService;
use crate::task::Task;
use crate::wire::{
    EffectivePreference, EffectivePreferences, PreferenceEntry, PreferenceList, PreferenceScope,
    SetPreferenceRequest,
};
use crate::ErrorCode;

pub struct PreferenceService {
    preferences: Arc<dyn PreferenceStore>,
    tasks: Arc<TaskService>,
    projects: Arc<ProjectService>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
}

/// What a request names as the scope: `scope` (default `user`) and, for a project or
/// task, `scope_id` (its id or name).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopeRef<'a> {
    pub scope: Option<&'a str>,
    pub scope_id: Option<&'a str>,
}

/// The effective values for `task`'s jobs: the system's, its owner's, its project's and
/// its own, read at once.
pub async fn effective_for_task(
    preferences: &dyn PreferenceStore,
    task: &Task,
) -> Result<Vec<EffectivePreference>> {
    let mut targets = vec![
        PreferenceTarget::System,
        PreferenceTarget::User(task.owner.clone()),
        PreferenceTarget::Task(task.id.clone()),
    ];
    if let Some(project) = &task.project_id {
        targets.push(PreferenceTarget::Project(project.clone()));
    }
    layers(preferences, &targets).await
}

/// What each of `targets` sets, read concurrently, resolved.
async fn layers(
    preferences: &dyn PreferenceStore,
    targets: &[PreferenceTarget],
) -> Result<Vec<EffectivePreference>> {
    let reads = targets.iter().map(|target| async move {
        Ok::<_, Error>((target.scope(), preferences.preferences(target).await?))
    });
    let layers = futures_util::future::try_join_all(reads).await?;
    Ok(resolve(&layers))
}

impl PreferenceService {
    pub fn new(
        preferences: Arc<dyn PreferenceStore>,
        tasks: Arc<TaskService>,
        projects: Arc<ProjectService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            preferences,
            tasks,
            projects,
            clock,
            audit: Auditor::default(),
        }
    }

    /// Records every change to the system's values.
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    async fn audit_system(
        &self,
        principal: &Principal,
        action: &'static str,
        key: PreferenceKey,
        target: &PreferenceTarget,
        detail: String,
    ) -> Result<()> {
        if *target != PreferenceTarget::System {
            return Ok(());
        }
        let record = AuditRecord::new(
            action,
            Actor::of(principal),
            format!("preference:{}", key.name()),
        )
        .detail(detail);
        self.audit.record(record).await
    }

    /// The target a request names, once the caller may see it (and, `writing`, change
    /// it): the system's values anyone reads and admins change; a project or task only
    /// its owner names (anyone else's is not found).
    async fn target(
        &self,
        principal: &Principal,
        scope: ScopeRef<'_>,
        writing: bool,
    ) -> Result<PreferenceTarget> {
        let name = scope.scope.unwrap_or("user");
        let scope_kind = PreferenceScope::parse(name).ok_or_else(|| {
            Error::validation(
                ErrorCode::InvalidScope,
                "scope must be system, user, project or task",
            )
        })?;
        let id = scope.scope_id.map(str::trim).filter(|id| !id.is_empty());
        match (scope_kind.needs_id(), id) {
            (true, None) => {
                return Err(Error::validation(
                    ErrorCode::InvalidScope,
                    format!("scope {scope_kind} needs scope_id (the {scope_kind}'s id or name)"),
                ))
            }
            (false, Some(_)) => {
                return Err(Error::validation(
                    ErrorCode::InvalidScope,
                    format!("scope {scope_kind} takes no scope_id"),
                ))
            }
            _ => {}
        }
        Ok(match (scope_kind, id) {
            (PreferenceScope::System, _) => {
                if writing {
                    require_admin(principal)?;
                }
                PreferenceTarget::System
            }
            (PreferenceScope::User, _) => PreferenceTarget::User(principal.user_id.clone()),
            (PreferenceScope::Project, Some(reference)) => {
                PreferenceTarget::Project(self.projects.owned(principal, reference).await?.id)
            }
            (PreferenceScope::Task, Some(reference)) => {
                PreferenceTarget::Task(self.tasks.owned_task(principal, reference).await?.id)
            }
            (_, None) => unreachable!("checked above"),
        })
    }

    /// The values set at one scope, by key.
    pub async fn list(&self, principal: &Principal, scope: ScopeRef<'_>) -> Result<PreferenceList> {
        let target = self.target(principal, scope, false).await?;
        let mut values = self.preferences.preferences(&target).await?;
        values.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(PreferenceList {
            preferences: values.iter().map(|value| value.entry(&target)).collect(),
        })
    }

    /// One key's value at one scope; 404 `preference_not_set` when that scope does not
    /// set it.
    pub async fn get(
        &self,
        principal: &Principal,
        key: &str,
        scope: ScopeRef<'_>,
    ) -> Result<PreferenceEntry> {
        let key = PreferenceKey::parse(key)?;
        let target = self.target(principal, scope, false).await?;
        self.preferences
            .preferences(&target)
            .await?
            .into_iter()
            .find(|value| value.key == key.name())
            .map(|value| value.entry(&target))
            .ok_or_else(|| not_set(key, &target))
    }

    pub async fn set(
        &self,
        principal: &Principal,
        key: &str,
        req: SetPreferenceRequest,
    ) -> Result<PreferenceEntry> {
        let key = PreferenceKey::parse(key)?;
        let value = key.check(&req.value)?;
        let scope = ScopeRef {
            scope: Some(req.scope.as_str()),
            scope_id: req.scope_id.as_deref(),
        };
        let target = self.target(principal, scope, true).await?;
        let stored = StoredPreference {
            key: key.name().to_owned(),
            value,
            updated_at: self.clock.now(),
        };
        self.preferences.put_preference(&target, &stored).await?;
        let detail = format!("scope=system value={}", stored.value);
        self.audit_system(principal, "preference.set", key, &target, detail)
            .await?;
        Ok(stored.entry(&target))
    }

    /// Removes one key's value from one scope; 404 `preference_not_set` when it had none.
    pub async fn unset(&self, principal: &Principal, key: &str, scope: ScopeRef<'_>) -> Result<()> {
        let key = PreferenceKey::parse(key)?;
        let target = self.target(principal, scope, true).await?;
        if self
            .preferences
            .delete_preference(&target, key.name())
            .await?
        {
            Ok(())
        } else {
            Err(not_set(key, &target))
        }
    }

    /// Every key's value as it applies to one of the caller's tasks (`task`), to their
    /// new tasks in a project (`project`), or to their new tasks (neither).
    pub async fn effective(
        &self,
        principal: &Principal,
        task: Option<&str>,
        project: Option<&str>,
    ) -> Result<EffectivePreferences> {
        if task.is_some() && project.is_some() {
            return Err(Error::validation(
                ErrorCode::InvalidQuery,
                "give task or project, not both",
            ));
        }
        if let Some(reference) = task {
            let task = self.tasks.owned_task(principal, reference).await?;
            return Ok(EffectivePreferences {
                task_id: Some(task.id.to_string()),
                project_id: task.project_id.as_ref().map(ToString::to_string),
                preferences: effective_for_task(self.preferences.as_ref(), &task).await?,
            });
        }
        let owner: UserId = principal.user_id.clone();
        let mut targets = vec![PreferenceTarget::System, PreferenceTarget::User(owner)];
        let mut project_id = None;
        if let Some(reference) = project {
            let project = self.projects.owned(principal, reference).await?;
            project_id = Some(project.id.to_string());
            targets.push(PreferenceTarget::Project(project.id));
        }
        Ok(EffectivePreferences {
            task_id: None,
            project_id,
            preferences: layers(self.preferences.as_ref(), &targets).await?,
        })
    }
}

fn not_set(key: PreferenceKey, target: &PreferenceTarget) -> Error {
    Error::not_found(
        ErrorCode::PreferenceNotSet,
        format!("{} is not set at scope {}", key.name(), target.scope()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::service::TaskSettings;
    use crate::wire::{CreateTaskRequest, InputMode};
    use serde_json::json;

    struct Fixture {
        store: Arc<MemoryStore>,
        service: PreferenceService,
        tasks: Arc<TaskService>,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-12-01 00:00 UTC),
        ));
        let projects = Arc::new(ProjectService::new(store.clone(), clock.clone()));
        let tasks = Arc::new(
            TaskService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                clock.clone(),
                TaskSettings::default(),
            )
            .with_projects(projects.clone()),
        );
        let service = PreferenceService::new(store.clone(), tasks.clone(), projects, clock);
        Fixture {
            store,
            service,
            tasks,
        }
    }

    fn set(
        scope: PreferenceScope,
        scope_id: Option<&str>,
        value: serde_json::Value,
    ) -> SetPreferenceRequest {
        SetPreferenceRequest {
            scope,
            scope_id: scope_id.map(str::to_owned),
            value,
        }
    }

    async fn task_of(f: &Fixture, who: &Principal) -> Task {
        let req: CreateTaskRequest = serde_json::from_value(json!({
            "mode": "commands", "commands": ["true"]
        }))
        .unwrap();
        let view = f.tasks.create(who, req).await.unwrap();
        let task = f
            .tasks
            .owned_task(who, view.task_id.as_str())
            .await
            .unwrap();
        assert_eq!(task.mode, InputMode::Commands);
        task
    }

    #[tokio::test]
    async fn a_tasks_own_value_beats_its_owners_which_beats_the_systems() {
        let f = fixture();
        let mut admin = Principal::test_user("root");
        admin.is_admin = true;
        let alice = Principal::test_user("alice");
        let task = task_of(&f, &alice).await;
        let key = "agent.max_steps";
        f.service
            .set(&admin, key, set(PreferenceScope::System, None, json!(12)))
            .await
            .unwrap();
        let effective = effective_for_task(f.store.as_ref(), &task).await.unwrap();
        let steps = effective.iter().find(|p| p.key == key).unwrap();
        assert_eq!(
            (steps.value.clone(), steps.source.as_str()),
            (json!(12), "system")
        );
        f.service
            .set(&alice, key, set(PreferenceScope::User, None, json!(5)))
            .await
            .unwrap();
        f.service
            .set(
                &alice,
                key,
                set(PreferenceScope::Task, Some(task.id.as_str()), json!(2)),
            )
            .await
            .unwrap();
        let shown = f
            .service
            .effective(&alice, Some(task.id.as_str()), None)
            .await
            .unwrap();
        let steps = shown.preferences.iter().find(|p| p.key == key).unwrap();
        assert_eq!(
            (steps.value.clone(), steps.source.as_str()),
            (json!(2), "task")
        );
        f.service
            .unset(
                &alice,
                key,
                ScopeRef {
                    scope: Some("task"),
                    scope_id: Some(task.id.as_str()),
                },
            )
            .await
            .unwrap();
        let steps = effective_for_task(f.store.as_ref(), &task).await.unwrap();
        let steps = steps.iter().find(|p| p.key == key).unwrap();
        assert_eq!(
            (steps.value.clone(), steps.source.as_str()),
            (json!(5), "user")
        );
    }

    #[tokio::test]
    async fn only_admins_change_the_system_and_nobody_reaches_anothers_task() {
        let f = fixture();
        let alice = Principal::test_user("alice");
        let bob = Principal::test_user("bob");
        let err = f
            .service
            .set(
                &alice,
                "agent.max_steps",
                set(PreferenceScope::System, None, json!(3)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        let task = task_of(&f, &alice).await;
        let err = f
            .service
            .set(
                &bob,
                "agent.max_steps",
                set(PreferenceScope::Task, Some(task.id.as_str()), json!(3)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::TaskNotFound);
        let err = f
            .service
            .effective(&bob, Some(task.id.as_str()), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::TaskNotFound);
    }

    #[tokio::test]
    async fn bad_scopes_keys_and_values_are_refused_and_unset_values_are_not_found() {
        let f = fixture();
        let alice = Principal::test_user("alice");
        let scope = |scope, scope_id| ScopeRef { scope, scope_id };
        for (bad, code) in [
            (scope(Some("galaxy"), None), ErrorCode::InvalidScope),
            (scope(Some("task"), None), ErrorCode::InvalidScope),
            (scope(Some("user"), Some("x")), ErrorCode::InvalidScope),
        ] {
            let err = f.service.list(&alice, bad).await.unwrap_err();
            assert_eq!(err.code, code);
        }
        let err = f
            .service
            .set(
                &alice,
                "agent.max_steps",
                set(PreferenceScope::User, None, json!(0)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPreference);
        let err = f
            .service
            .get(&alice, "no.such", ScopeRef::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownPreference);
        let err = f
            .service
            .get(&alice, "task.default_model", ScopeRef::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PreferenceNotSet);
        let err = f
            .service
            .unset(&alice, "task.default_model", ScopeRef::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PreferenceNotSet);
    }
}
