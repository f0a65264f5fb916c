//! A user's projects: create, list, get, update, delete. Owner-only like tasks: anyone
//! else's project is "not found", by id or by name.

use crate::ErrorCode;
use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, Result, StoreError};
use crate::ids::ProjectId;
use crate::ports::{CredentialStore, ProjectStore};
use crate::principal::Principal;
use crate::project::Project;
use crate::wire::{CreateProjectRequest, ProjectList, ProjectView, UpdateProjectRequest};

pub struct ProjectService {
    projects: Arc<dyn ProjectStore>,
    /// Where a project's `credential_name` must name one of its owner's credentials.
    credentials: Option<Arc<dyn CredentialStore>>,
    clock: Arc<dyn Clock>,
}

fn not_found(reference: &str) -> Error {
    Error::not_found(
        ErrorCode::ProjectNotFound,
        format!("no project '{reference}'"),
    )
}

impl ProjectService {
    pub fn new(projects: Arc<dyn ProjectStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            projects,
            credentials: None,
            clock,
        }
    }

    /// Lets projects name their owner's stored credentials.
    pub fn with_credentials(mut self, credentials: Arc<dyn CredentialStore>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Refuses a stored credential the owner does not have (named anew by `next`).
    async fn check_reference(&self, next: &Project, before: Option<&Project>) -> Result<()> {
        let Some(name) = &next.credential_name else {
            return Ok(());
        };
        if before.and_then(|p| p.credential_name.as_ref()) == Some(name) {
            return Ok(());
        }
        let credentials = self.credentials.as_ref().ok_or_else(|| {
            Error::unavailable("stored credentials are not available to this function")
        })?;
        if credentials
            .stored_credential(&next.owner, name)
            .await?
            .is_none()
        {
            return Err(Error::not_found(
                ErrorCode::CredentialNotFound,
                format!("credential_name: you have no credential '{name}' (cynork creds list)"),
            ));
        }
        Ok(())
    }

    pub async fn create(
        &self,
        principal: &Principal,
        req: CreateProjectRequest,
    ) -> Result<ProjectView> {
        let (project, credential) = Project::create(&principal.user_id, req, self.clock.now())?;
        self.check_reference(&project, None).await?;
        match self.projects.insert_project(&project, &credential).await {
            Ok(()) => Ok(project.view()),
            Err(StoreError::Conflict(_)) => Err(Error::conflict(
                ErrorCode::ProjectNameTaken,
                format!("you already have a project named '{}'", project.name),
            )),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn list(&self, principal: &Principal) -> Result<ProjectList> {
        let mut projects = self.projects.list_projects(&principal.user_id).await?;
        projects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ProjectList {
            projects: projects.iter().map(Project::view).collect(),
        })
    }

    /// The caller's project named by id or name.
    pub async fn owned(&self, principal: &Principal, reference: &str) -> Result<Project> {
        let owner = &principal.user_id;
        let found = match ProjectId::parse(reference) {
            Some(id) => self.projects.project(owner, &id).await?,
            None => self.projects.project_by_name(owner, reference).await?,
        };
        found.ok_or_else(|| not_found(reference))
    }

    pub async fn get(&self, principal: &Principal, reference: &str) -> Result<ProjectView> {
        Ok(self.owned(principal, reference).await?.view())
    }

    pub async fn update(
        &self,
        principal: &Principal,
        reference: &str,
        req: UpdateProjectRequest,
    ) -> Result<ProjectView> {
        let project = self.owned(principal, reference).await?;
        let (next, credential) = project.updated(req, self.clock.now())?;
        self.check_reference(&next, Some(&project)).await?;
        match self.projects.update_project(&next, &credential).await {
            Ok(()) => Ok(next.view()),
            Err(StoreError::Conflict(_)) => Err(Error::conflict(
                ErrorCode::ConcurrentUpdate,
                format!(
                    "project '{}' changed meanwhile; fetch it and try again",
                    project.name
                ),
            )),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn delete(&self, principal: &Principal, reference: &str) -> Result<()> {
        let project = self.owned(principal, reference).await?;
        self.projects.delete_project(&project).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use time::macros::datetime;

    fn user(handle: &str) -> Principal {
        Principal::test_user(handle)
    }

    #[tokio::test]
    async fn projects_are_their_owners_and_their_credentials_stay_inside() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-22 10:00 UTC)));
        let projects = ProjectService::new(store.clone(), clock);
        let (alice, bob) = (user("alice"), user("bob"));
        let req = || CreateProjectRequest {
            name: "Widgets".into(),
            repo_url: "https://github.com/acme/widgets.git".into(),
            credential: Some("ghp_secret".into()),
            ..Default::default()
        };
        let created = projects.create(&alice, req()).await.unwrap();
        assert!(created.has_credential);
        assert_eq!(
            projects.create(&alice, req()).await.unwrap_err().code,
            "project_name_taken"
        );
        projects.create(&bob, req()).await.unwrap(); // names are per owner
        assert_eq!(
            projects
                .get(&bob, created.project_id.as_str())
                .await
                .unwrap_err()
                .code,
            "project_not_found",
            "another user's project does not exist for bob"
        );
        let stored = projects.owned(&alice, "widgets").await.unwrap();
        assert_eq!(
            store.credential(&stored).await.unwrap().as_deref(),
            Some("ghp_secret")
        );
        let updated = projects
            .update(
                &alice,
                "widgets",
                UpdateProjectRequest {
                    default_branch: Some("develop".into()),
                    credential: Some(String::new()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (updated.default_branch.as_str(), updated.has_credential),
            ("develop", false)
        );
        assert_eq!(store.credential(&stored).await.unwrap(), None);
        assert_eq!(projects.list(&alice).await.unwrap().projects.len(), 1);
        projects.delete(&alice, "widgets").await.unwrap();
        assert!(projects.list(&alice).await.unwrap().projects.is_empty());
        assert_eq!(
            projects.delete(&alice, "widgets").await.unwrap_err().code,
            "project_not_found"
        );
    }
}
