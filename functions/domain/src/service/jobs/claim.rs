//! What a node gets when it claims a job: the job's spec (its input, attachments as
//! download URLs, the owner's effective preferences) and, for planned work, the
//! assignment with the project's repository, which only a node with the project's label
//! may take.

use super::{Claimant, JobService};
use crate::audit::{Actor, AuditRecord};
use crate::error::{Error, Result};
use crate::ids::NodeId;
use crate::job::Job;
use crate::plan::JobRole;
use crate::preference::JobPreferences;
use crate::project::Project;
use crate::service::preferences::effective_for_task;
use crate::service::tasks::load_input;
use crate::skill::skills_for;
use crate::task::Task;
use crate::wire::{
    AgentAssignment, AttachmentDownload, Credential, ForgeTarget, InputMode, JobClaim, JobSpec,
    SubtaskBrief,
};
use crate::ErrorCode;

/// Whether a job may run on the claiming node, and with which assignment.
enum Placement {
    Here(Option<Box<AgentAssignment>>),
    /// Not on this node, and why.
    Elsewhere(String),
}

impl JobService {
    /// The claim for `claimant`, or (inner `Err`) why the job is not for it.
    pub(super) async fn claim_for(
        &self,
        claimant: &Claimant<'_>,
        task: &Task,
        job: &Job,
    ) -> Result<std::result::Result<JobClaim, String>> {
        let node = claimant.node;
        let lease = job
            .lease
            .as_ref()
            .ok_or_else(|| Error::internal("claimed job has no lease"))?;
        if task.hosted() && !claimant.hosted_models {
            return Ok(Err(
                "this node runs no jobs with hosted models (it lacks the helpers their pods mount, or predates them)"
                    .into(),
            ));
        }
        let agent = match self.assignment(node, task, job, claimant.labels).await? {
            Placement::Here(agent) => agent.map(|agent| *agent),
            Placement::Elsewhere(reason) => return Ok(Err(reason)),
        };
        let mut attachments = Vec::with_capacity(task.attachments.len());
        for attachment in &task.attachments {
            attachments.push(AttachmentDownload {
                name: attachment.name.clone(),
                size: attachment.size,
                url: self
                    .blobs
                    .download_url(&attachment.blob_key, self.settings.download_url_ttl_secs)
                    .await?,
            });
        }
        let mut spec = JobSpec {
            mode: task.mode,
            prompt: None,
            model: task.routed_model(),
            inference: task.needs_inference(),
            hosted: task.hosted(),
            messages: vec![],
            agent_chat: false,
            max_tokens: None,
            temperature: None,
            chat: Default::default(),
            direct: None,
            script: None,
            commands: vec![],
            attachments,
            timeout_secs: task.timeout_secs,
            image: task.image.clone(),
            env: Default::default(),
            agent,
            agent_max_steps: None,
            skills: vec![],
        };
        load_input(self.blobs.as_ref(), task)
            .await?
            .fill_spec(&mut spec);
        // A conversation for `cynodeai.pm`: the agent answers, with the routed model.
        spec.agent_chat = !spec.messages.is_empty() && task.model.is_none();
        self.apply_owner_choices(task, &mut spec).await?;
        Ok(Ok(JobClaim {
            attempt: job.attempt,
            lease_id: lease.id.clone(),
            lease_expires_at: lease.expires_at,
            job_token: self.keys.job_token(node, &job.id, &lease.id),
            spec,
        }))
    }

    /// Fills in what the task left open from its owner's effective preferences, and
    /// gives an agent job the owner's skills that apply to it (both read at once). A
    /// chat with a model (or a direct model call) has nothing they tune, and reads
    /// nothing: its first token waits on this claim.
    async fn apply_owner_choices(&self, task: &Task, spec: &mut JobSpec) -> Result<()> {
        let model_call = spec.direct.is_some() || (!spec.messages.is_empty() && !spec.agent_chat);
        if model_call {
            return Ok(());
        }
        let agent_job = spec.mode == InputMode::Prompt || spec.agent.is_some();
        let preferences = async {
            match &self.preferences {
                Some(store) => effective_for_task(store.as_ref(), task).await.map(Some),
                None => Ok(None),
            }
        };
        let skills = async {
            match &self.skills {
                Some(store) if agent_job => Ok(store.skills(&task.owner).await?),
                _ => Ok::<_, Error>(Vec::new()),
            }
        };
        let (preferences, skills) = tokio::try_join!(preferences, skills)?;
        let prompt = spec
            .prompt
            .clone()
            .or_else(|| spec.messages.last().map(|message| message.content.clone()))
            .unwrap_or_default();
        spec.skills = skills_for(&skills, &prompt, task.project_id.as_ref());
        let Some(effective) = preferences else {
            return Ok(());
        };
        let effective = JobPreferences::from_effective(&effective);
        // Tasks routed when they were made already have theirs.
        if spec.inference && spec.model.is_none() && task.routing.is_none() {
            spec.model = effective.default_model;
        }
        spec.timeout_secs = spec.timeout_secs.or(effective.timeout_secs);
        spec.agent_max_steps = effective.agent_max_steps;
        if let Some(agent) = spec.agent.as_mut() {
            agent.test_command = agent.test_command.take().or(effective.test_command);
        }
        Ok(())
    }

    /// A planner's or worker's assignment (the repository, and the subtask), for a node
    /// carrying `labels`: the project's credential goes only to a node with the label the
    /// project requires.
    async fn assignment(
        &self,
        node: &NodeId,
        task: &Task,
        job: &Job,
        labels: &[String],
    ) -> Result<Placement> {
        let (Some(plan), JobRole::Plan | JobRole::Work { .. }) = (&task.plan, job.role) else {
            return Ok(Placement::Here(None));
        };
        let planning = self
            .planning
            .as_ref()
            .ok_or_else(|| Error::internal("this gateway does not run planned work"))?;
        let project_id = task
            .project_id
            .as_ref()
            .ok_or_else(|| Error::internal(format!("planned task {} has no project", task.id)))?;
        let project = planning
            .projects
            .project(&task.owner, project_id)
            .await?
            .ok_or_else(|| {
                Error::conflict(
                    ErrorCode::ProjectGone,
                    format!("the project of task {} was deleted", task.id),
                )
            })?;
        if let Some(label) = &project.build.node_label {
            if !labels.contains(label) {
                return Ok(Placement::Elsewhere(format!(
                    "project '{}' runs only on nodes labelled '{label}'",
                    project.name
                )));
            }
        }
        let credential = match self.project_credential(node, task, &project).await? {
            Ok(credential) => credential,
            Err(reason) => return Ok(Placement::Elsewhere(reason)),
        };
        let mut assignment = AgentAssignment {
            role: "plan".into(),
            repo_url: project.repo_url.clone(),
            default_branch: project.default_branch.clone(),
            credential,
            subtask: None,
            branch: None,
            test_command: project.build.test_command.clone(),
            forge: None,
            previous_error: plan.planner_error.clone(),
        };
        if let JobRole::Work { subtask } = job.role {
            let subtask = plan.subtask(subtask)?;
            assignment.role = "work".into();
            assignment.previous_error = subtask.reason.clone();
            assignment.branch = Some(subtask.branch.clone());
            assignment.subtask = Some(SubtaskBrief {
                number: subtask.number,
                title: subtask.title.clone(),
                spec: subtask.spec.clone(),
                acceptance: subtask.acceptance.clone(),
            });
            assignment.forge = match (&project.build.forge_url, project.forge_repo()) {
                (Some(api_url), Some((owner, repo))) => Some(ForgeTarget {
                    api_url: api_url.clone(),
                    owner,
                    repo,
                }),
                _ => None,
            };
        }
        Ok(Placement::Here(Some(Box::new(assignment))))
    }

    /// The credential a planned job of `project` gets: the stored credential the project
    /// names, or its own. Each one handed out goes on the audit trail with the task. A
    /// stored credential that is disabled (or gone) is handed to no node: the job waits
    /// (inner `Err`, the reason) and the refusal goes on the owner's trail.
    async fn project_credential(
        &self,
        node: &NodeId,
        task: &Task,
        project: &Project,
    ) -> Result<std::result::Result<Option<Credential>, String>> {
        let planning = self
            .planning
            .as_ref()
            .ok_or_else(|| Error::internal("this gateway does not run planned work"))?;
        let (credential, subject) = match &project.credential_name {
            Some(name) => {
                let credentials = planning.credentials.as_ref().ok_or_else(|| {
                    Error::internal("this gateway hands out no stored credentials")
                })?;
                let subject = format!("credential:{name}");
                match credentials.open(&task.owner, name).await {
                    Ok(value) => (Some(Credential(value)), subject),
                    Err(err)
                        if matches!(
                            err.code,
                            ErrorCode::CredentialDisabled | ErrorCode::CredentialNotFound
                        ) =>
                    {
                        let record = AuditRecord::new(
                            "credential.use",
                            Actor::Node(node.to_string()),
                            subject,
                        )
                        .for_task(&task.id)
                        .concerning(&task.owner)
                        .failed(err.code.as_str());
                        self.audit.record(record).await?;
                        return Ok(Err(format!("project '{}': {}", project.name, err.message)));
                    }
                    Err(err) => return Err(err),
                }
            }
            None if project.has_credential => (
                planning.projects.credential(project).await?.map(Credential),
                format!("project:{}", project.id),
            ),
            None => (None, String::new()),
        };
        if credential.is_some() {
            let record = AuditRecord::new("credential.use", Actor::Node(node.to_string()), subject)
                .for_task(&task.id)
                .concerning(&task.owner)
                .detail("handed to the node for the job's repository");
            self.audit.record(record).await?;
        }
        Ok(Ok(credential))
    }
}
