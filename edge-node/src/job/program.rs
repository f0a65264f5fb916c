//! What the sandbox runs for a claimed job, and everything it needs set up first: a
//! chat with a model is answered by the node itself and streamed; commands and scripts
//! run as given; a prompt runs the agent with its job file ([`AgentJob`]), and planned
//! work gets the repository prepared by the node (with the credential, which stays out
//! of the sandbox). Jobs that need a model get their own inference socket; attachments
//! are downloaded into the job's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cynode_protocol::limits::MAX_ATTACHMENT_BYTES;
use cynode_protocol::plan::WorkReport;
use cynode_protocol::status::JobOutcome;
use cynode_protocol::wire::{
    AgentAssignment, ChatAnswer, ChatMessage, DirectCall, InferenceUsage, InputMode, JobClaim,
};

use super::chunks::GatewaySink;
use super::{Claimed, JobRunner, JobStop};
use crate::inference::direct::{self, DirectChat};
use crate::inference::embeddings;
use crate::inference::forwarder::JobProxy;
use crate::inference::hosted::{ClaimRelay, HostedModels};
use crate::inference::job_models::JobModels;
use crate::inference::NodeInference;
use crate::prompt_agent::{AgentJob, AgentRole};
use crate::sandbox::{Checkout, InferenceAccess, Program, SandboxJob, SandboxOutcome, StreamTaps};
use crate::workspace::{PullRequestText, Workspace, WorkspaceLimits};

/// A job's scratch space on the node, removed when it ends.
pub(super) struct JobDirs {
    /// Its private directory (attachments, the agent's job file).
    pub job: PathBuf,
    /// Where a planned job's repository is prepared.
    pub workspace: PathBuf,
    /// Its inference socket's directory, on nodes with models.
    pub proxy: Option<PathBuf>,
}

/// What a job's run produced.
pub struct Executed {
    pub outcome: SandboxOutcome,
    /// The model calls it made, for jobs with a model.
    pub usage: Option<InferenceUsage>,
    /// A worker's pushed branch.
    pub work: Option<WorkReport>,
    /// How a model's direct answer ended, its tool calls and log probabilities.
    pub answer: Option<ChatAnswer>,
}

fn no_models() -> String {
    "this node serves no models, and the job needs one".to_owned()
}

/// The agent's instructions for a planner or worker assignment.
pub fn assign(job: &mut AgentJob, assignment: &AgentAssignment) {
    job.workdir = Some("/repo".into());
    let retry_note = |error: &Option<String>| match error {
        Some(error) => format!("\n\nThe previous attempt failed: {error}"),
        None => String::new(),
    };
    match (assignment.role.as_str(), &assignment.subtask) {
        ("work", Some(subtask)) => {
            job.role = AgentRole::Work;
            job.test_command = assignment.test_command.clone();
            job.commit_subject = Some(format!("cyn-{}: {}", subtask.number, subtask.title));
            let tests = match &assignment.test_command {
                Some(test) => format!("\n\nThis command must pass when you are done: {test}"),
                None => String::new(),
            };
            job.prompt = format!(
                "Subtask {}: {}\n\nSpec:\n{}\n\nAcceptance criteria:\n{}{tests}{}",
                subtask.number,
                subtask.title,
                subtask.spec,
                subtask.acceptance,
                retry_note(&assignment.previous_error)
            );
        }
        _ => {
            job.role = AgentRole::Plan;
            job.prompt = format!(
                "Feature request:\n{}{}",
                job.prompt,
                retry_note(&assignment.previous_error)
            );
        }
    }
}

/// A conversation as one prompt for the agent: the last message alone when it is the
/// only one, else the exchange so far and the question to answer.
pub fn conversation_prompt(messages: &[ChatMessage]) -> String {
    match messages {
        [] => String::new(),
        [only] => only.content.clone(),
        [earlier @ .., last] => {
            let mut text = String::from("The conversation so far:\n");
            for message in earlier {
                text.push_str(&format!("{}: {}\n", message.role, message.content));
            }
            text.push_str(&format!(
                "\nAnswer this {} message:\n{}",
                last.role, last.content
            ));
            text
        }
    }
}

/// Who answers a job's model calls: the node's model server, or (for a hosted model)
/// the gateway's egress.
enum ModelAccess<'a> {
    Node(&'a NodeInference),
    Hosted(&'a HostedModels),
}

impl ModelAccess<'_> {
    fn helper(&self, name: &str) -> PathBuf {
        match self {
            ModelAccess::Node(node) => node.helper(name),
            ModelAccess::Hosted(hosted) => hosted.helper(name),
        }
    }

    /// The model the job's calls name.
    fn model_for(&self, claim: &JobClaim) -> Result<String, String> {
        match self {
            ModelAccess::Node(node) => node.model_for(claim.spec.model.as_deref()),
            ModelAccess::Hosted(_) => claim
                .spec
                .model
                .clone()
                .ok_or_else(|| "a job with a hosted model names no model".to_owned()),
        }
    }

    fn agent_max_steps(&self) -> u32 {
        match self {
            ModelAccess::Node(node) => node.settings.agent_max_steps,
            ModelAccess::Hosted(hosted) => hosted.agent_max_steps,
        }
    }
}

fn no_hosted() -> String {
    "this node cannot run jobs with hosted models: the helpers their pods mount (cynode-inference-proxy, cynode-prompt-agent) are missing from its helpers_dir".to_owned()
}

/// The agent's job file for a prompt (and for planned work, its assignment).
fn agent_job(access: &ModelAccess<'_>, claim: &JobClaim) -> Result<AgentJob, String> {
    let prompt = match &claim.spec.prompt {
        Some(prompt) => prompt.clone(),
        None => conversation_prompt(&claim.spec.messages),
    };
    let mut job = AgentJob {
        model: access.model_for(claim)?,
        // The owner's preference, within the bounds the node itself allows.
        max_steps: claim
            .spec
            .agent_max_steps
            .map_or(access.agent_max_steps(), |steps| steps.clamp(1, 64)),
        command_timeout_secs: 60,
        max_tokens: 256,
        role: AgentRole::Answer,
        workdir: None,
        test_command: None,
        commit_subject: None,
        base_commit: None,
        skills: claim.spec.skills.clone(),
        prompt,
    };
    if let Some(assignment) = &claim.spec.agent {
        assign(&mut job, assignment);
    }
    Ok(job)
}

impl JobRunner {
    /// Who answers `claim`'s model calls on this node.
    fn model_access(&self, claim: &JobClaim) -> Result<ModelAccess<'_>, String> {
        match claim.spec.hosted {
            true => self
                .setup
                .hosted
                .as_deref()
                .map(ModelAccess::Hosted)
                .ok_or_else(no_hosted),
            false => self
                .setup
                .inference
                .as_deref()
                .map(ModelAccess::Node)
                .ok_or_else(no_models),
        }
    }

    /// Runs the job; `Err` says why it could not run at all.
    pub(super) async fn execute(
        &self,
        job: &Claimed,
        dirs: &JobDirs,
        timeout: Duration,
        stop: &JobStop,
        taps: &StreamTaps,
        workspace: &mut Option<Workspace>,
    ) -> Result<Executed, String> {
        let claim = &job.claim;
        let inference = self.setup.inference.as_deref();
        // A chat, a legacy completion or embeddings with a model: the node asks the
        // model itself (and streams text on).
        match (&claim.spec.direct, &claim.spec.model) {
            (Some(DirectCall::Embeddings { input }), Some(model)) => {
                return self.embed(inference, model, input, timeout, stop).await;
            }
            (Some(DirectCall::Completions { prompt }), Some(model)) => {
                return self
                    .chat(job, inference, model, Some(prompt), timeout, stop)
                    .await;
            }
            (None, Some(model)) if !claim.spec.messages.is_empty() && !claim.spec.agent_chat => {
                return self.chat(job, inference, model, None, timeout, stop).await;
            }
            _ => {}
        }
        let mut program = match claim.spec.mode {
            InputMode::Script => Program::Script(claim.spec.script.clone().unwrap_or_default()),
            InputMode::Commands => Program::Commands(claim.spec.commands.clone()),
            InputMode::Prompt => {
                let access = self.model_access(claim)?;
                Program::Agent {
                    job: agent_job(&access, claim)?,
                    binary: access.helper("cynode-prompt-agent"),
                }
            }
        };
        if let Some(assignment) = &claim.spec.agent {
            let prepared = self.prepare_workspace(dirs, assignment).await?;
            // A worker hands its commits back as a bundle of what follows this one.
            if let (Program::Agent { job, .. }, true) =
                (&mut program, prepared.sandbox_out().is_some())
            {
                job.base_commit = Some(prepared.base_commit().to_owned());
            }
            *workspace = Some(prepared);
        }
        let (proxy, access) = self.open_proxy(job, dirs)?;
        self.fetch_attachments(claim, &dirs.job).await?;
        let image = match claim.spec.image.as_deref() {
            None => None,
            Some(named) => Some(
                self.setup
                    .limits
                    .image_for(Some(named))
                    .ok_or_else(|| format!("this node does not allow the image '{named}'"))?
                    .to_owned(),
            ),
        };
        let sandbox_job = SandboxJob {
            job_id: job.message.job_id.clone(),
            attempt: claim.attempt,
            image,
            program,
            job_dir: dirs.job.clone(),
            timeout,
            inference: access,
            progress: taps.progress.clone(),
            log: taps.log.clone(),
            checkout: workspace.as_ref().map(|ws| Checkout {
                path: ws.sandbox_checkout().to_owned(),
                out: ws.sandbox_out(),
            }),
        };
        let mut outcome = self.setup.sandbox.run(sandbox_job, stop.token()).await;
        let mut work = None;
        if let (Some(assignment), Some(ws)) = (&claim.spec.agent, workspace.as_ref()) {
            work = after_agent(assignment, ws, &mut outcome).await;
        }
        let usage = match proxy {
            Some(proxy) => Some(proxy.finish().await),
            None => None,
        };
        Ok(Executed {
            outcome,
            usage,
            work,
            answer: None,
        })
    }

    /// A chat (or, with `prompt`, a legacy completion) answered by the node's model
    /// directly, its text streamed as it comes.
    async fn chat(
        &self,
        job: &Claimed,
        inference: Option<&NodeInference>,
        model: &str,
        prompt: Option<&str>,
        timeout: Duration,
        stop: &JobStop,
    ) -> Result<Executed, String> {
        let node = inference.ok_or_else(no_models)?;
        node.model_for(Some(model))?;
        let sink = GatewaySink { runner: self, job };
        let chat = DirectChat {
            model,
            messages: &job.claim.spec.messages,
            prompt,
            max_tokens: job.claim.spec.max_tokens,
            temperature: job.claim.spec.temperature,
            options: &job.claim.spec.chat,
            call_prefix: format!("call_{}", job.message.task_id.as_str().to_lowercase()),
        };
        let (outcome, usage, answer) = direct::answer(
            node.forwarder.http(),
            node.forwarder.upstream(),
            chat,
            &sink,
            timeout,
            stop.token(),
        )
        .await;
        Ok(Executed {
            outcome,
            usage: Some(usage),
            work: None,
            answer,
        })
    }

    /// Embeddings by the node's model, at its embeddings endpoint if it has its own.
    async fn embed(
        &self,
        inference: Option<&NodeInference>,
        model: &str,
        input: &[String],
        timeout: Duration,
        stop: &JobStop,
    ) -> Result<Executed, String> {
        let node = inference.ok_or_else(no_models)?;
        node.model_for(Some(model))?;
        let endpoint = node
            .settings
            .embeddings_url
            .as_deref()
            .unwrap_or(node.forwarder.upstream());
        let (outcome, usage) = embeddings::embed(
            node.forwarder.http(),
            endpoint,
            model,
            input,
            timeout,
            stop.token(),
        )
        .await;
        Ok(Executed {
            outcome,
            usage: Some(usage),
            work: None,
            answer: None,
        })
    }

    /// Planned work: the node clones the repository (with the credential, which stays out
    /// of the sandbox) and mounts a copy at /repo.
    async fn prepare_workspace(
        &self,
        dirs: &JobDirs,
        assignment: &AgentAssignment,
    ) -> Result<Workspace, String> {
        let limits = WorkspaceLimits {
            disk_bytes: self.setup.limits.disk_bytes,
            max_change_bytes: self.setup.limits.max_change_bytes,
        };
        Workspace::prepare(&dirs.workspace, assignment, &self.setup.remotes, limits).await
    }

    /// Jobs that need a model get the pod's way to it: a socket served here.
    fn open_proxy(
        &self,
        job: &Claimed,
        dirs: &JobDirs,
    ) -> Result<(Option<JobProxy>, Option<InferenceAccess>), String> {
        let claim = &job.claim;
        if !claim.spec.inference {
            return Ok((None, None));
        }
        let access = self.model_access(claim)?;
        let proxy_dir = dirs.proxy.as_ref().ok_or_else(no_models)?;
        let (forwarder, models) = match access {
            ModelAccess::Node(node) => {
                if let Some(model) = claim.spec.model.as_deref() {
                    node.model_for(Some(model))?;
                }
                (&node.forwarder, JobModels::Served(node.models.clone()))
            }
            ModelAccess::Hosted(hosted) => {
                let relay = ClaimRelay {
                    gateway: self.setup.gateway.clone(),
                    identity: self.setup.identity.clone(),
                    job: job.message.job_id.clone(),
                    task: job.message.task_id.clone(),
                    attempt: claim.attempt,
                    lease: claim.lease_id.clone(),
                    job_token: claim.job_token.clone(),
                };
                let models = JobModels::Hosted {
                    model: access.model_for(claim)?,
                    relay: std::sync::Arc::new(relay),
                };
                (&hosted.forwarder, models)
            }
        };
        std::fs::create_dir_all(proxy_dir)
            .map_err(|err| format!("creating the proxy directory: {err}"))?;
        let proxy = forwarder
            .serve(
                &proxy_dir.join(crate::sandbox::INFERENCE_SOCKET),
                job.message.job_id.clone(),
                models,
            )
            .map_err(|err| format!("opening the job's inference socket: {err}"))?;
        let access = InferenceAccess {
            socket_dir: proxy_dir.clone(),
            proxy_binary: access.helper("cynode-inference-proxy"),
        };
        Ok((Some(proxy), Some(access)))
    }

    async fn fetch_attachments(&self, claim: &JobClaim, job_dir: &Path) -> Result<(), String> {
        if claim.spec.attachments.is_empty() {
            return Ok(());
        }
        let dir = job_dir.join("attachments");
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("creating the attachments directory: {err}"))?;
        for attachment in &claim.spec.attachments {
            // Names were checked by the gateway; check again before touching the disk.
            if attachment.name.contains('/') || attachment.name == ".." || attachment.name == "." {
                return Err(format!("refusing attachment name '{}'", attachment.name));
            }
            let limit = attachment.size.min(MAX_ATTACHMENT_BYTES);
            self.setup
                .gateway
                .download(&attachment.url, &dir.join(&attachment.name), limit)
                .await
                .map_err(|err| format!("downloading attachment '{}': {err}", attachment.name))?;
        }
        Ok(())
    }
}

/// After a planner or worker: a worker's finished change is pushed and proposed; a
/// failed agent's reason is its last words (the sandbox's exit code says little).
async fn after_agent(
    assignment: &AgentAssignment,
    workspace: &Workspace,
    outcome: &mut SandboxOutcome,
) -> Option<WorkReport> {
    if let Some(size) = workspace.disk_full() {
        tracing::warn!(disk_bytes = size, "the worker filled its disk");
        outcome.status = JobOutcome::Failed;
        outcome.error = Some(format!(
            "disk_quota_exceeded: the job filled its disk of {} MiB",
            size >> 20
        ));
        return None;
    }
    if outcome.status == JobOutcome::Completed && assignment.role == "work" {
        let subtask = assignment.subtask.as_ref();
        let text = PullRequestText {
            title: subtask.map_or_else(|| "CyNode change".to_owned(), |s| s.title.clone()),
            body: format!(
                "{}\n\n{}\n\n_Built by a CyNode worker agent._",
                subtask.map(|s| s.spec.as_str()).unwrap_or_default(),
                outcome.stdout.trim()
            ),
        };
        match workspace.publish(assignment, text).await {
            Ok(report) => {
                tracing::info!(branch = %report.branch, commit = %report.commit, "pushed the worker's branch");
                return Some(report);
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not publish the worker's change");
                outcome.status = JobOutcome::Failed;
                outcome.error = Some(err);
            }
        }
    }
    if outcome.status == JobOutcome::Failed && outcome.error.is_none() {
        outcome.error = outcome
            .stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| {
                line.trim_start_matches("cynode-prompt-agent: ")
                    .chars()
                    .take(300)
                    .collect()
            });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use cynode_protocol::wire::{Credential, SubtaskBrief};

    fn agent_job() -> AgentJob {
        AgentJob {
            prompt: "Add a README".into(),
            model: "m".into(),
            max_steps: 8,
            command_timeout_secs: 60,
            max_tokens: 256,
            role: AgentRole::Answer,
            workdir: None,
            test_command: None,
            commit_subject: None,
            base_commit: None,
            skills: vec![],
        }
    }

    fn assignment(role: &str) -> AgentAssignment {
        AgentAssignment {
            role: role.into(),
            repo_url: "file:///srv/widgets.git".into(),
            default_branch: "main".into(),
            credential: Some(Credential("tok-never-in-a-prompt".into())),
            subtask: (role == "work").then(|| SubtaskBrief {
                number: 2,
                title: "Write notes".into(),
                spec: "Create NOTES.md".into(),
                acceptance: "NOTES.md says hello".into(),
            }),
            branch: Some("cyn-2-write-notes-abc123".into()),
            test_command: Some("make test".into()),
            forge: None,
            previous_error: Some("the tests failed (exit 1): make test".into()),
        }
    }

    #[test]
    fn a_planner_gets_the_request_and_why_its_last_plan_was_refused() {
        let mut job = agent_job();
        assign(&mut job, &assignment("plan"));
        assert_eq!(job.role, AgentRole::Plan);
        assert_eq!(job.workdir.as_deref(), Some("/repo"));
        assert!(job.prompt.starts_with("Feature request:\nAdd a README"));
        assert!(job
            .prompt
            .ends_with("The previous attempt failed: the tests failed (exit 1): make test"));
        assert_eq!(job.test_command, None);
    }

    #[test]
    fn a_worker_gets_its_subtask_tests_and_commit_subject_and_never_the_credential() {
        let mut job = agent_job();
        assign(&mut job, &assignment("work"));
        assert_eq!(job.role, AgentRole::Work);
        assert_eq!(job.test_command.as_deref(), Some("make test"));
        assert_eq!(job.commit_subject.as_deref(), Some("cyn-2: Write notes"));
        for part in [
            "Subtask 2: Write notes",
            "Create NOTES.md",
            "NOTES.md says hello",
            "must pass when you are done: make test",
        ] {
            assert!(job.prompt.contains(part), "{part}: {}", job.prompt);
        }
        let written = serde_json::to_string(&job).unwrap();
        assert!(
            !written.contains("tok-never-in-a-prompt"),
            "the job file the sandbox reads"
        );
    }
}
