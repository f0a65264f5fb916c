//! A project's build settings as they cross the wire: the same shape in requests, in
//! views and on the project item. Their validation lives in the domain
//! (`cynode_domain::project`).

use serde::{Deserialize, Serialize};

/// How workers build a project: the sandbox image, the command that tests a change, and
/// the forge that takes pull requests (GitHub's REST API or a compatible one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// The forge's API base, e.g. `https://api.github.com` or
    /// `https://github.example.com/api/v3`; none: branches are pushed, no pull request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_url: Option<String>,
    /// `owner/name` on the forge; by default the last two parts of the repository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge_repo: Option<String>,
    /// Only nodes an admin gave this label run the project's planned work (and so see its
    /// credential); none: any node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_label: Option<String>,
}
