//! Projects: a git repository that planned work happens in, owned by one user. The
//! repository's credential is either the project's own, stored apart from the project
//! (see [`crate::ports::ProjectStore`]), or one of the owner's stored credentials named
//! by the project ([`crate::credential`]); neither leaves the control plane in a view.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{ProjectId, UserId};
use crate::task::normalize_name;
use crate::wire::{CreateProjectRequest, ProjectView, UpdateProjectRequest};
use crate::ErrorCode;
use cynode_protocol::urls::walks_paths;

pub use cynode_protocol::project::BuildSettings;

/// Longest repository URL accepted.
pub const MAX_REPO_URL_CHARS: usize = 2048;
/// Longest credential accepted, in bytes (forge tokens are far shorter; KMS seals at most
/// 4096 bytes at once).
pub const MAX_CREDENTIAL_CHARS: usize = 4096;
/// The branch new projects work from unless told otherwise.
pub const DEFAULT_BRANCH: &str = "main";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub owner: UserId,
    pub name: String,
    pub repo_url: String,
    pub default_branch: String,
    pub has_credential: bool,
    /// The owner's stored credential it uses instead of one of its own (normalized name).
    pub credential_name: Option<String>,
    pub auto_start: bool,
    /// How planned work on it is built (see [`BuildSettings`]).
    pub build: BuildSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version, like tasks'.
    pub version: u64,
}

const MAX_TEST_COMMAND_BYTES: usize = 1024;
const MAX_FORGE_URL_CHARS: usize = 255;

/// Applies a request's fields: a value sets, an empty string clears.
fn apply_build_settings(settings: &mut BuildSettings, req: &BuildSettings) -> Result<()> {
    fn set(
        field: &mut Option<String>,
        value: &Option<String>,
        check: impl Fn(&str) -> Result<()>,
    ) -> Result<()> {
        match value.as_deref() {
            None => {}
            Some("") => *field = None,
            Some(text) => {
                check(text)?;
                *field = Some(text.to_owned());
            }
        }
        Ok(())
    }
    set(&mut settings.image, &req.image, |i| {
        crate::task::check_image_name(i).map(|_| ())
    })?;
    set(&mut settings.test_command, &req.test_command, |c| {
        if c.len() > MAX_TEST_COMMAND_BYTES || c.contains('\0') || c.trim().is_empty() {
            Err(Error::validation(
                ErrorCode::InvalidTestCommand,
                format!("test_command must be 1-{MAX_TEST_COMMAND_BYTES} bytes"),
            ))
        } else {
            Ok(())
        }
    })?;
    set(&mut settings.forge_url, &req.forge_url, check_forge_url)?;
    set(&mut settings.node_label, &req.node_label, |label| {
        crate::node::check_node_label(label)
    })?;
    set(&mut settings.forge_repo, &req.forge_repo, |r| {
        if split_forge_repo(r).is_some() {
            Ok(())
        } else {
            Err(Error::validation(
                ErrorCode::InvalidForgeRepo,
                "forge_repo must be owner/name",
            ))
        }
    })
}
/// A forge API URL: `https://` (or `http://`, which only nodes whose policy lists the
/// host will call), a host, a plain path; no credentials, query, fragment or dot
/// segments. Whether the host is one a node may call is the node's policy.
fn check_forge_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|rest| {
        let authority = rest.split('/').next().unwrap_or_default();
        !authority.is_empty()
            && !authority.contains('@')
            && !rest.contains(['?', '#', '\\'])
            && !walks_paths(rest)
    }) && url.chars().count() <= MAX_FORGE_URL_CHARS
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            ErrorCode::InvalidForgeUrl,
            "forge_url must be an https URL with a host and a plain path (no credentials, query, fragment or dot segments), e.g. https://api.github.com",
        ))
    }
}

fn split_forge_repo(text: &str) -> Option<(&str, &str)> {
    let (owner, name) = text.split_once('/')?;
    let part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (part(owner) && part(name)).then_some((owner, name))
}

/// What changes about a project's credential in a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialChange {
    Keep,
    Set(String),
    Remove,
}

impl Project {
    pub fn view(&self) -> ProjectView {
        ProjectView {
            project_id: self.id.clone(),
            name: self.name.clone(),
            repo_url: self.repo_url.clone(),
            default_branch: self.default_branch.clone(),
            has_credential: self.has_credential,
            credential_name: self.credential_name.clone(),
            auto_start: self.auto_start,
            build: self.build.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// A new project from a request, checked.
    pub fn create(
        owner: &UserId,
        req: CreateProjectRequest,
        now: Timestamp,
    ) -> Result<(Project, CredentialChange)> {
        let name = normalize_name(&req.name, ErrorCode::InvalidProjectName, "name")?;
        if ProjectId::parse(&name).is_some() {
            return Err(Error::validation(
                ErrorCode::InvalidProjectName,
                "name must not look like a project id",
            ));
        }
        check_repo_url(&req.repo_url)?;
        let mut build = BuildSettings::default();
        apply_build_settings(&mut build, &req.build())?;
        let branch = req.default_branch.unwrap_or_else(|| DEFAULT_BRANCH.into());
        check_branch(&branch)?;
        let credential_name = credential_reference(&req.credential, &req.credential_name)?;
        let credential = credential_change(req.credential)?;
        let project = Project {
            build,
            id: ProjectId::generate(),
            owner: owner.clone(),
            name,
            repo_url: req.repo_url,
            default_branch: branch,
            has_credential: matches!(credential, CredentialChange::Set(_)),
            credential_name: credential_name.flatten(),
            auto_start: req.auto_start.unwrap_or(false),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        Ok((project, credential))
    }

    /// The project with a request's changes applied, checked and versioned.
    pub fn updated(
        &self,
        req: UpdateProjectRequest,
        now: Timestamp,
    ) -> Result<(Project, CredentialChange)> {
        let mut next = Project {
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        };
        apply_build_settings(&mut next.build, &req.build())?;
        if let Some(url) = req.repo_url {
            check_repo_url(&url)?;
            next.repo_url = url;
        }
        if let Some(branch) = req.default_branch {
            check_branch(&branch)?;
            next.default_branch = branch;
        }
        if let Some(auto_start) = req.auto_start {
            next.auto_start = auto_start;
        }
        // A credential belongs to where it was given for: a new repository, or a forge on
        // another host, does not inherit it unless the request gives one again.
        let moved = next.repo_url != self.repo_url
            || forge_host(next.build.forge_url.as_deref())
                != forge_host(self.build.forge_url.as_deref());
        let reference = credential_reference(&req.credential, &req.credential_name)?;
        let credential = match req.credential {
            // A stored credential named instead: the project's own goes.
            None if reference.as_ref().is_some_and(Option::is_some) && self.has_credential => {
                CredentialChange::Remove
            }
            None if moved && self.has_credential => CredentialChange::Remove,
            None => CredentialChange::Keep,
            Some(text) if text.is_empty() => CredentialChange::Remove,
            some => {
                // A credential of its own instead of a stored one.
                next.credential_name = None;
                credential_change(some)?
            }
        };
        match reference {
            Some(name) => next.credential_name = name,
            None if moved => next.credential_name = None,
            None => {}
        }
        match &credential {
            CredentialChange::Set(_) => next.has_credential = true,
            CredentialChange::Remove => next.has_credential = false,
            CredentialChange::Keep => {}
        }
        Ok((next, credential))
    }
}

impl Project {
    /// `(owner, name)` of the repository on its forge: the setting, else the last two
    /// parts of the repository URL (without `.git`).
    pub fn forge_repo(&self) -> Option<(String, String)> {
        if let Some(repo) = &self.build.forge_repo {
            return split_forge_repo(repo).map(|(o, n)| (o.to_owned(), n.to_owned()));
        }
        let path = self.repo_url.trim_end_matches('/').trim_end_matches(".git");
        let mut parts = path.rsplit(['/', ':']);
        let name = parts.next()?;
        let owner = parts.next()?;
        split_forge_repo(&format!("{owner}/{name}")).map(|(o, n)| (o.to_owned(), n.to_owned()))
    }
}

/// An ssh private key block, the one credential that spans lines (a deploy key, which
/// nodes use for `ssh://` repositories).
fn is_private_key(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("-----BEGIN ")
        && text
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("PRIVATE KEY-----"))
        && text
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("-----END ") && l.ends_with("PRIVATE KEY-----"))
}

/// The host (and port) of a forge URL, lowercased.
fn forge_host(url: Option<&str>) -> Option<String> {
    let rest = url?.split_once("://")?.1;
    Some(
        rest.split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    )
}

/// The stored credential a request names: `None` when it names none, `Some(None)` when it
/// stops using one (`""`), `Some(Some(name))` normalized. A request may give a credential
/// of the project's own or name a stored one, not both.
fn credential_reference(
    credential: &Option<String>,
    name: &Option<String>,
) -> Result<Option<Option<String>>> {
    match name.as_deref() {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(_) if credential.as_deref().is_some_and(|c| !c.is_empty()) => {
            Err(Error::validation(
                ErrorCode::InvalidCredential,
                "give either credential (the project's own) or credential_name (a stored one), not both",
            ))
        }
        Some(raw) => {
            normalize_name(raw, ErrorCode::InvalidCredential, "credential_name").map(|n| Some(Some(n)))
        }
    }
}

/// Checks a credential's text: one line (a token), or an ssh private key block (a deploy
/// key), not empty, of at most [`MAX_CREDENTIAL_CHARS`] bytes.
pub fn check_credential_text(text: &str, field: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::validation(
            ErrorCode::InvalidCredential,
            format!("{field} must not be empty"),
        ));
    }
    if text.len() > MAX_CREDENTIAL_CHARS || (text.contains(['\n', '\r']) && !is_private_key(text)) {
        return Err(Error::validation(
            ErrorCode::InvalidCredential,
            format!(
                "{field} must be one line (a token), or an ssh private key block (a deploy key), of at most {MAX_CREDENTIAL_CHARS} bytes"
            ),
        ));
    }
    Ok(())
}

fn credential_change(credential: Option<String>) -> Result<CredentialChange> {
    match credential {
        None => Ok(CredentialChange::Keep),
        Some(text) if text.trim().is_empty() => Err(Error::validation(
            ErrorCode::InvalidCredential,
            "credential must not be empty (leave it out for none)",
        )),
        Some(text) => {
            check_credential_text(&text, "credential")?;
            Ok(CredentialChange::Set(text))
        }
    }
}

/// A repository URL a node may clone: `https://`, `http://`, `ssh://`, `file://`, or
/// scp-like `user@host:path` (which of them a node really clones from is its own policy).
/// No credentials, query, fragment or dot segments inside it: credentials belong in
/// `credential`.
pub fn check_repo_url(url: &str) -> Result<()> {
    let invalid = |why: &str| {
        Err(Error::validation(
            ErrorCode::InvalidRepoUrl,
            format!("repo_url {why}"),
        ))
    };
    if url.is_empty() || url.chars().count() > MAX_REPO_URL_CHARS {
        return invalid(&format!("must be 1-{MAX_REPO_URL_CHARS} characters"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain spaces or control characters");
    }
    let schemes = ["https://", "http://", "ssh://", "file://"];
    if let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) {
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') && !url.starts_with("ssh://") {
            return invalid("must not carry credentials; set credential instead");
        }
        if rest.contains(['?', '#']) || walks_paths(rest) {
            return invalid("must be a plain path: no query, fragment or dot segments");
        }
        if rest.len() <= authority.len() + 1 && !url.starts_with("file://") {
            return invalid("names no repository path");
        }
        return Ok(());
    }
    let scp_like = url
        .split_once(':')
        .is_some_and(|(host, path)| host.contains('@') && !host.contains('/') && !path.is_empty());
    if scp_like {
        return Ok(());
    }
    invalid("must start with https://, http://, ssh://, file:// or be user@host:path")
}

/// A branch name git accepts (the subset `git check-ref-format --branch` allows that
/// matters here).
pub fn check_branch(branch: &str) -> Result<()> {
    let bad = branch.is_empty()
        || branch.len() > 255
        || branch.starts_with(['-', '/', '.'])
        || branch.ends_with(['/', '.'])
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\\\".contains(c));
    if bad {
        Err(Error::validation(
            ErrorCode::InvalidBranch,
            format!("'{branch}' is not a valid git branch name"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn request(name: &str, url: &str) -> CreateProjectRequest {
        CreateProjectRequest {
            name: name.into(),
            repo_url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn repository_urls_git_can_clone_are_accepted_and_embedded_credentials_refused() {
        for ok in [
            "https://github.com/acme/widgets.git",
            "http://127.0.0.1:8000/repo.git",
            "ssh://git@github.com/acme/widgets.git",
            "git@github.com:acme/widgets.git",
            "file:///srv/git/widgets.git",
        ] {
            assert!(check_repo_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "github.com/acme/widgets",
            "https://user:token@github.com/acme/widgets.git",
            "https://github.com",
            "https://github.com/acme/wid gets",
            "ftp://host/repo",
            "git://github.com/acme/widgets.git",
            "https://github.com/acme/../../etc/widgets.git",
            "https://github.com/acme/%2e%2e/widgets.git",
            "https://github.com/acme/widgets.git?x=1",
            "file:///srv/git/../../etc",
        ] {
            assert_eq!(
                check_repo_url(bad).unwrap_err().code,
                "invalid_repo_url",
                "{bad}"
            );
        }
    }

    #[test]
    fn branch_names_follow_git() {
        for ok in ["main", "release/1.2", "feature_x-2"] {
            assert!(check_branch(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a:b", "refs@{1}", "end/"] {
            assert_eq!(
                check_branch(bad).unwrap_err().code,
                "invalid_branch",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_credential_is_kept_apart_and_can_be_replaced_or_removed() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let mut req = request("Widgets App", "https://github.com/acme/widgets.git");
        req.credential = Some("ghp_secret".into());
        let (project, credential) = Project::create(&UserId::generate(), req, now).unwrap();
        assert_eq!(project.name, "widgets-app");
        assert_eq!(project.default_branch, "main");
        assert_eq!(credential, CredentialChange::Set("ghp_secret".into()));
        let view = serde_json::to_string(&project.view()).unwrap();
        assert!(!view.contains("ghp_secret") && view.contains("\"has_credential\":true"));

        let removal = UpdateProjectRequest {
            credential: Some(String::new()),
            ..Default::default()
        };
        let (next, change) = project.updated(removal, now).unwrap();
        assert_eq!(
            (change, next.has_credential, next.version),
            (CredentialChange::Remove, false, 2)
        );
        let bad = UpdateProjectRequest {
            default_branch: Some("a b".into()),
            ..Default::default()
        };
        assert_eq!(
            project.updated(bad, now).unwrap_err().code,
            "invalid_branch"
        );
    }

    #[test]
    fn a_project_uses_its_own_credential_or_a_stored_one_never_both() {
        let now = datetime!(2026-12-07 00:00 UTC);
        let mut req = request("site", "https://example.com/site.git");
        req.credential = Some("ghp_own".into());
        req.credential_name = Some("Forge Bot".into());
        let err = Project::create(&UserId::generate(), req.clone(), now).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidCredential);
        req.credential_name = None;
        let (own, _) = Project::create(&UserId::generate(), req, now).unwrap();
        // Naming a stored one drops the project's own; giving its own drops the name.
        let named = UpdateProjectRequest {
            credential_name: Some("Forge Bot".into()),
            ..Default::default()
        };
        let (stored, change) = own.updated(named, now).unwrap();
        assert_eq!(
            (
                stored.has_credential,
                stored.credential_name.as_deref(),
                change
            ),
            (false, Some("forge-bot"), CredentialChange::Remove)
        );
        let view = serde_json::to_string(&stored.view()).unwrap();
        assert!(view.contains("\"credential_name\":\"forge-bot\""), "{view}");
        let own_again = UpdateProjectRequest {
            credential: Some("ghp_new".into()),
            ..Default::default()
        };
        let (back, change) = stored.updated(own_again, now).unwrap();
        assert_eq!(
            (back.has_credential, back.credential_name, change),
            (true, None, CredentialChange::Set("ghp_new".into()))
        );
        // A new repository does not take the stored credential along either.
        let moved = UpdateProjectRequest {
            repo_url: Some("https://elsewhere.example/site.git".into()),
            ..Default::default()
        };
        let (moved, _) = stored.updated(moved, now).unwrap();
        assert_eq!(moved.credential_name, None);
        let (kept, _) = stored
            .updated(
                UpdateProjectRequest {
                    auto_start: Some(true),
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        assert_eq!(kept.credential_name.as_deref(), Some("forge-bot"));
    }

    #[test]
    fn a_new_repository_or_forge_host_drops_the_credential_unless_given_again() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let mut req = request("widgets", "https://github.com/acme/widgets.git");
        req.credential = Some("ghp_secret".into());
        req.forge_url = Some("https://api.github.com".into());
        let (project, _) = Project::create(&UserId::generate(), req, now).unwrap();
        let change = |req: UpdateProjectRequest| {
            let (next, change) = project.updated(req, now).unwrap();
            (change, next.has_credential)
        };
        // Another repository, or a forge on another host: the credential stays behind.
        for req in [
            UpdateProjectRequest {
                repo_url: Some("https://evil.example/acme/widgets.git".into()),
                ..Default::default()
            },
            UpdateProjectRequest {
                forge_url: Some("https://api.evil.example".into()),
                ..Default::default()
            },
        ] {
            assert_eq!(change(req), (CredentialChange::Remove, false));
        }
        // The same place, or a new credential with the move: kept, or the new one.
        for (req, expected) in [
            (
                UpdateProjectRequest {
                    repo_url: Some("https://github.com/acme/widgets.git".into()),
                    forge_url: Some("https://API.github.com/v3".into()),
                    auto_start: Some(true),
                    ..Default::default()
                },
                (CredentialChange::Keep, true),
            ),
            (
                UpdateProjectRequest {
                    repo_url: Some("https://gitlab.example/acme/widgets.git".into()),
                    credential: Some("glpat_new".into()),
                    ..Default::default()
                },
                (CredentialChange::Set("glpat_new".into()), true),
            ),
        ] {
            assert_eq!(change(req), expected);
        }
    }
}
