//! The node's git side of planned work against real git, a real loop-mounted job disk, a
//! local bare repository as the remote and the forge contract server for the pull
//! request. No model, no sandbox: the test plays the agent by committing in the
//! sandbox's checkout and writing the change bundle to its `/out`, then plays a hostile
//! job by planting traps (symlinked packed-refs, alternates, hooks, config) for the node.

use std::path::{Path, PathBuf};

use cynode_edge::workspace::policy::RemotePolicy;
use cynode_edge::workspace::{PullRequestText, Workspace, WorkspaceLimits};
use cynode_protocol::wire::{AgentAssignment, Credential, ForgeTarget, SubtaskBrief};
use cynode_testkit::forge::{bare_repository, git, ForgeContract};
use cynode_testkit::{scratch_dir, unique_handle};

const LIMITS: WorkspaceLimits = WorkspaceLimits {
    disk_bytes: 64 << 20,
    max_change_bytes: 1 << 20,
};

fn assignment(url: &str, forge: Option<ForgeTarget>) -> AgentAssignment {
    AgentAssignment {
        role: "work".into(),
        repo_url: url.into(),
        default_branch: "main".into(),
        credential: Some(Credential("tok-workspace-test".into())),
        subtask: Some(SubtaskBrief {
            number: 1,
            title: "Add notes".into(),
            spec: "Write NOTES.md".into(),
            acceptance: "NOTES.md exists".into(),
        }),
        branch: Some("cyn-1-add-notes-abc123".into()),
        test_command: None,
        forge,
        previous_error: None,
    }
}

/// Pull requests for `acme/widgets` at `forge`.
fn target_of(forge: &ForgeContract) -> ForgeTarget {
    ForgeTarget {
        api_url: forge.url.clone(),
        owner: "acme".into(),
        repo: "widgets".into(),
    }
}

/// The test's repositories' directory, and forges on loopback.
fn policy(dir: &Path) -> RemotePolicy {
    RemotePolicy {
        file_roots: vec![dir.to_owned()],
        private_hosts: vec!["127.0.0.1".into()],
        ssh_known_hosts: None,
    }
}

fn text() -> PullRequestText {
    PullRequestText {
        title: "Add notes".into(),
        body: "Write NOTES.md".into(),
    }
}

/// What the agent does in the sandbox: edit, commit, and write its change to `/out`.
fn commit_as_agent(workspace: &Workspace, file: &str) {
    let checkout = workspace.sandbox_checkout();
    std::fs::write(checkout.join(file), "hello\n").unwrap();
    let out = workspace.sandbox_out().expect("a worker's /out");
    let script = format!(
        "git -c safe.directory='*' add {file} && \
         git -c safe.directory='*' -c user.name=w -c user.email=w@test commit -qm 'cyn-1: Add notes' && \
         git -c safe.directory='*' bundle create -q {}/change.bundle HEAD ^{}",
        out.display(),
        workspace.base_commit()
    );
    let status = std::process::Command::new("sh")
        .current_dir(checkout)
        .arg("-c")
        .arg(script)
        .status()
        .unwrap();
    assert!(status.success());
}

fn mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

#[tokio::test]
async fn a_workers_change_comes_back_as_a_bundle_is_pushed_and_proposed() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let forge = ForgeContract::start("acme", "widgets", "tok-workspace-test").unwrap();
    let target = target_of(&forge);
    let job = assignment(&url, Some(target));
    let workspace = Workspace::prepare(&dir.join("ws"), &job, &policy(&dir), LIMITS)
        .await
        .unwrap();
    let checkout = workspace.sandbox_checkout().to_owned();
    // The sandbox's copy is on a disk of its own, has no remote, and holds no credential.
    let disk = checkout.parent().unwrap().to_owned();
    assert!(mounted(&disk), "{} is a mounted disk", disk.display());
    let remotes = git(&checkout, &["-c", "safe.directory=*", "remote"]).unwrap();
    assert_eq!(remotes.trim(), "");
    let config = std::fs::read_to_string(checkout.join(".git/config")).unwrap();
    assert!(!config.contains("tok-workspace-test") && !config.contains(&url));

    commit_as_agent(&workspace, "NOTES.md");
    let report = workspace.publish(&job, text()).await.unwrap();

    let bare = dir.join("widgets.git");
    assert_eq!(report.branch, "cyn-1-add-notes-abc123");
    assert_eq!(
        git(&bare, &["rev-parse", &report.branch]).unwrap().trim(),
        report.commit
    );
    assert_eq!(
        git(
            &bare,
            &["rev-list", "--count", "main..cyn-1-add-notes-abc123"]
        )
        .unwrap()
        .trim(),
        "1"
    );
    let pull = report.pull_request.expect("a pull request");
    assert_eq!(
        (pull.number, pull.url.as_str()),
        (1, "https://forge.test/acme/widgets/pull/1")
    );
    let requests = forge.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, 201, "{:?}", requests[0].refusal);
    assert_eq!(requests[0].body["head"], "cyn-1-add-notes-abc123");
    assert_eq!(requests[0].body["base"], "main");
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer tok-workspace-test")
    );
    workspace.release().await;
    assert!(!mounted(&disk), "the disk is gone with the job");
    assert!(!dir.join("ws").exists());

    // A forge that refuses the token fails the attempt with the node's words: its status,
    // never its body, and no credential.
    let forge_refusing = ForgeContract::start("acme", "widgets", "another-token").unwrap();
    let mut wrong = job.clone();
    wrong.forge.as_mut().unwrap().api_url = forge_refusing.url.clone();
    let again = Workspace::prepare(&dir.join("ws2"), &wrong, &policy(&dir), LIMITS)
        .await
        .unwrap();
    commit_as_agent(&again, "MORE.md");
    let err = again.publish(&wrong, text()).await.unwrap_err();
    assert!(err.contains("refused the pull request (401"), "{err}");
    assert!(
        !err.contains("tok-workspace-test") && !err.contains("message"),
        "{err}"
    );
    again.release().await;
}

#[tokio::test]
async fn a_worker_that_committed_nothing_pushes_nothing() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let job = assignment(&url, None);
    let workspace = Workspace::prepare(&dir.join("ws"), &job, &policy(&dir), LIMITS)
        .await
        .unwrap();
    let err = workspace.publish(&job, text()).await.unwrap_err();
    assert_eq!(err, "the worker left no change (no change.bundle in /out)");
    let branches = git(&dir.join("widgets.git"), &["branch", "--list"]).unwrap();
    assert_eq!(branches.trim(), "* main");
    workspace.release().await;
}

/// A canary the node may never read: a file standing for the node's secret, and a
/// repository standing for another project's objects.
struct Canary {
    file: PathBuf,
    text: String,
    repo: PathBuf,
    commit: String,
}

fn canary(dir: &Path) -> Canary {
    let text = format!("canary-{}", unique_handle("secret"));
    let file = dir.join("node-secret");
    std::fs::write(&file, &text).unwrap();
    let url = bare_repository(dir, "other-project", &[("SECRET.md", &text)]).unwrap();
    let repo = PathBuf::from(url.trim_start_matches("file://"));
    let commit = git(&repo, &["rev-parse", "main"])
        .unwrap()
        .trim()
        .to_owned();
    Canary {
        file,
        text,
        repo,
        commit,
    }
}

/// What a hostile job leaves in its checkout for the node's git to trip over.
fn plant_traps(checkout: &Path, canary: &Canary) {
    let git_dir = checkout.join(".git");
    let _ = std::fs::remove_file(git_dir.join("packed-refs"));
    std::os::unix::fs::symlink(&canary.file, git_dir.join("packed-refs")).unwrap();
    std::fs::write(
        git_dir.join("objects/info/alternates"),
        format!("{}/objects\n", canary.repo.display()),
    )
    .unwrap();
    let hook = git_dir.join("hooks/post-checkout");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\ncat {} > /tmp/hooked\n", canary.file.display()),
    )
    .unwrap();
    let mut config = std::fs::read_to_string(git_dir.join("config")).unwrap();
    config.push_str("[core]\n\tfsmonitor = cat /etc/shadow\n[include]\n\tpath = /etc/shadow\n");
    std::fs::write(git_dir.join("config"), config).unwrap();
}

#[tokio::test]
async fn nothing_a_job_plants_in_its_checkout_acts_on_the_node() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let canary = canary(&dir);
    let job = assignment(&url, None);
    let workspace = Workspace::prepare(&dir.join("ws"), &job, &policy(&dir), LIMITS)
        .await
        .unwrap();
    commit_as_agent(&workspace, "NOTES.md");
    plant_traps(workspace.sandbox_checkout(), &canary);
    let report = workspace.publish(&job, text()).await.unwrap();
    let bare = dir.join("widgets.git");
    let pushed = git(&bare, &["rev-list", "--objects", &report.branch]).unwrap();
    assert!(
        !pushed.contains(&canary.commit),
        "the canary's commit was pushed"
    );
    assert!(
        git(&bare, &["cat-file", "-e", &canary.commit]).is_err(),
        "the canary's objects reached the remote"
    );
    let log = git(&bare, &["log", "-p", &report.branch]).unwrap();
    assert!(!log.contains(&canary.text));
    workspace.release().await;

    // The reproduction: the change itself is a symlink to the node's secret.
    let again = Workspace::prepare(&dir.join("ws2"), &job, &policy(&dir), LIMITS)
        .await
        .unwrap();
    let out = again.sandbox_out().unwrap();
    std::os::unix::fs::symlink(&canary.file, out.join("change.bundle")).unwrap();
    plant_traps(again.sandbox_checkout(), &canary);
    let err = again.publish(&job, text()).await.unwrap_err();
    assert_eq!(err, "the worker's change is not a regular file");
    again.release().await;

    // A change that is not a bundle: refused in the node's words, its content nowhere.
    let third = Workspace::prepare(&dir.join("ws3"), &job, &policy(&dir), LIMITS)
        .await
        .unwrap();
    std::fs::write(
        third.sandbox_out().unwrap().join("change.bundle"),
        &canary.text,
    )
    .unwrap();
    let err = third.publish(&job, text()).await.unwrap_err();
    assert!(
        err.starts_with("the worker's change is not a valid git bundle"),
        "{err}"
    );
    assert!(!err.contains(&canary.text), "{err}");
    third.release().await;
    assert!(!Path::new("/tmp/hooked").exists(), "a planted hook ran");
}

#[tokio::test]
async fn a_job_writing_past_its_disk_runs_out_of_space_and_the_disk_reads_full() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let job = assignment(&url, None);
    let small = WorkspaceLimits {
        disk_bytes: 16 << 20,
        ..LIMITS
    };
    let workspace = Workspace::prepare(&dir.join("ws"), &job, &policy(&dir), small)
        .await
        .unwrap();
    assert_eq!(workspace.disk_full(), None);
    let filled = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "dd if=/dev/zero of={}/big bs=1M count=64 2>&1",
            workspace.sandbox_checkout().display()
        ))
        .output()
        .unwrap();
    assert!(!filled.status.success(), "writing past the disk fails");
    assert!(
        String::from_utf8_lossy(&filled.stdout).contains("No space left"),
        "{}",
        String::from_utf8_lossy(&filled.stdout)
    );
    assert_eq!(workspace.disk_full(), Some(16 << 20));
    workspace.release().await;
}

#[tokio::test]
async fn repositories_and_forges_outside_the_nodes_policy_are_refused_before_cloning() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let elsewhere = scratch_dir(&unique_handle("elsewhere"));
    let outside = bare_repository(&elsewhere, "secret", &[("SECRET.md", "x")]).unwrap();
    let job = assignment(&outside, None);
    let err = Workspace::prepare(&dir.join("ws"), &job, &policy(&dir), LIMITS)
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("not under any of this node's remotes.file_roots"),
        "{err}"
    );

    let forge = ForgeContract::start("acme", "widgets", "tok-workspace-test").unwrap();
    let target = target_of(&forge);
    let job = assignment(&url, Some(target));
    let strict = RemotePolicy {
        file_roots: vec![dir.clone()],
        ..RemotePolicy::default()
    };
    let err = Workspace::prepare(&dir.join("ws2"), &job, &strict, LIMITS)
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("the project's forge") && err.contains("private_hosts"),
        "{err}"
    );
    assert!(forge.requests().is_empty(), "the forge was called");
    assert!(!dir.join("ws2/base").exists(), "nothing was cloned");
}
