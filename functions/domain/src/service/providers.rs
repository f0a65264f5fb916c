//! The registry of hosted model providers: admins register and remove them; every user
//! lists them and attaches one of their stored credentials to one (admins also for
//! everyone). [`ProviderService::credential_for`] says which credential a user's call to
//! a provider uses: their own, else the system's. Changes are on the audit trail.

use std::sync::Arc;

use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::UserId;
use crate::ports::{CredentialStore, ProviderStore};
use crate::principal::{require_admin, Principal};
use crate::provider::{Provider, ProviderCredential};
use crate::service::audit::Auditor;
use crate::task::normalize_name;
use crate::wire::{
    AttachCredentialRequest, AttachScope, CreateProviderRequest, ProviderList, ProviderView,
};
use crate::ErrorCode;

pub struct ProviderService {
    providers: Arc<dyn ProviderStore>,
    credentials: Arc<dyn CredentialStore>,
    clock: Arc<dyn Clock>,
    /// Hosts a provider's base URL may name over plain http.
    plain_http_hosts: Vec<String>,
    audit: Auditor,
}

fn not_found(name: &str) -> Error {
    Error::not_found(
        ErrorCode::ProviderNotFound,
        format!(
            "no provider '{}'; GET /v1/providers lists them",
            name.chars().take(64).collect::<String>()
        ),
    )
}

impl ProviderService {
    pub fn new(
        providers: Arc<dyn ProviderStore>,
        credentials: Arc<dyn CredentialStore>,
        clock: Arc<dyn Clock>,
        plain_http_hosts: Vec<String>,
    ) -> Self {
        Self {
            providers,
            credentials,
            clock,
            plain_http_hosts,
            audit: Auditor::default(),
        }
    }

    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    /// Registers a provider (admins); 409 `provider_name_taken` when the name is used.
    pub async fn create(
        &self,
        principal: &Principal,
        req: CreateProviderRequest,
    ) -> Result<ProviderView> {
        require_admin(principal)?;
        let provider = Provider::new(req, &self.plain_http_hosts, self.clock.now())?;
        match self.providers.create_provider(&provider).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::conflict(
                    ErrorCode::ProviderNameTaken,
                    format!(
                        "a provider named '{}' exists; remove it first",
                        provider.name
                    ),
                ))
            }
            Err(err) => return Err(err.into()),
        }
        let record = AuditRecord::new(
            "provider.create",
            Actor::of(principal),
            format!("provider:{}", provider.name),
        )
        .detail(format!(
            "kind={} base_url={} models={}",
            provider.kind.as_str(),
            provider.base_url,
            provider.models.len()
        ));
        self.audit.record(record).await?;
        self.view_for(principal, &provider).await
    }

    pub async fn list(&self, principal: &Principal) -> Result<ProviderList> {
        let mut providers = Vec::new();
        for provider in self.providers.providers().await? {
            providers.push(self.view_for(principal, &provider).await?);
        }
        Ok(ProviderList { providers })
    }

    pub async fn get(&self, principal: &Principal, name: &str) -> Result<ProviderView> {
        let provider = self.provider(name).await?;
        self.view_for(principal, &provider).await
    }

    /// Removes a provider and every credential attached to it (admins); the stored
    /// credentials themselves stay with their owners.
    pub async fn delete(&self, principal: &Principal, name: &str) -> Result<()> {
        require_admin(principal)?;
        let name = normalize_name(name, ErrorCode::ProviderNotFound, "provider")?;
        if !self.providers.delete_provider(&name).await? {
            return Err(not_found(&name));
        }
        let record = AuditRecord::new(
            "provider.delete",
            Actor::of(principal),
            format!("provider:{name}"),
        );
        self.audit.record(record).await?;
        Ok(())
    }

    /// Attaches one of the caller's stored credentials to the provider: for their own
    /// calls, or (`system`, admins) for everyone who attached none.
    pub async fn attach(
        &self,
        principal: &Principal,
        provider: &str,
        req: AttachCredentialRequest,
    ) -> Result<ProviderView> {
        if req.scope == AttachScope::System {
            require_admin(principal)?;
        }
        let provider = self.provider(provider).await?;
        let name = normalize_name(
            &req.credential_name,
            ErrorCode::CredentialNotFound,
            "credential_name",
        )?;
        if self
            .credentials
            .stored_credential(&principal.user_id, &name)
            .await?
            .is_none()
        {
            return Err(Error::not_found(
                ErrorCode::CredentialNotFound,
                format!("you have no stored credential '{name}'; cynork creds create {name} first"),
            ));
        }
        let attachment = ProviderCredential {
            provider: provider.name.clone(),
            owner: principal.user_id.clone(),
            credential_name: name.clone(),
            for_everyone: req.scope == AttachScope::System,
            attached_at: self.clock.now(),
        };
        self.providers.attach(&attachment).await?;
        let record = AuditRecord::new(
            "provider.attach",
            Actor::of(principal),
            format!("provider:{}", provider.name),
        )
        .detail(format!("credential={name} scope={}", req.scope.as_str()));
        self.audit.record(record).await?;
        self.view_for(principal, &provider).await
    }

    /// Detaches the caller's own credential, or (`system`, admins) everyone's default.
    pub async fn detach(
        &self,
        principal: &Principal,
        provider: &str,
        scope: AttachScope,
    ) -> Result<ProviderView> {
        if scope == AttachScope::System {
            require_admin(principal)?;
        }
        let provider = self.provider(provider).await?;
        let owner = (scope == AttachScope::User).then_some(&principal.user_id);
        if !self.providers.detach(&provider.name, owner).await? {
            return Err(Error::not_found(
                ErrorCode::CredentialNotFound,
                format!(
                    "no {} credential is attached to provider '{}'",
                    scope.as_str(),
                    provider.name
                ),
            ));
        }
        let record = AuditRecord::new(
            "provider.detach",
            Actor::of(principal),
            format!("provider:{}", provider.name),
        )
        .detail(format!("scope={}", scope.as_str()));
        self.audit.record(record).await?;
        self.view_for(principal, &provider).await
    }

    /// The provider stored as `name` exactly (a model id's first part), if any.
    pub async fn named(&self, name: &str) -> Result<Option<Provider>> {
        Ok(self.providers.provider(name).await?)
    }

    /// Every provider, by name.
    pub async fn all(&self) -> Result<Vec<Provider>> {
        Ok(self.providers.providers().await?)
    }

    /// The credential a user's calls to `provider` use: their own, else the system's.
    pub async fn credential_for(
        &self,
        user: &UserId,
        provider: &str,
    ) -> Result<Option<ProviderCredential>> {
        let (own, system) = futures_util::future::join(
            self.providers.attachment(provider, Some(user)),
            self.providers.attachment(provider, None),
        )
        .await;
        Ok(own?.or(system?))
    }

    async fn provider(&self, name: &str) -> Result<Provider> {
        let name = normalize_name(name, ErrorCode::ProviderNotFound, "provider")?;
        self.providers
            .provider(&name)
            .await?
            .ok_or_else(|| not_found(&name))
    }

    async fn view_for(&self, principal: &Principal, provider: &Provider) -> Result<ProviderView> {
        let credential = self
            .credential_for(&principal.user_id, &provider.name)
            .await?;
        Ok(provider.view(credential.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::service::CredentialService;
    use crate::wire::{CreateCredentialRequest, ProviderKind, ProviderModel};
    use time::macros::datetime;

    fn services(store: &Arc<MemoryStore>) -> (ProviderService, CredentialService) {
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 00:00 UTC)));
        (
            ProviderService::new(store.clone(), store.clone(), clock.clone(), vec![]),
            CredentialService::new(store.clone(), Some(store.clone()), store.clone(), clock),
        )
    }

    fn openrouter() -> CreateProviderRequest {
        CreateProviderRequest {
            name: "OpenRouter".into(),
            kind: ProviderKind::Openai,
            base_url: "https://openrouter.ai/api/v1".into(),
            models: vec![ProviderModel {
                name: "meta-llama/llama-3.1-8b".into(),
                input_usd_per_mtok: 0.05,
                output_usd_per_mtok: 0.08,
            }],
        }
    }

    fn key(name: &str) -> CreateCredentialRequest {
        CreateCredentialRequest {
            name: name.into(),
            provider: "openrouter".into(),
            value: format!("sk-{name}"),
            description: None,
        }
    }

    fn attach(name: &str, scope: AttachScope) -> AttachCredentialRequest {
        AttachCredentialRequest {
            credential_name: name.into(),
            scope,
        }
    }

    #[tokio::test]
    async fn a_users_own_credential_wins_over_the_systems_and_leaves_with_the_provider() {
        let store = Arc::new(MemoryStore::default());
        let (providers, credentials) = services(&store);
        let mut root = Principal::test_user("root");
        root.is_admin = true;
        let (alice, bob) = (Principal::test_user("alice"), Principal::test_user("bob"));

        let err = providers.create(&alice, openrouter()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        let view = providers.create(&root, openrouter()).await.unwrap();
        assert_eq!(
            (view.name.as_str(), view.credential.as_ref()),
            ("openrouter", None)
        );
        let err = providers.create(&root, openrouter()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ProviderNameTaken);

        credentials.create(&root, key("team")).await.unwrap();
        credentials.create(&alice, key("mine")).await.unwrap();
        let err = providers
            .attach(&alice, "openrouter", attach("mine", AttachScope::System))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AdminRequired);
        let err = providers
            .attach(&alice, "openrouter", attach("team", AttachScope::User))
            .await
            .unwrap_err();
        assert_eq!(
            err.code,
            ErrorCode::CredentialNotFound,
            "another's credential"
        );
        providers
            .attach(&root, "openrouter", attach("team", AttachScope::System))
            .await
            .unwrap();
        providers
            .attach(&alice, "openrouter", attach("mine", AttachScope::User))
            .await
            .unwrap();

        let hers = providers
            .credential_for(&alice.user_id, "openrouter")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (hers.credential_name.as_str(), hers.owner.clone()),
            ("mine", alice.user_id.clone())
        );
        let his = providers
            .credential_for(&bob.user_id, "openrouter")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (his.credential_name.as_str(), his.scope()),
            ("team", AttachScope::System)
        );

        providers
            .detach(&alice, "openrouter", AttachScope::User)
            .await
            .unwrap();
        let hers = providers
            .credential_for(&alice.user_id, "openrouter")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hers.credential_name, "team");

        providers.delete(&root, "openrouter").await.unwrap();
        assert_eq!(
            providers
                .credential_for(&bob.user_id, "openrouter")
                .await
                .unwrap(),
            None
        );
        let err = providers.get(&bob, "openrouter").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ProviderNotFound);
    }
}
