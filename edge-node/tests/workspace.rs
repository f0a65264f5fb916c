//! The node's git side of planned work against real git: a local bare repository as the
//! remote and the forge contract server for the pull request. No model, no sandbox: the
//! test plays the agent by committing in the sandbox's checkout as the sandbox's uid.

use cynode_edge::sandbox::podman::SANDBOX_HOST_UID;
use cynode_edge::workspace::{PullRequestText, Workspace};
use cynode_protocol::wire::{AgentAssignment, Credential, ForgeTarget, SubtaskBrief};
use cynode_testkit::forge::{bare_repository, git, ForgeContract};
use cynode_testkit::{scratch_dir, unique_handle};

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

fn text() -> PullRequestText {
    PullRequestText {
        title: "Add notes".into(),
        body: "Write NOTES.md".into(),
    }
}

/// What the agent does in the sandbox: edit and commit, as the sandbox's user.
fn commit_as_sandbox(checkout: &std::path::Path, file: &str) {
    std::fs::write(checkout.join(file), "hello\n").unwrap();
    let add = std::process::Command::new("sh")
        .current_dir(checkout)
        .arg("-c")
        .arg(format!(
            "git -c safe.directory='*' add {file} && git -c safe.directory='*' -c user.name=w -c user.email=w@test commit -qm 'cyn-1: Add notes' && chown -R {SANDBOX_HOST_UID}:{SANDBOX_HOST_UID} ."
        ))
        .status()
        .unwrap();
    assert!(add.success());
}

#[tokio::test]
async fn a_workers_branch_is_pushed_and_its_pull_request_opened_as_github_documents() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let forge = ForgeContract::start("acme", "widgets", "tok-workspace-test").unwrap();
    let target = ForgeTarget {
        api_url: forge.url.clone(),
        owner: "acme".into(),
        repo: "widgets".into(),
    };
    let job = assignment(&url, Some(target));
    let workspace = Workspace::prepare(&dir.join("ws"), &job, SANDBOX_HOST_UID)
        .await
        .unwrap();
    let checkout = workspace.sandbox_checkout().to_owned();
    // The sandbox's copy has no remote and is the sandbox user's.
    let remotes = git(&checkout, &["-c", "safe.directory=*", "remote"]).unwrap();
    assert_eq!(remotes.trim(), "");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(checkout.join("README.md")).unwrap().uid(),
        SANDBOX_HOST_UID
    );
    let config = std::fs::read_to_string(checkout.join(".git/config")).unwrap();
    assert!(!config.contains("tok-workspace-test") && !config.contains(&url));

    commit_as_sandbox(&checkout, "NOTES.md");
    let http = reqwest::Client::new();
    let report = workspace.publish(&job, &http, text()).await.unwrap();

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

    // A forge that refuses the token fails the attempt, and the error has no credential.
    let again = Workspace::prepare(&dir.join("ws2"), &job, SANDBOX_HOST_UID)
        .await
        .unwrap();
    commit_as_sandbox(again.sandbox_checkout(), "MORE.md");
    let forge_refusing = ForgeContract::start("acme", "widgets", "another-token").unwrap();
    let mut wrong = job.clone();
    wrong.forge.as_mut().unwrap().api_url = forge_refusing.url.clone();
    let err = again.publish(&wrong, &http, text()).await.unwrap_err();
    assert!(err.contains("refused the pull request (401"), "{err}");
    assert!(!err.contains("tok-workspace-test"));
}

#[tokio::test]
async fn a_worker_that_committed_nothing_pushes_nothing() {
    let dir = scratch_dir(&unique_handle("workspace"));
    let url = bare_repository(&dir, "widgets", &[("README.md", "# Widgets\n")]).unwrap();
    let job = assignment(&url, None);
    let workspace = Workspace::prepare(&dir.join("ws"), &job, SANDBOX_HOST_UID)
        .await
        .unwrap();
    let err = workspace
        .publish(&job, &reqwest::Client::new(), text())
        .await
        .unwrap_err();
    assert_eq!(err, "the worker's branch has no new commit");
    let branches = git(&dir.join("widgets.git"), &["branch", "--list"]).unwrap();
    assert_eq!(branches.trim(), "* main");
}
