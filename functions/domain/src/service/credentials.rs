//! A user's stored credentials: made, listed, rotated, disabled and deleted by their
//! owner, the value sealed before it is stored and never shown again. The claim of a
//! planned-work job opens one ([`CredentialService::open`]) when the job's project names
//! it; every change and every use goes on the audit trail.

use std::sync::Arc;

use crate::audit::{Actor, AuditRecord};
use crate::clock::Clock;
use crate::credential::{credential_name, StoredCredential};
use crate::error::{Error, Result, StoreError};
use crate::ids::UserId;
use crate::ports::{CredentialCipher, CredentialStore, ProjectStore};
use crate::principal::Principal;
use crate::project::check_credential_text;
use crate::service::audit::Auditor;
use crate::wire::{
    CreateCredentialRequest, CredentialList, CredentialView, RotateCredentialRequest,
    UpdateCredentialRequest,
};
use crate::ErrorCode;

pub struct CredentialService {
    credentials: Arc<dyn CredentialStore>,
    /// `None` where this deployment seals nothing (no key configured): every write and
    /// open is then a 503 that says so.
    cipher: Option<Arc<dyn CredentialCipher>>,
    projects: Arc<dyn ProjectStore>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
}

fn not_found(name: &str) -> Error {
    Error::not_found(
        ErrorCode::CredentialNotFound,
        format!(
            "no credential '{}'",
            name.chars().take(64).collect::<String>()
        ),
    )
}

fn subject(credential: &StoredCredential) -> String {
    format!("credential:{}", credential.name)
}

impl CredentialService {
    pub fn new(
        credentials: Arc<dyn CredentialStore>,
        cipher: Option<Arc<dyn CredentialCipher>>,
        projects: Arc<dyn ProjectStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            credentials,
            cipher,
            projects,
            clock,
            audit: Auditor::default(),
        }
    }

    /// Records every credential made, changed and deleted (the claim records each use).
    pub fn with_audit(mut self, audit: Auditor) -> Self {
        self.audit = audit;
        self
    }

    fn cipher(&self) -> Result<&dyn CredentialCipher> {
        self.cipher.as_deref().ok_or_else(|| {
            Error::unavailable(
                "stored credentials are not available here: no encryption key is configured (CYNODE_CREDENTIALS_KEY_ID)",
            )
        })
    }

    pub async fn create(
        &self,
        principal: &Principal,
        req: CreateCredentialRequest,
    ) -> Result<CredentialView> {
        let credential = StoredCredential::create(&principal.user_id, &req, self.clock.now())?;
        let sealed = self
            .cipher()?
            .seal(&req.value, &credential.seal_context())
            .await?;
        match self
            .credentials
            .insert_credential(&credential, &sealed)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::conflict(
                    ErrorCode::CredentialNameTaken,
                    format!(
                        "you already have a credential named '{}'; rotate it to change its value",
                        credential.name
                    ),
                ))
            }
            Err(err) => return Err(err.into()),
        }
        let record = AuditRecord::new(
            "credential.create",
            Actor::of(principal),
            subject(&credential),
        )
        .detail(format!("provider={}", credential.provider));
        self.audit.record(record).await?;
        Ok(credential.view())
    }

    pub async fn list(&self, principal: &Principal) -> Result<CredentialList> {
        let mut credentials = self.credentials.credentials(&principal.user_id).await?;
        credentials.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(CredentialList {
            credentials: credentials.iter().map(StoredCredential::view).collect(),
        })
    }

    /// The caller's credential called `name` (as given: normalized here).
    async fn owned(&self, owner: &UserId, name: &str) -> Result<StoredCredential> {
        let key = credential_name(name).map_err(|_| not_found(name))?;
        self.credentials
            .stored_credential(owner, &key)
            .await?
            .ok_or_else(|| not_found(name))
    }

    pub async fn get(&self, principal: &Principal, name: &str) -> Result<CredentialView> {
        Ok(self.owned(&principal.user_id, name).await?.view())
    }

    /// Replaces the value; every job claimed from now on gets the new one.
    pub async fn rotate(
        &self,
        principal: &Principal,
        name: &str,
        req: RotateCredentialRequest,
    ) -> Result<CredentialView> {
        check_credential_text(&req.value, "value")?;
        let credential = self.owned(&principal.user_id, name).await?;
        let next = credential.rotated(self.clock.now());
        let sealed = self
            .cipher()?
            .seal(&req.value, &next.seal_context())
            .await?;
        self.write(&next, Some(&sealed)).await?;
        let record = AuditRecord::new("credential.rotate", Actor::of(principal), subject(&next));
        self.audit.record(record).await?;
        Ok(next.view())
    }

    /// Enables, disables or describes a credential. A disabled one is handed to no job.
    pub async fn update(
        &self,
        principal: &Principal,
        name: &str,
        req: UpdateCredentialRequest,
    ) -> Result<CredentialView> {
        let credential = self.owned(&principal.user_id, name).await?;
        let Some(next) = credential.updated(&req, self.clock.now())? else {
            return Ok(credential.view());
        };
        self.write(&next, None).await?;
        let action = match (credential.enabled, next.enabled) {
            (true, false) => "credential.disable",
            (false, true) => "credential.enable",
            _ => "credential.update",
        };
        let record = AuditRecord::new(action, Actor::of(principal), subject(&next));
        self.audit.record(record).await?;
        Ok(next.view())
    }

    async fn write(
        &self,
        next: &StoredCredential,
        sealed: Option<&crate::credential::Sealed>,
    ) -> Result<()> {
        match self.credentials.update_credential(next, sealed).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(Error::conflict(
                ErrorCode::ConcurrentUpdate,
                format!("credential '{}' changed meanwhile; try again", next.name),
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes a credential and its value; refused while a project of the caller's uses it.
    pub async fn delete(&self, principal: &Principal, name: &str) -> Result<()> {
        let credential = self.owned(&principal.user_id, name).await?;
        let mut users: Vec<String> = self
            .projects
            .list_projects(&principal.user_id)
            .await?
            .into_iter()
            .filter(|p| p.credential_name.as_deref() == Some(credential.name.as_str()))
            .map(|p| p.name)
            .collect();
        if !users.is_empty() {
            users.sort();
            return Err(Error::conflict(
                ErrorCode::CredentialInUse,
                format!(
                    "credential '{}' is used by project(s) {}; point them elsewhere first (cynork project update --credential-name …)",
                    credential.name,
                    users.join(", ")
                ),
            ));
        }
        match self.credentials.delete_credential(&credential).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::conflict(
                    ErrorCode::ConcurrentUpdate,
                    format!(
                        "credential '{}' changed meanwhile; try again",
                        credential.name
                    ),
                ))
            }
            Err(err) => return Err(err.into()),
        }
        let record = AuditRecord::new(
            "credential.delete",
            Actor::of(principal),
            subject(&credential),
        );
        self.audit.record(record).await?;
        Ok(())
    }

    /// The value of `owner`'s credential `name`, for a job: refused when it is gone or
    /// disabled. The caller records the use, with the job's task.
    pub async fn open(&self, owner: &UserId, name: &str) -> Result<String> {
        let credential = self
            .credentials
            .stored_credential(owner, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        if !credential.enabled {
            return Err(Error::conflict(
                ErrorCode::CredentialDisabled,
                format!("credential '{name}' is disabled; enable it (cynork creds enable {name}) or name another"),
            ));
        }
        let sealed = self
            .credentials
            .sealed_value(&credential)
            .await?
            .ok_or_else(|| Error::internal(format!("credential '{name}' has no stored value")))?;
        Ok(self
            .cipher()?
            .open(&sealed, &credential.seal_context())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use crate::service::ProjectService;
    use crate::wire::{CreateProjectRequest, UpdateProjectRequest};
    use time::macros::datetime;

    fn service(store: &Arc<MemoryStore>) -> CredentialService {
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 00:00 UTC)));
        CredentialService::new(store.clone(), Some(store.clone()), store.clone(), clock)
    }

    fn create(value: &str) -> CreateCredentialRequest {
        CreateCredentialRequest {
            name: "Forge Bot".into(),
            provider: "github".into(),
            value: value.into(),
            description: None,
        }
    }

    #[tokio::test]
    async fn a_credential_is_sealed_per_owner_rotated_disabled_and_opened_only_when_enabled() {
        let store = Arc::new(MemoryStore::default());
        let service = service(&store);
        let (alice, bob) = (Principal::test_user("alice"), Principal::test_user("bob"));
        let view = service.create(&alice, create("ghp_one")).await.unwrap();
        assert_eq!((view.name.as_str(), view.enabled), ("forge-bot", true));
        let stored = store
            .stored_credential(&alice.user_id, "forge-bot")
            .await
            .unwrap()
            .unwrap();
        let sealed = store.sealed_value(&stored).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&sealed.0).contains("ghp_one"));
        let err = service.create(&alice, create("again")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::CredentialNameTaken);
        // Bob's credential of the same name is his own; he cannot see or open Alice's.
        assert_eq!(
            service.get(&bob, "forge-bot").await.unwrap_err().code,
            ErrorCode::CredentialNotFound
        );
        service.create(&bob, create("ghp_bob")).await.unwrap();
        assert_eq!(
            service.open(&bob.user_id, "forge-bot").await.unwrap(),
            "ghp_bob"
        );
        assert_eq!(
            service.open(&alice.user_id, "forge-bot").await.unwrap(),
            "ghp_one"
        );

        let rotated = service
            .rotate(
                &alice,
                "Forge Bot",
                RotateCredentialRequest {
                    value: "ghp_two".into(),
                },
            )
            .await
            .unwrap();
        assert!(rotated.rotated_at.is_some());
        assert_eq!(
            service.open(&alice.user_id, "forge-bot").await.unwrap(),
            "ghp_two"
        );

        let disable = UpdateCredentialRequest {
            enabled: Some(false),
            description: None,
        };
        assert!(
            !service
                .update(&alice, "forge-bot", disable)
                .await
                .unwrap()
                .enabled
        );
        let err = service.open(&alice.user_id, "forge-bot").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::CredentialDisabled);

        // A value moved onto another credential's item opens nowhere.
        let bobs = store
            .stored_credential(&bob.user_id, "forge-bot")
            .await
            .unwrap()
            .unwrap();
        let alices = store
            .sealed_value(
                &store
                    .stored_credential(&alice.user_id, "forge-bot")
                    .await
                    .unwrap()
                    .unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        store
            .update_credential(
                &StoredCredential {
                    version: bobs.version + 1,
                    ..bobs
                },
                Some(&alices),
            )
            .await
            .unwrap();
        assert!(service.open(&bob.user_id, "forge-bot").await.is_err());
        assert_eq!(service.list(&alice).await.unwrap().credentials.len(), 1);
    }

    #[tokio::test]
    async fn a_credential_a_project_uses_cannot_be_deleted_until_the_project_lets_go() {
        let store = Arc::new(MemoryStore::default());
        let service = service(&store);
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 00:00 UTC)));
        let projects = ProjectService::new(store.clone(), clock).with_credentials(store.clone());
        let alice = Principal::test_user("alice");
        service.create(&alice, create("ghp_one")).await.unwrap();
        let mut req = CreateProjectRequest {
            name: "site".into(),
            repo_url: "https://example.com/site.git".into(),
            credential_name: Some("nope".into()),
            ..Default::default()
        };
        let err = projects.create(&alice, req.clone()).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::CredentialNotFound);
        req.credential_name = Some("Forge Bot".into());
        let project = projects.create(&alice, req).await.unwrap();
        assert_eq!(project.credential_name.as_deref(), Some("forge-bot"));
        let err = service.delete(&alice, "forge-bot").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::CredentialInUse);
        assert!(err.message.contains("site"), "{}", err.message);
        let let_go = UpdateProjectRequest {
            credential_name: Some(String::new()),
            ..Default::default()
        };
        projects.update(&alice, "site", let_go).await.unwrap();
        service.delete(&alice, "forge-bot").await.unwrap();
        assert_eq!(
            service.delete(&alice, "forge-bot").await.unwrap_err().code,
            ErrorCode::CredentialNotFound
        );
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_stored_and_the_error_says_why() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 00:00 UTC)));
        let service = CredentialService::new(store.clone(), None, store.clone(), clock);
        let alice = Principal::test_user("alice");
        let err = service.create(&alice, create("v")).await.unwrap_err();
        assert!(
            err.message.contains("CYNODE_CREDENTIALS_KEY_ID"),
            "{}",
            err.message
        );
        assert!(store.credentials(&alice.user_id).await.unwrap().is_empty());
    }
}
