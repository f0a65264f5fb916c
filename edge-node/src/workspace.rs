//! The repository side of planned work, done by the node and never by the sandbox: clone
//! the project's repository with its credential, hand the sandbox a copy that knows
//! neither the remote nor the credential, then take the worker's branch back, push it and
//! open its pull request.
//!
//! Two clones per run, under the job's directory:
//! - `base`: cloned from the remote by the node. Never mounted into a sandbox, so nothing
//!   the agent does can plant hooks or configuration in a repository the node runs git in
//!   with the credential.
//! - `repo`: a local clone of `base` without a remote, mounted at `/repo` (read-only for
//!   a planner; writable, on the subtask's branch, for a worker).
//!
//! After a worker, `base` *fetches* the branch from `repo` (fetching reads objects; it
//! runs nothing from the untrusted repository), checks that it has new commits, and
//! pushes it. The credential reaches git only through `GIT_CONFIG_*` variables of the
//! node's own git processes (an `Authorization` header for http(s) remotes), never a file
//! or an argument, and the forge only in the pull-request call's header.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use cynode_protocol::plan::{PullRequest, WorkReport};
use cynode_protocol::wire::{AgentAssignment, ForgeTarget};

/// How long one git command may take (a clone of a large repository included).
const GIT_DEADLINE: Duration = Duration::from_secs(600);

pub struct Workspace {
    base: PathBuf,
    repo: PathBuf,
    /// The only git configuration the node's git reads besides its command line: it
    /// trusts the sandbox's checkout (owned by the sandbox's host uid) for fetching.
    config: PathBuf,
}

/// The pull request's text.
pub struct PullRequestText {
    pub title: String,
    pub body: String,
}

impl Workspace {
    /// Clones the repository into `dir` and prepares the sandbox's copy (owned by
    /// `sandbox_uid` on the host, on `branch` when there is one).
    pub async fn prepare(
        dir: &Path,
        assignment: &AgentAssignment,
        sandbox_uid: u32,
    ) -> Result<Workspace, String> {
        let base = dir.join("base");
        let repo = dir.join("repo");
        let config = dir.join("gitconfig");
        std::fs::create_dir_all(dir).map_err(|err| format!("creating the workspace: {err}"))?;
        std::fs::write(
            &config,
            format!(
                "[safe]\n\tdirectory = {0}\n\tdirectory = {0}/.git\n",
                path_str(&repo)?
            ),
        )
        .map_err(|err| format!("writing the workspace's git configuration: {err}"))?;
        let config = config.as_path();
        git(
            None,
            config,
            assignment,
            &[
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                "--branch",
                &assignment.default_branch,
                "--",
                &assignment.repo_url,
                path_str(&base)?,
            ],
        )
        .await
        .map_err(|err| format!("cloning {}: {err}", assignment.repo_url))?;
        let local = Anonymous;
        git(
            None,
            config,
            &local,
            &[
                "clone",
                "--quiet",
                "--no-hardlinks",
                "--",
                path_str(&base)?,
                path_str(&repo)?,
            ],
        )
        .await?;
        git(Some(&repo), config, &local, &["remote", "remove", "origin"]).await?;
        if let Some(branch) = &assignment.branch {
            git(
                Some(&repo),
                config,
                &local,
                &["checkout", "--quiet", "-b", branch],
            )
            .await?;
        }
        chown_tree(&repo, sandbox_uid)
            .map_err(|err| format!("handing the checkout over: {err}"))?;
        Ok(Workspace {
            base,
            repo,
            config: config.to_owned(),
        })
    }

    /// The copy the sandbox gets.
    pub fn sandbox_checkout(&self) -> &Path {
        &self.repo
    }

    /// Takes the worker's branch back, pushes it, and opens its pull request.
    pub async fn publish(
        &self,
        assignment: &AgentAssignment,
        http: &reqwest::Client,
        text: PullRequestText,
    ) -> Result<WorkReport, String> {
        let branch = assignment
            .branch
            .as_deref()
            .ok_or("the assignment names no branch")?;
        let local = Anonymous;
        let config = self.config.as_path();
        let source = format!("file://{}", path_str(&self.repo)?);
        git(
            Some(&self.base),
            config,
            &local,
            &[
                "-c",
                "protocol.file.allow=always",
                "fetch",
                "--quiet",
                "--no-tags",
                &source,
                &format!("+refs/heads/{branch}:refs/heads/{branch}"),
            ],
        )
        .await
        .map_err(|err| format!("taking the branch back from the sandbox: {err}"))?;
        let range = format!("origin/{}..refs/heads/{branch}", assignment.default_branch);
        let ahead = git(
            Some(&self.base),
            config,
            &local,
            &["rev-list", "--count", &range],
        )
        .await?;
        if ahead.trim() == "0" {
            return Err("the worker's branch has no new commit".into());
        }
        let commit = git(
            Some(&self.base),
            config,
            &local,
            &["rev-parse", &format!("refs/heads/{branch}")],
        )
        .await?
        .trim()
        .to_owned();
        git(
            Some(&self.base),
            config,
            assignment,
            &[
                "push",
                "--quiet",
                "--force",
                "origin",
                &format!("refs/heads/{branch}:refs/heads/{branch}"),
            ],
        )
        .await
        .map_err(|err| format!("pushing {branch}: {err}"))?;
        let pull_request = match &assignment.forge {
            Some(forge) => Some(open_pull_request(http, forge, assignment, branch, text).await?),
            None => None,
        };
        Ok(WorkReport {
            branch: branch.to_owned(),
            commit,
            pull_request,
        })
    }
}

/// Who git authenticates as: the assignment's credential, or no one.
trait GitAuth: Sync {
    fn header(&self) -> Option<String>;
}

struct Anonymous;

impl GitAuth for Anonymous {
    fn header(&self) -> Option<String> {
        None
    }
}

impl GitAuth for AgentAssignment {
    /// For http(s) remotes: Basic auth with the token as password (GitHub, Gitea and
    /// GitLab accept `x-access-token:<token>`). Other remotes use the node's own keys.
    fn header(&self) -> Option<String> {
        let credential = self.credential.as_ref()?;
        let http = self.repo_url.starts_with("https://") || self.repo_url.starts_with("http://");
        http.then(|| {
            let pair = format!("x-access-token:{}", credential.0);
            format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        })
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// Runs git with no terminal prompts, no system or user configuration but `config`, no
/// hooks; the credential (if any) only in the environment. Returns stdout; the error is
/// git's last stderr line.
async fn git(
    dir: Option<&Path>,
    config: &Path,
    auth: &(dyn GitAuth + Sync),
    args: &[&str],
) -> Result<String, String> {
    let mut command = tokio::process::Command::new("git");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
        .args(["-c", "core.hooksPath=/dev/null"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", config)
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match auth.header() {
        Some(header) => command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", header),
        None => command.env_remove("GIT_CONFIG_COUNT"),
    };
    let name = args
        .iter()
        .find(|a| !a.starts_with('-') && !a.contains('='))
        .unwrap_or(&"");
    let output = tokio::time::timeout(GIT_DEADLINE, command.output())
        .await
        .map_err(|_| format!("git {name} took longer than {GIT_DEADLINE:?}"))?
        .map_err(|err| format!("cannot run git: {err}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // git's own verdict (`fatal:`/`error:`), else its last words.
    let last = stderr
        .lines()
        .find_map(|line| {
            line.strip_prefix("fatal: ")
                .or_else(|| line.strip_prefix("error: "))
        })
        .or_else(|| stderr.lines().rev().find(|line| !line.trim().is_empty()))
        .unwrap_or("no message");
    Err(format!("git {name} failed: {}", last.trim()))
}

fn chown_tree(path: &Path, uid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct CreatedPull {
    number: u64,
    html_url: String,
}

/// `POST {api}/repos/{owner}/{repo}/pulls` as GitHub documents it (also Gitea's and
/// GitHub Enterprise's). A pull request that already exists for the branch (a retried
/// attempt) is looked up instead.
async fn open_pull_request(
    http: &reqwest::Client,
    forge: &ForgeTarget,
    assignment: &AgentAssignment,
    branch: &str,
    text: PullRequestText,
) -> Result<PullRequest, String> {
    let base = forge.api_url.trim_end_matches('/');
    let url = format!("{base}/repos/{}/{}/pulls", forge.owner, forge.repo);
    let with_headers = |request: reqwest::RequestBuilder| {
        let request = request
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "cynode-edge");
        match &assignment.credential {
            Some(credential) => request.bearer_auth(&credential.0),
            None => request,
        }
    };
    let body = json!({
        "title": text.title,
        "head": branch,
        "base": assignment.default_branch,
        "body": text.body,
    });
    let response = with_headers(http.post(&url))
        .json(&body)
        .send()
        .await
        .map_err(|err| format!("opening the pull request: {}", err.without_url()))?;
    let status = response.status();
    if status.is_success() {
        let pull: CreatedPull = response
            .json()
            .await
            .map_err(|err| format!("the forge's answer to the pull request: {err}"))?;
        return Ok(PullRequest {
            number: pull.number,
            url: pull.html_url,
        });
    }
    if status.as_u16() == 422 {
        let query = format!("{url}?state=open&head={}:{branch}", forge.owner);
        let existing: Vec<CreatedPull> = with_headers(http.get(&query))
            .send()
            .await
            .map_err(|err| format!("looking up the pull request: {}", err.without_url()))?
            .json()
            .await
            .map_err(|err| format!("the forge's list of pull requests: {err}"))?;
        if let Some(pull) = existing.into_iter().next() {
            return Ok(PullRequest {
                number: pull.number,
                url: pull.html_url,
            });
        }
    }
    let detail: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    Err(format!(
        "the forge refused the pull request ({status}): {detail}"
    ))
}
