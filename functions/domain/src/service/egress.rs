//! The egress: the one way out to hosted model providers. Before a call it checks that
//! the model id names a registered provider's model, picks the caller's credential (their
//! own, else the system's) and opens it, and applies the user's limits
//! ([`EgressService::grant`]); after the call it records the usage and cost and an audit
//! entry ([`EgressService::record`]). How the call is made (HTTP, retries, streaming) is
//! the gateway's `egress` module; this service never sees a prompt or an answer.

use std::fmt;
use std::sync::Arc;

use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::egress::{
    call_detail, check_budget, cost_micro_usd, limited, minute_of, month_so_far, Spent,
};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{TaskId, UserId};
use crate::ports::{UsageStore, UserStore};
use crate::principal::Principal;
use crate::provider::{split_model_id, Provider};
use crate::service::audit::Auditor;
use crate::service::{CredentialService, ProviderService, SettingsService};
use crate::task::Task;
use crate::usage::{day_of, UsageEntry};
use crate::wire::{InferenceUsage, ProviderModel};
use crate::ErrorCode;

/// A provider's API key, opened for one call. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// Leave to make one call: where to, with which key, on whose account.
#[derive(Debug, Clone)]
pub struct EgressGrant {
    pub provider: Provider,
    pub model: ProviderModel,
    /// The id the caller named: `<provider>/<model>`.
    pub model_id: String,
    pub api_key: ApiKey,
    /// The stored credential's name and whose it is (`user` or `system`), for the trail.
    pub credential_name: String,
    pub credential_scope: &'static str,
    pub actor: Actor,
    pub user: crate::ids::UserId,
    pub task: Option<TaskId>,
    pub started: std::time::Instant,
}

/// How a call ended, as the egress module saw it.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The tokens the provider reported (none when it failed before answering).
    pub usage: Option<InferenceUsage>,
    /// The error code and message when the call failed.
    pub failure: Option<(ErrorCode, String)>,
}

pub struct EgressService {
    registry: Arc<ProviderService>,
    credentials: Arc<CredentialService>,
    usage: Arc<dyn UsageStore>,
    settings: Arc<SettingsService>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    /// Whom a job's calls are charged to (none: jobs may not call).
    users: Option<Arc<dyn UserStore>>,
}

impl EgressService {
    pub fn new(
        registry: Arc<ProviderService>,
        credentials: Arc<CredentialService>,
        usage: Arc<dyn UsageStore>,
        settings: Arc<SettingsService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            registry,
            credentials,
            usage,
            settings,
            clock,
            audit: Auditor::default(),
            users: None,
        }
    }

    /// Lets jobs call, on their owners' accounts.
    pub fn with_users(mut self, users: Arc<dyn UserStore>) -> Self {
        self.users = Some(users);
        self
    }

    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// Every provider model's id (`<provider>/<model>`), for `/v1/models`.
    pub async fn model_ids(&self) -> Result<Vec<String>> {
        let providers = self.registry.all().await?;
        Ok(providers
            .iter()
            .flat_map(|p| {
                p.models
                    .iter()
                    .map(move |m| format!("{}/{}", p.name, m.name))
            })
            .collect())
    }

    /// `None` when `model_id` names no registered provider (a node's model, which may
    /// hold a `/` too); else leave for the call, or why not: the provider does not offer
    /// the model (404), no credential is attached or it cannot be opened (403, 409), or a
    /// limit is reached (429). A refusal for a limit is on the audit trail.
    pub async fn grant(
        &self,
        principal: &Principal,
        model_id: &str,
    ) -> Result<Option<EgressGrant>> {
        let actor = async { Ok(Actor::of(principal)) };
        self.grant_as(&principal.user_id, actor, model_id, None)
            .await
    }

    /// Leave for a call of `task`'s job, on its owner's account (their credential, their
    /// limits; the trail names the task). The owner must still be an enabled user: a
    /// disabled one's jobs spend nothing (403 `user_disabled`).
    pub async fn grant_for_task(&self, task: &Task, model_id: &str) -> Result<EgressGrant> {
        let users = self
            .users
            .as_ref()
            .ok_or_else(|| Error::internal("this egress has no users to charge jobs to"))?;
        // The owner is read beside the call's first reads.
        let actor = async {
            let owner = users
                .user_by_id(&task.owner)
                .await?
                .filter(|user| user.disabled_at.is_none())
                .ok_or_else(|| {
                    Error::forbidden(
                        ErrorCode::UserDisabled,
                        "the task's owner is disabled or gone: its jobs may call no hosted model",
                    )
                })?;
            Ok(Actor::User {
                id: owner.id,
                handle: owner.handle,
            })
        };
        self.grant_as(&task.owner, actor, model_id, Some(&task.id))
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    ErrorCode::ModelNotFound,
                    format!("'{model_id}' names no registered provider"),
                )
            })
    }

    /// Leave for `user`'s call of `model_id`; `actor` (who the trail names) is worked out
    /// beside the first reads.
    async fn grant_as(
        &self,
        user: &UserId,
        actor: impl std::future::Future<Output = Result<Actor>>,
        model_id: &str,
        task: Option<&TaskId>,
    ) -> Result<Option<EgressGrant>> {
        let Some((provider_name, model_name)) = split_model_id(model_id) else {
            return Ok(None);
        };
        // The provider, the caller's attachments and who they are at once: they are the
        // call's first reads.
        let (provider, attached, actor) = futures_util::future::join3(
            self.registry.named(provider_name),
            self.registry.credential_for(user, provider_name),
            actor,
        )
        .await;
        let actor = actor?;
        let Some(provider) = provider? else {
            return Ok(None);
        };
        let model = provider.model(model_name).cloned().ok_or_else(|| {
            Error::not_found(
                ErrorCode::ModelNotFound,
                format!(
                    "provider '{}' offers no model '{model_name}'; GET /v1/models lists them",
                    provider.name
                ),
            )
            .with_param("model")
        })?;
        let attached = attached?.ok_or_else(|| missing_credential(&provider.name))?;
        // The key opened while the limits are read.
        let (key, limits) = futures_util::future::join(
            self.credentials
                .open(&attached.owner, &attached.credential_name),
            self.check_limits(user),
        )
        .await;
        let key = key.map_err(|err| match err.kind {
            // Deleted since it was attached.
            ErrorKind::NotFound => missing_credential(&provider.name),
            _ => err,
        })?;
        if let Err(refused) = limits {
            let mut record =
                AuditRecord::new("egress.call", actor, model_id).failed(refused.code.as_str());
            if let Some(task) = task {
                record = record.for_task(task);
            }
            self.audit.record(record).await?;
            return Err(refused);
        }
        Ok(Some(EgressGrant {
            model_id: format!("{}/{}", provider.name, model.name),
            provider,
            model,
            api_key: ApiKey(key),
            credential_name: attached.credential_name.clone(),
            credential_scope: attached.scope().as_str(),
            actor,
            user: user.clone(),
            task: task.cloned(),
            started: std::time::Instant::now(),
        }))
    }

    async fn check_limits(&self, user: &UserId) -> Result<()> {
        let limits = self.settings.current().await?.egress;
        if !limited(&limits) {
            return Ok(());
        }
        let now = self.clock.now();
        let (first, today) = month_so_far(now);
        let (minute, rows) = futures_util::future::join(
            self.usage.minute_tokens(user, &minute_of(now)),
            self.usage.usage(user, &first, &today),
        )
        .await;
        check_budget(&limits, &Spent::of(&rows?, &today, minute?), now)
    }

    /// Records a call: its tokens and cost on the user's usage (and the minute's count),
    /// and an `egress.call` audit entry with counts, cost, latency and outcome.
    pub async fn record(&self, grant: &EgressGrant, outcome: CallOutcome) -> Result<()> {
        let now = self.clock.now();
        let usage = outcome.usage.unwrap_or_default();
        let cost = cost_micro_usd(&grant.model, &usage);
        let tokens = usage.prompt_tokens + usage.completion_tokens;
        if outcome.usage.is_some() {
            let entry = UsageEntry {
                user: grant.user.clone(),
                day: day_of(now),
                model: grant.model_id.clone(),
                usage: InferenceUsage { calls: 1, ..usage },
                cost_micro_usd: cost,
            };
            let expires = now + time::Duration::hours(1);
            let (added, counted) = futures_util::future::join(
                self.usage.add_usage(&entry),
                self.usage
                    .add_minute_tokens(&grant.user, &minute_of(now), tokens, expires),
            )
            .await;
            added?;
            counted?;
        }
        let latency_ms = grant.started.elapsed().as_millis() as u64;
        let detail = call_detail(
            &usage,
            cost,
            latency_ms,
            &grant.credential_name,
            grant.credential_scope,
        );
        let mut record = AuditRecord::new("egress.call", grant.actor.clone(), &grant.model_id);
        record = match outcome.failure {
            Some((code, _)) => record.failed(format!("{} {detail}", code.as_str())),
            None => record.detail(detail),
        };
        if let Some(task) = &grant.task {
            record = record.for_task(task);
        }
        self.audit.record(record).await
    }
}

fn missing_credential(provider: &str) -> Error {
    Error::forbidden(
        ErrorCode::ProviderCredentialMissing,
        format!(
            "no credential is attached to provider '{provider}' for you: store your key (cynork creds create NAME --provider {provider}) and attach it (cynork creds attach NAME --provider {provider}), or ask an admin to attach one for everyone"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::settings::Settings;
    use crate::wire::{
        AttachCredentialRequest, CreateCredentialRequest, CreateProviderRequest, ProviderKind,
    };
    use time::macros::datetime;

    struct World {
        egress: EgressService,
        providers: Arc<ProviderService>,
        credentials: Arc<CredentialService>,
        settings: Arc<SettingsService>,
    }

    fn world(store: &Arc<MemoryStore>) -> World {
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 10:00 UTC)));
        let providers = Arc::new(ProviderService::new(
            store.clone(),
            store.clone(),
            clock.clone(),
            vec![],
        ));
        let credentials = Arc::new(CredentialService::new(
            store.clone(),
            Some(store.clone()),
            store.clone(),
            clock.clone(),
        ));
        let settings = Arc::new(SettingsService::new(
            store.clone(),
            clock.clone(),
            Settings::for_tests(),
            0,
        ));
        World {
            egress: EgressService::new(
                providers.clone(),
                credentials.clone(),
                store.clone(),
                settings.clone(),
                clock,
            ),
            providers,
            credentials,
            settings,
        }
    }

    /// `who` stores `value` as their credential "mine" and attaches it to "router".
    async fn attach_own(w: &World, who: &Principal, value: &str) {
        w.credentials
            .create(
                who,
                CreateCredentialRequest {
                    name: "mine".into(),
                    provider: "router".into(),
                    value: value.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        w.providers
            .attach(
                who,
                "router",
                AttachCredentialRequest {
                    credential_name: "mine".into(),
                    scope: Default::default(),
                },
            )
            .await
            .unwrap();
    }

    async fn registered(w: &World, root: &Principal) {
        w.providers
            .create(
                root,
                CreateProviderRequest {
                    name: "router".into(),
                    kind: ProviderKind::Openai,
                    base_url: "https://router.example/v1".into(),
                    models: vec![ProviderModel {
                        name: "org/big".into(),
                        input_usd_per_mtok: 1.0,
                        output_usd_per_mtok: 2.0,
                    }],
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_call_needs_a_provider_model_and_a_credential_and_is_recorded_with_its_cost() {
        let store = Arc::new(MemoryStore::default());
        let w = world(&store);
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        let alice = Principal::test_user("alice");
        registered(&w, &root).await;

        // Not a provider's: the caller routes it to a node.
        assert!(w.egress.grant(&alice, "hf.co/x/y").await.unwrap().is_none());
        assert!(w.egress.grant(&alice, "smollm2").await.unwrap().is_none());
        let err = w.egress.grant(&alice, "router/other").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ModelNotFound);
        let err = w.egress.grant(&alice, "router/org/big").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ProviderCredentialMissing);

        attach_own(&w, &alice, "sk-alice-secret").await;
        let grant = w
            .egress
            .grant(&alice, "router/org/big")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grant.api_key.expose(), "sk-alice-secret");
        assert!(!format!("{grant:?}").contains("sk-alice"), "{grant:?}");
        assert_eq!(grant.model.name, "org/big");

        let usage = InferenceUsage {
            calls: 1,
            prompt_tokens: 1000,
            completion_tokens: 500,
            ..InferenceUsage::default()
        };
        w.egress
            .record(
                &grant,
                CallOutcome {
                    usage: Some(usage),
                    failure: None,
                },
            )
            .await
            .unwrap();
        let rows = store
            .usage(&alice.user_id, "2026-12-07", "2026-12-07")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].model.as_str(),
                rows[0].calls,
                rows[0].cost_micro_usd
            ),
            ("router/org/big", 1, 2000)
        );

        // A daily budget of 0.1 cent (1000 micro-dollars) is spent: the next call waits.
        let mut admin = root.clone();
        admin.is_admin = true;
        w.settings
            .set(
                &admin,
                "egress.max_usd_cents_per_day_per_user",
                crate::wire::SetSettingRequest {
                    value: serde_json::json!(1),
                    version: None,
                },
            )
            .await
            .unwrap();
        w.egress
            .grant(&alice, "router/org/big")
            .await
            .unwrap()
            .unwrap();
        store
            .add_usage(&UsageEntry {
                user: alice.user_id.clone(),
                day: "2026-12-07".into(),
                model: "router/org/big".into(),
                usage,
                cost_micro_usd: 8_000,
            })
            .await
            .unwrap();
        let err = w.egress.grant(&alice, "router/org/big").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::BudgetExhausted);
    }

    #[tokio::test]
    async fn a_jobs_call_is_its_tasks_owners_while_they_are_enabled() {
        use crate::ports::UserStore;
        use crate::user::User;
        let store = Arc::new(MemoryStore::default());
        let w = world(&store);
        let egress = EgressService::new(
            w.providers.clone(),
            w.credentials.clone(),
            store.clone(),
            w.settings.clone(),
            Arc::new(ManualClock::new(datetime!(2026-12-07 10:00 UTC))),
        )
        .with_users(store.clone());
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        registered(&w, &root).await;
        let owner = User::new(
            "alice".into(),
            "hash".into(),
            false,
            datetime!(2026-12-01 10:00 UTC),
        );
        store.insert_user(&owner).await.unwrap();
        let mut alice = Principal::test_user("alice");
        alice.user_id = owner.id.clone();
        attach_own(&w, &alice, "sk-alice-job").await;
        let mut task = crate::job::tests::task();
        task.owner = owner.id.clone();
        let grant = egress
            .grant_for_task(&task, "router/org/big")
            .await
            .unwrap();
        assert_eq!(grant.api_key.expose(), "sk-alice-job");
        assert_eq!(grant.task.as_ref(), Some(&task.id));
        assert_eq!(grant.user, owner.id);
        assert!(matches!(&grant.actor, Actor::User { handle, .. } if handle == "alice"));
        // Without an egress to charge jobs to, or once the owner is disabled: refused.
        let update = crate::user::UserUpdate {
            disabled_at: Some(Some(datetime!(2026-12-07 09:00 UTC))),
            ..Default::default()
        };
        store.update_user(&owner.id, &update, None).await.unwrap();
        let refused = egress
            .grant_for_task(&task, "router/org/big")
            .await
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::UserDisabled);
        let refused = w
            .egress
            .grant_for_task(&task, "router/org/big")
            .await
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Internal);
    }
}
