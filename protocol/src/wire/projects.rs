//! Projects: planned work's repository, forge and build settings.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::ProjectId;

/// `POST /v1/projects`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    pub name: String,
    pub repo_url: String,
    /// Default `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    /// A token for the repository (and its forge). Kept server-side: never shown back,
    /// never sent into a sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// The name of one of the owner's stored credentials (`/v1/credentials`) to use
    /// instead of a credential of the project's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// Start subtasks by themselves once their dependencies are merged (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
    /// How workers build it (see `BuildSettings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_label: Option<String>,
}

/// `PATCH /v1/projects/{project}`: the fields to change. `credential: ""` removes it.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// A stored credential's name; `""` stops using it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
    /// Build settings; one set to "" is cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_label: Option<String>,
}

/// Requests that carry a credential never print it.
impl std::fmt::Debug for CreateProjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateProjectRequest")
            .field("name", &self.name)
            .field("repo_url", &self.repo_url)
            .finish_non_exhaustive()
    }
}

/// The build settings a project request carries (listed in the request itself rather
/// than flattened, so that unknown fields are still refused).
macro_rules! build_settings_of {
    ($($request:ty),+) => {$(
        impl $request {
            pub fn build(&self) -> crate::project::BuildSettings {
                crate::project::BuildSettings {
                    image: self.image.clone(),
                    test_command: self.test_command.clone(),
                    forge_url: self.forge_url.clone(),
                    forge_repo: self.forge_repo.clone(),
                    node_label: self.node_label.clone(),
                }
            }
        }
    )+};
}

build_settings_of!(CreateProjectRequest, UpdateProjectRequest);

impl std::fmt::Debug for UpdateProjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateProjectRequest")
            .field("repo_url", &self.repo_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProjectView {
    pub project_id: ProjectId,
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    /// Whether a credential of the project's own is stored (it is never shown).
    pub has_credential: bool,
    /// The stored credential it uses instead, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    pub auto_start: bool,
    #[serde(flatten)]
    pub build: crate::project::BuildSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}
