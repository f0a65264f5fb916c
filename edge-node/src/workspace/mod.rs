//! The repository side of planned work, done by the node and never by the sandbox: clone
//! the project's repository with its credential, hand the sandbox a copy that knows
//! neither the remote nor the credential, then take the worker's change back, push it and
//! open its pull request.
//!
//! - `base`: cloned from the remote by the node ([`git`], within the node's
//!   [`policy`]). Never mounted into a sandbox, and the only repository the node runs git
//!   in after a sandbox ran.
//! - the sandbox's checkout, a local clone of `base` without a remote: read-only at
//!   `/repo` for a planner; for a worker, on the subtask's branch on the job's own disk
//!   ([`crate::sandbox::disk`]) with `/out` beside it.
//!
//! A worker's agent ends by writing its commits as a bundle to `/out`. The node copies that
//! one file out ([`change`]), verifies it against `base`, fetches the branch from it,
//! checks it builds on the default branch with new commits, pushes it and opens the pull
//! request ([`forge`]). Nothing else of what the sandbox wrote is ever read, and the
//! errors a user sees about it are the node's own words.

pub mod change;
pub mod forge;
pub mod git;
pub mod policy;

use std::path::{Path, PathBuf};

use cynode_protocol::plan::WorkReport;
use cynode_protocol::wire::AgentAssignment;

use crate::sandbox::disk::JobDisk;
use git::{Access, Git};
use policy::{Remote, RemotePolicy};

/// The pull request's text.
pub struct PullRequestText {
    pub title: String,
    pub body: String,
}

/// How much a worker may write: its disk, and the change it hands back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkspaceLimits {
    pub disk_bytes: u64,
    pub max_change_bytes: u64,
}

pub struct Workspace {
    dir: PathBuf,
    git: Git,
    base: PathBuf,
    checkout: PathBuf,
    /// A worker's disk, holding its checkout and `/out`.
    disk: Option<JobDisk>,
    /// The default branch's commit the sandbox starts from.
    base_commit: String,
    remote: Remote,
    /// The node's policy, checked again for the forge when the pull request is opened.
    policy: RemotePolicy,
    limits: WorkspaceLimits,
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// Whether a credential is an ssh private key (a deploy key) rather than a token.
fn is_deploy_key(credential: &str) -> bool {
    credential.trim_start().starts_with("-----BEGIN ") && credential.contains("PRIVATE KEY-----")
}

impl Workspace {
    /// Clones the repository into `dir` (if the node's `policy` allows it) and prepares
    /// the sandbox's copy: on `branch` when there is one, and on a disk of its own for a
    /// worker.
    pub async fn prepare(
        dir: &Path,
        assignment: &AgentAssignment,
        policy: &RemotePolicy,
        limits: WorkspaceLimits,
    ) -> Result<Workspace, String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).map_err(|err| format!("creating the workspace: {err}"))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|err| format!("creating the workspace: {err}"))?;
        let git = Git::new(dir.join("gitconfig"))
            .map_err(|err| format!("writing the workspace's git configuration: {err}"))?;
        let credential = assignment.credential.as_ref().map(|c| c.0.as_str());
        let cloning = |err: String| format!("cloning {}: {err}", assignment.repo_url);
        let remote = policy
            .repository(&assignment.repo_url, credential.is_some_and(is_deploy_key))
            .await
            .map_err(cloning)?;
        let access =
            Access::remote(&remote, credential, &dir.join("deploy_key")).map_err(cloning)?;
        // A forge the node may not call fails the job now, not after the worker's run.
        if let Some(target) = &assignment.forge {
            policy
                .forge(&target.api_url, &target.owner, &target.repo)
                .await
                .map_err(|err| format!("the project's forge: {err}"))?;
        }
        let base = dir.join("base");
        let url = remote.git_url();
        git.run(
            None,
            &access,
            &[
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                "--branch",
                &assignment.default_branch,
                "--",
                &url,
                path_str(&base)?,
            ],
        )
        .await
        .map_err(|err| cloning(err.to_string()))?;
        let local = Access::local();
        let base_commit = git
            .run(Some(&base), &local, &["rev-parse", "HEAD"])
            .await
            .map_err(|err| err.to_string())?
            .trim()
            .to_owned();
        let worker = assignment.role == "work";
        let disk = if worker {
            Some(JobDisk::create(dir, limits.disk_bytes).await?)
        } else {
            None
        };
        let mut workspace = Workspace {
            dir: dir.to_owned(),
            checkout: match &disk {
                Some(disk) => disk.path().join("repo"),
                None => dir.join("repo"),
            },
            git,
            base,
            disk,
            base_commit,
            remote,
            policy: policy.clone(),
            limits,
        };
        if let Err(err) = workspace.make_checkout(assignment).await {
            workspace.release().await;
            return Err(err);
        }
        Ok(workspace)
    }

    /// The sandbox's copy of `base`, made before any sandbox runs.
    async fn make_checkout(&mut self, assignment: &AgentAssignment) -> Result<(), String> {
        let local = Access::local();
        let checkout = path_str(&self.checkout)?;
        self.git
            .run(
                None,
                &local,
                &[
                    "clone",
                    "--quiet",
                    "--no-hardlinks",
                    "--",
                    path_str(&self.base)?,
                    checkout,
                ],
            )
            .await
            .map_err(|err| err.to_string())?;
        self.git
            .run(
                Some(&self.checkout),
                &local,
                &["remote", "remove", "origin"],
            )
            .await
            .map_err(|err| err.to_string())?;
        if let Some(branch) = &assignment.branch {
            self.git
                .run(
                    Some(&self.checkout),
                    &local,
                    &["checkout", "--quiet", "-b", branch],
                )
                .await
                .map_err(|err| err.to_string())?;
        }
        if let Some(out) = self.sandbox_out() {
            std::fs::create_dir_all(out).map_err(|err| format!("creating /out: {err}"))?;
        }
        Ok(())
    }

    /// The copy the sandbox gets at `/repo`.
    pub fn sandbox_checkout(&self) -> &Path {
        &self.checkout
    }

    /// A worker's `/out`, on its disk.
    pub fn sandbox_out(&self) -> Option<PathBuf> {
        self.disk.as_ref().map(|disk| disk.path().join("out"))
    }

    /// The commit the sandbox's checkout starts from.
    pub fn base_commit(&self) -> &str {
        &self.base_commit
    }

    /// A worker that filled its disk.
    pub fn disk_full(&self) -> Option<u64> {
        self.disk
            .as_ref()
            .filter(|disk| disk.is_full())
            .map(JobDisk::size_bytes)
    }

    /// Takes the worker's bundle from its `/out`, checks it, and fetches it into the
    /// node's own repository as `branch`: the ref and its commit. The bundle must hold
    /// new commits on the checkout the worker was given, and nothing else.
    async fn import_change(
        &self,
        assignment: &AgentAssignment,
        branch: &str,
    ) -> Result<(String, String), String> {
        let out = self
            .sandbox_out()
            .ok_or("the assignment is not a worker's")?;
        let copy = self.dir.join(change::CHANGE_FILE);
        let _ = std::fs::remove_file(&copy);
        change::take_change(&out, &copy, self.limits.max_change_bytes)
            .map_err(|err| err.to_string())?;
        let local = Access::local();
        let copy_path = path_str(&copy)?;
        let invalid = |err: git::GitError| {
            tracing::warn!(error = %err, "the worker's change does not apply");
            "the worker's change is not a valid git bundle of new commits on the checkout it was given"
                .to_owned()
        };
        self.git
            .run(
                Some(&self.base),
                &local,
                &["bundle", "verify", "--quiet", copy_path],
            )
            .await
            .map_err(invalid)?;
        let local_ref = format!("refs/heads/{branch}");
        self.git
            .run(
                Some(&self.base),
                &local,
                &[
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    copy_path,
                    &format!("+HEAD:{local_ref}"),
                ],
            )
            .await
            .map_err(invalid)?;
        self.git
            .run(
                Some(&self.base),
                &local,
                &["merge-base", "--is-ancestor", &self.base_commit, &local_ref],
            )
            .await
            .map_err(|_| {
                format!(
                    "the worker's change does not build on {}",
                    assignment.default_branch
                )
            })?;
        let range = format!("{}..{local_ref}", self.base_commit);
        let ahead = self
            .git
            .run(Some(&self.base), &local, &["rev-list", "--count", &range])
            .await
            .map_err(invalid)?;
        if ahead.trim() == "0" {
            return Err("the worker's branch has no new commit".into());
        }
        let commit = self
            .git
            .run(Some(&self.base), &local, &["rev-parse", &local_ref])
            .await
            .map_err(invalid)?
            .trim()
            .to_owned();
        Ok((local_ref, commit))
    }

    /// Takes the worker's change back, pushes it, and opens its pull request.
    pub async fn publish(
        &self,
        assignment: &AgentAssignment,
        text: PullRequestText,
    ) -> Result<WorkReport, String> {
        let branch = assignment
            .branch
            .as_deref()
            .ok_or("the assignment names no branch")?;
        let (local_ref, commit) = self.import_change(assignment, branch).await?;
        let credential = assignment.credential.as_ref().map(|c| c.0.as_str());
        let access = Access::remote(&self.remote, credential, &self.dir.join("deploy_key"))?;
        self.git
            .run(
                Some(&self.base),
                &access,
                &[
                    "push",
                    "--quiet",
                    "--force",
                    &self.remote.git_url(),
                    &format!("{local_ref}:{local_ref}"),
                ],
            )
            .await
            .map_err(|err| format!("pushing {branch}: {err}"))?;
        let pull_request = match &assignment.forge {
            Some(target) => Some(
                forge::open_pull_request(
                    &self.forge_endpoint(target).await?,
                    target,
                    credential,
                    &assignment.default_branch,
                    branch,
                    text,
                )
                .await?,
            ),
            None => None,
        };
        Ok(WorkReport {
            branch: branch.to_owned(),
            commit,
            pull_request,
        })
    }

    async fn forge_endpoint(
        &self,
        target: &cynode_protocol::wire::ForgeTarget,
    ) -> Result<policy::ForgeEndpoint, String> {
        self.policy
            .forge(&target.api_url, &target.owner, &target.repo)
            .await
            .map_err(|err| format!("opening the pull request: {err}"))
    }

    /// Unmounts and deletes the worker's disk, the deploy key and every clone.
    pub async fn release(self) {
        if let Some(disk) = self.disk {
            disk.release().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
