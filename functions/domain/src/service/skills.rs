//! Loading, listing, reading and deleting a user's skills. Which skills a job gets is
//! chosen when a node claims it (`service::jobs::claim`, [`crate::skill::skills_for`]).

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ports::SkillStore;
use crate::principal::Principal;
use crate::service::projects::ProjectService;
use crate::skill::Skill;
use crate::task::normalize_name;
use crate::wire::{LoadSkillRequest, SkillList, SkillView};
use crate::ErrorCode;

pub struct SkillService {
    skills: Arc<dyn SkillStore>,
    projects: Arc<ProjectService>,
    clock: Arc<dyn Clock>,
}

fn not_found(name: &str) -> Error {
    Error::not_found(
        ErrorCode::SkillNotFound,
        format!("no skill '{}'", name.chars().take(64).collect::<String>()),
    )
}

impl SkillService {
    pub fn new(
        skills: Arc<dyn SkillStore>,
        projects: Arc<ProjectService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            skills,
            projects,
            clock,
        }
    }

    /// Creates or replaces the caller's skill of that name; `true` when it was new.
    pub async fn load(
        &self,
        principal: &Principal,
        req: LoadSkillRequest,
    ) -> Result<(SkillView, bool)> {
        let project = match &req.project {
            Some(reference) => Some(self.projects.owned(principal, reference).await?.id),
            None => None,
        };
        let skill = Skill::new(
            &principal.user_id,
            &req.name,
            req.body,
            &req.triggers,
            project,
            self.clock.now(),
        )?;
        let existed = self
            .skills
            .skill(&principal.user_id, &skill.name)
            .await?
            .is_some();
        self.skills.put_skill(&skill).await?;
        Ok((skill.view(false), !existed))
    }

    /// The caller's skills by name, without their bodies.
    pub async fn list(&self, principal: &Principal) -> Result<SkillList> {
        let mut skills = self.skills.skills(&principal.user_id).await?;
        skills.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(SkillList {
            skills: skills.iter().map(|skill| skill.view(false)).collect(),
        })
    }

    pub async fn get(&self, principal: &Principal, name: &str) -> Result<SkillView> {
        let key =
            normalize_name(name, ErrorCode::SkillNotFound, "name").map_err(|_| not_found(name))?;
        self.skills
            .skill(&principal.user_id, &key)
            .await?
            .map(|skill| skill.view(true))
            .ok_or_else(|| not_found(name))
    }

    pub async fn delete(&self, principal: &Principal, name: &str) -> Result<()> {
        let key =
            normalize_name(name, ErrorCode::SkillNotFound, "name").map_err(|_| not_found(name))?;
        if self.skills.delete_skill(&principal.user_id, &key).await? {
            Ok(())
        } else {
            Err(not_found(name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::memory::MemoryStore;
    use time::macros::datetime;

    #[tokio::test]
    async fn skills_are_loaded_replaced_listed_and_deleted_per_owner() {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-01 00:00 UTC)));
        let projects = Arc::new(ProjectService::new(store.clone(), clock.clone()));
        let service = SkillService::new(store.clone(), projects, clock);
        let (alice, bob) = (Principal::test_user("alice"), Principal::test_user("bob"));
        let req = |body: &str| LoadSkillRequest {
            name: "House Style".into(),
            body: body.into(),
            triggers: vec!["style".into()],
            project: None,
        };
        let (view, created) = service.load(&alice, req("one")).await.unwrap();
        assert!(created);
        assert_eq!(
            (view.name.as_str(), view.body.clone()),
            ("house-style", None)
        );
        let (_, created) = service.load(&alice, req("two")).await.unwrap();
        assert!(!created, "the same name replaces it");
        assert_eq!(
            service
                .get(&alice, "house style")
                .await
                .unwrap()
                .body
                .as_deref(),
            Some("two")
        );
        assert_eq!(service.list(&alice).await.unwrap().skills.len(), 1);
        assert!(service.list(&bob).await.unwrap().skills.is_empty());
        let err = service.get(&bob, "house-style").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::SkillNotFound);
        let mut in_project = req("x");
        in_project.project = Some("nope".into());
        let err = service.load(&alice, in_project).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ProjectNotFound);
        service.delete(&alice, "house-style").await.unwrap();
        assert_eq!(
            service
                .delete(&alice, "house-style")
                .await
                .unwrap_err()
                .code,
            ErrorCode::SkillNotFound
        );
    }
}
