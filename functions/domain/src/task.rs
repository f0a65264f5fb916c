//! Tasks: what a user asked for, its input, its name, and who may see it.

use crate::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::ids::{AttachmentId, ProjectId, TaskId, UserId};
use crate::limits::{
    truncate_utf8, MAX_ATTACHMENTS, MAX_COMMANDS, MAX_COMMANDS_BYTES, MAX_JOB_TIMEOUT_SECS,
    MAX_MODEL_NAME_CHARS, MAX_PROMPT_BYTES, MAX_SCRIPT_BYTES, MAX_TASK_NAME_CHARS,
    PROMPT_PREVIEW_BYTES,
};
use crate::plan::Plan;
use crate::status::TaskStatus;
use crate::wire::{
    AttachmentView, ChatMessage, ChatOptions, CreateTaskRequest, DirectCall, InputMode, JobSpec,
    ModelRoute, TaskRouting, TaskView, Temperature,
};

/// A task's input, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum TaskInput {
    Prompt {
        prompt: String,
    },
    Script {
        script: String,
    },
    Commands {
        commands: Vec<String>,
    },
    /// A chat completion: answered by a model directly, or by the agent.
    Chat {
        messages: Vec<ChatMessage>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<Temperature>,
        /// Sampling, tools and output format (see `chat::check_options`).
        #[serde(default, skip_serializing_if = "ChatOptions::is_empty")]
        options: ChatOptions,
    },
    /// A legacy text completion (`/v1/completions`): the prompt as it is, to a model.
    Completion {
        prompt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_tokens: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        temperature: Option<Temperature>,
        /// Sampling only (see `chat::text_completions`).
        #[serde(default, skip_serializing_if = "ChatOptions::is_empty")]
        options: ChatOptions,
    },
    /// Embeddings of each input, by a model.
    Embeddings {
        input: Vec<String>,
    },
}

impl TaskInput {
    pub fn mode(&self) -> InputMode {
        match self {
            TaskInput::Prompt { .. }
            | TaskInput::Chat { .. }
            | TaskInput::Completion { .. }
            | TaskInput::Embeddings { .. } => InputMode::Prompt,
            TaskInput::Script { .. } => InputMode::Script,
            TaskInput::Commands { .. } => InputMode::Commands,
        }
    }

    /// Puts the input into the fields of the job spec that carry it.
    pub fn fill_spec(self, spec: &mut JobSpec) {
        match self {
            TaskInput::Prompt { prompt } => spec.prompt = Some(prompt),
            TaskInput::Script { script } => spec.script = Some(script),
            TaskInput::Commands { commands } => spec.commands = commands,
            TaskInput::Chat {
                messages,
                max_tokens,
                temperature,
                options,
            } => {
                spec.messages = messages;
                spec.max_tokens = max_tokens;
                spec.temperature = temperature;
                spec.chat = options;
            }
            TaskInput::Completion {
                prompt,
                max_tokens,
                temperature,
                options,
            } => {
                spec.direct = Some(DirectCall::Completions { prompt });
                spec.max_tokens = max_tokens;
                spec.temperature = temperature;
                spec.chat = options;
            }
            TaskInput::Embeddings { input } => {
                spec.direct = Some(DirectCall::Embeddings { input });
            }
        }
    }

    /// What listings show: the prompt, the script, or the commands one per line, cut to
    /// a preview.
    pub fn preview(&self) -> String {
        let full = match self {
            TaskInput::Prompt { prompt } => prompt.clone(),
            TaskInput::Script { script } => script.clone(),
            TaskInput::Commands { commands } => commands.join("\n"),
            TaskInput::Chat { messages, .. } => messages
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .or(messages.last())
                .map(|m| m.content.clone())
                .unwrap_or_default(),
            TaskInput::Completion { prompt, .. } => prompt.clone(),
            TaskInput::Embeddings { input } => input.join("\n"),
        };
        truncate_utf8(&full, PROMPT_PREVIEW_BYTES).0.to_owned()
    }
}

/// Where a task's full input is kept: on the task item when small, else in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredInput {
    Inline(TaskInput),
    Blob { key: String },
}

/// A file uploaded for use by tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub owner: UserId,
    pub name: String,
    pub size: u64,
    pub blob_key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
}

impl Attachment {
    pub fn view(&self) -> AttachmentView {
        AttachmentView {
            attachment_id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub owner: UserId,
    pub name: Option<String>,
    pub mode: InputMode,
    pub prompt_preview: String,
    pub input: StoredInput,
    pub attachments: Vec<Attachment>,
    pub timeout_secs: Option<u64>,
    /// The model the task asked for (see [`NewTask::needs_inference`]).
    pub model: Option<String>,
    /// The `Idempotency-Key` the task was created with: a retried create with the same
    /// key gets this task instead of a second one.
    pub idempotency_key: Option<String>,
    /// The project the task belongs to (checked to be its owner's at creation).
    pub project_id: Option<ProjectId>,
    /// The sandbox image the task names (see [`check_image_name`]).
    pub image: Option<String>,
    /// For planned work (`plan: true`): the planner's progress and the subtasks.
    pub plan: Option<Plan>,
    /// Where its model calls go and why (see [`crate::model_routing`]); `None` for tasks
    /// without a model, and for those made before routing was recorded.
    pub routing: Option<TaskRouting>,
    pub status: TaskStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version: every write must name the version it read.
    pub version: u64,
}

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// An `Idempotency-Key` is 1–255 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> crate::error::Result<()> {
    if (1..=MAX_IDEMPOTENCY_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_graphic())
    {
        Ok(())
    } else {
        Err(crate::error::Error::validation(
            ErrorCode::InvalidIdempotencyKey,
            format!(
                "Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
            ),
        ))
    }
}

impl Task {
    /// Whether `user` may see and act on this task. Ownership has this one home.
    pub fn is_visible_to(&self, user: &UserId) -> bool {
        &self.owner == user
    }

    /// This task for its owner; for anyone else the same "not found" a missing task gets.
    pub fn for_owner(self, user: &UserId, reference: &str) -> Result<Task> {
        if self.is_visible_to(user) {
            Ok(self)
        } else {
            Err(Error::task_not_found(reference))
        }
    }

    pub fn view(&self) -> TaskView {
        TaskView {
            task_id: self.id.clone(),
            status: self.status,
            task_name: self.name.clone(),
            mode: self.mode,
            prompt: self.prompt_preview.clone(),
            model: self.model.clone(),
            attachments: self.attachments.iter().map(Attachment::view).collect(),
            project_id: self.project_id.clone(),
            image: self.image.clone(),
            plan: self.plan.as_ref().map(Plan::summary),
            routing: self.routing.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The task with a new status, stamped and versioned for a conditional write.
    pub fn with_status(&self, status: TaskStatus, now: Timestamp) -> Task {
        Task {
            status,
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// A validated `POST /v1/tasks` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub input: TaskInput,
    pub name: Option<String>,
    pub attachments: Vec<AttachmentId>,
    pub timeout_secs: Option<u64>,
    pub model: Option<String>,
    /// Set by [`crate::service::TaskService::create_once`] from the request header.
    pub idempotency_key: Option<String>,
    /// The project named by the request (id or name), resolved by the task service.
    pub project: Option<String>,
    pub image: Option<String>,
    /// Planned work (see [`crate::plan`]): a prompt for a project, split by a planner.
    pub plan: bool,
}

impl Task {
    /// Whether the task's job needs a model: every prompt (answered by the agent), and
    /// sandbox work that asked for one. Such jobs run with the inference proxy in their
    /// pod, on nodes that report a model.
    pub fn needs_inference(&self) -> bool {
        self.mode == InputMode::Prompt || self.model.is_some()
    }

    /// Whether its model is hosted: its jobs' model calls go through the egress.
    pub fn hosted(&self) -> bool {
        self.routing
            .as_ref()
            .is_some_and(|routing| routing.via == ModelRoute::Egress)
    }

    /// The model its jobs' calls use: the routed one (a served local equivalent may
    /// stand in for what was named), else the one it names.
    pub fn routed_model(&self) -> Option<String> {
        self.routing
            .as_ref()
            .and_then(|routing| routing.model.clone())
            .or_else(|| self.model.clone())
    }
}

/// The request gives exactly one input, and `mode`, if set, names it.
fn check_mode(req: &CreateTaskRequest) -> Result<()> {
    let mode = match req.mode.as_deref() {
        None => None,
        Some("prompt") => Some(InputMode::Prompt),
        Some("script") => Some(InputMode::Script),
        Some("commands") => Some(InputMode::Commands),
        Some(other) => {
            return Err(Error::validation(
                ErrorCode::UnknownMode,
                format!("unknown mode '{other}'; expected prompt, script or commands"),
            ))
        }
    };
    let given: Vec<InputMode> = [
        req.prompt.as_ref().map(|_| InputMode::Prompt),
        req.script.as_ref().map(|_| InputMode::Script),
        req.commands.as_ref().map(|_| InputMode::Commands),
    ]
    .into_iter()
    .flatten()
    .collect();
    let present = match given.as_slice() {
        [] => {
            return Err(Error::validation(
                ErrorCode::MissingInput,
                "give exactly one of prompt, script or commands",
            ))
        }
        [one] => *one,
        _ => {
            return Err(Error::validation(
                ErrorCode::MultipleInputs,
                format!(
                    "give exactly one of prompt, script or commands, not {}",
                    given
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            ))
        }
    };
    if let Some(mode) = mode {
        if mode != present {
            return Err(Error::validation(
                ErrorCode::ModeMismatch,
                format!(
                    "mode is '{}' but the request gives {}",
                    mode.as_str(),
                    present.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The one input, checked against its limits.
fn input_of(
    prompt: Option<String>,
    script: Option<String>,
    commands: Option<Vec<String>>,
) -> Result<TaskInput> {
    if let Some(prompt) = prompt {
        if prompt.trim().is_empty() {
            return Err(Error::validation(
                ErrorCode::EmptyPrompt,
                "prompt must not be empty",
            ));
        }
        check_size("prompt", prompt.len(), MAX_PROMPT_BYTES)?;
        Ok(TaskInput::Prompt { prompt })
    } else if let Some(script) = script {
        if script.trim().is_empty() {
            return Err(Error::validation(
                ErrorCode::EmptyScript,
                "script must not be empty",
            ));
        }
        check_size("script", script.len(), MAX_SCRIPT_BYTES)?;
        Ok(TaskInput::Script { script })
    } else {
        let commands = commands.unwrap_or_default();
        if commands.is_empty() {
            return Err(Error::validation(
                ErrorCode::EmptyCommands,
                "commands must not be empty",
            ));
        }
        if commands.len() > MAX_COMMANDS {
            return Err(Error::validation(
                ErrorCode::TooManyCommands,
                format!("at most {MAX_COMMANDS} commands, got {}", commands.len()),
            ));
        }
        if let Some(blank) = commands.iter().position(|c| c.trim().is_empty()) {
            return Err(Error::validation(
                ErrorCode::EmptyCommand,
                format!("command {} is empty", blank + 1),
            ));
        }
        check_size(
            "commands",
            commands.iter().map(|c| c.len() + 1).sum(),
            MAX_COMMANDS_BYTES,
        )?;
        Ok(TaskInput::Commands { commands })
    }
}

impl NewTask {
    /// Checks a create request: exactly one input, each within its limits.
    pub fn validate(req: CreateTaskRequest) -> Result<NewTask> {
        check_mode(&req)?;
        let input = input_of(req.prompt, req.script, req.commands)?;
        let name = req
            .task_name
            .map(|raw| normalize_task_name(&raw))
            .transpose()?;
        if req.attachments.len() > MAX_ATTACHMENTS {
            return Err(Error::validation(
                ErrorCode::TooManyAttachments,
                format!(
                    "at most {MAX_ATTACHMENTS} attachments, got {}",
                    req.attachments.len()
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = req.attachments.iter().find(|a| !seen.insert(*a)) {
            return Err(Error::validation(
                ErrorCode::DuplicateAttachment,
                format!("attachment {dup} is listed twice"),
            ));
        }
        if let Some(timeout) = req.timeout_seconds {
            if timeout == 0 || timeout > MAX_JOB_TIMEOUT_SECS {
                return Err(Error::validation(
                    ErrorCode::InvalidTimeout,
                    format!("timeout_seconds must be between 1 and {MAX_JOB_TIMEOUT_SECS}"),
                ));
            }
        }
        let model = req.model.map(|m| check_model_name(&m)).transpose()?;
        let image = req.image.map(|i| check_image_name(&i)).transpose()?;
        if req.plan && (req.project.is_none() || !matches!(input, TaskInput::Prompt { .. })) {
            return Err(Error::validation(
                ErrorCode::InvalidPlan,
                "planned work needs a project and a prompt (the feature request)",
            ));
        }
        Ok(NewTask {
            plan: req.plan,
            input,
            name,
            attachments: req.attachments,
            timeout_secs: req.timeout_seconds,
            model,
            idempotency_key: None,
            project: req.project,
            image,
        })
    }
}

/// Model names as Ollama and OpenAI-compatible servers spell them (`llama3.2:3b`,
/// `org/model-GGUF`): 1-128 printable characters without spaces.
pub fn check_model_name(name: &str) -> Result<String> {
    let ok = (1..=MAX_MODEL_NAME_CHARS).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_control()));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::validation(
            ErrorCode::InvalidModel,
            format!("model must be 1-{MAX_MODEL_NAME_CHARS} printable characters without spaces"),
        ))
    }
}

/// An image reference as Podman takes it: `[registry/]name[:tag][@digest]`, lowercase
/// letters, digits and `._-/:@`, at most 255 characters.
pub fn check_image_name(image: &str) -> Result<String> {
    let ok = (1..=255).contains(&image.len())
        && image
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:@".contains(&b))
        && !image.starts_with(['-', '.', '/', ':', '@'])
        && !image.contains("..");
    if ok {
        Ok(image.to_owned())
    } else {
        Err(Error::validation(
            ErrorCode::InvalidImage,
            format!("'{image}' is not an image reference ([registry/]name[:tag], lowercase)"),
        ))
    }
}

fn check_size(what: &str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::validation(
            ErrorCode::InputTooLarge,
            format!("{what} is {len} bytes; the limit is {max}"),
        ));
    }
    Ok(())
}

/// Task names are lowercase words joined by single dashes: `"Nightly Build #3"` becomes
/// `nightly-build-3`. A name that normalizes to nothing is refused.
pub fn normalize_task_name(raw: &str) -> Result<String> {
    let name = normalize_name(raw, ErrorCode::InvalidTaskName, "task_name")?;
    // A name that parses as a task id would make references ambiguous.
    if TaskId::parse(&name).is_some() {
        return Err(Error::validation(
            ErrorCode::InvalidTaskName,
            "task_name must not look like a task id",
        ));
    }
    Ok(name)
}

/// Lowercase words joined by single dashes, at most [`MAX_TASK_NAME_CHARS`]: the names of
/// tasks and projects. Errors carry `code` and name the request's `field`.
pub fn normalize_name(raw: &str, code: ErrorCode, field: &str) -> Result<String> {
    let mut name = String::new();
    let mut pending_dash = false;
    for ch in raw.chars() {
        if ch.is_ascii_alphanumeric() {
            if pending_dash && !name.is_empty() {
                name.push('-');
            }
            pending_dash = false;
            name.push(ch.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if name.is_empty() {
        return Err(Error::validation(
            code,
            format!("{field} must contain at least one letter or digit"),
        ));
    }
    if name.chars().count() > MAX_TASK_NAME_CHARS {
        return Err(Error::validation(
            code,
            format!("{field} is longer than {MAX_TASK_NAME_CHARS} characters once normalized"),
        ));
    }
    Ok(name)
}

/// The `n`th candidate for a name already taken: `build`, `build-2`, `build-3`, …
pub fn nth_name_candidate(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{n}")
    }
}

/// How a route names a task: by id, or by the owner's name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRef {
    Id(TaskId),
    Name(String),
}

impl TaskRef {
    pub fn parse(text: &str) -> Result<TaskRef> {
        if let Some(id) = TaskId::parse(text) {
            return Ok(TaskRef::Id(id));
        }
        normalize_task_name(text)
            .map(TaskRef::Name)
            .map_err(|_| Error::task_not_found(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> CreateTaskRequest {
        CreateTaskRequest::default()
    }

    #[test]
    fn exactly_one_input_is_required() {
        assert_eq!(NewTask::validate(req()).unwrap_err().code, "missing_input");
        let two = CreateTaskRequest {
            prompt: Some("hi".into()),
            commands: Some(vec!["echo".into()]),
            ..req()
        };
        let err = NewTask::validate(two).unwrap_err();
        assert_eq!(err.code, "multiple_inputs");
        assert!(err.message.contains("prompt and commands"));
    }

    #[test]
    fn mode_must_be_known_and_match_the_input() {
        let unknown = CreateTaskRequest {
            mode: Some("shell".into()),
            prompt: Some("x".into()),
            ..req()
        };
        assert_eq!(NewTask::validate(unknown).unwrap_err().code, "unknown_mode");
        let mismatch = CreateTaskRequest {
            mode: Some("script".into()),
            prompt: Some("x".into()),
            ..req()
        };
        assert_eq!(
            NewTask::validate(mismatch).unwrap_err().code,
            "mode_mismatch"
        );
    }

    #[test]
    fn empty_inputs_are_refused() {
        let cases = [
            (
                CreateTaskRequest {
                    prompt: Some("  \n".into()),
                    ..req()
                },
                "empty_prompt",
            ),
            (
                CreateTaskRequest {
                    script: Some("".into()),
                    ..req()
                },
                "empty_script",
            ),
            (
                CreateTaskRequest {
                    commands: Some(vec![]),
                    ..req()
                },
                "empty_commands",
            ),
            (
                CreateTaskRequest {
                    commands: Some(vec!["true".into(), " ".into()]),
                    ..req()
                },
                "empty_command",
            ),
        ];
        for (request, code) in cases {
            assert_eq!(NewTask::validate(request).unwrap_err().code, code);
        }
    }

    #[test]
    fn inputs_over_their_limits_are_refused() {
        let big_script = CreateTaskRequest {
            script: Some("x".repeat(MAX_SCRIPT_BYTES + 1)),
            ..req()
        };
        assert_eq!(
            NewTask::validate(big_script).unwrap_err().code,
            "input_too_large"
        );
        let at_limit = CreateTaskRequest {
            script: Some("x".repeat(MAX_SCRIPT_BYTES)),
            ..req()
        };
        assert!(NewTask::validate(at_limit).is_ok());
    }

    #[test]
    fn commands_keep_their_order_and_mode_is_inferred() {
        let task = NewTask::validate(CreateTaskRequest {
            commands: Some(vec!["b".into(), "a".into()]),
            ..req()
        })
        .unwrap();
        assert_eq!(
            task.input,
            TaskInput::Commands {
                commands: vec!["b".into(), "a".into()]
            }
        );
        assert_eq!(task.input.mode(), InputMode::Commands);
    }

    #[test]
    fn task_names_normalize_to_lowercase_dashed_words() {
        assert_eq!(
            normalize_task_name("  Nightly Build #3 ").unwrap(),
            "nightly-build-3"
        );
        assert_eq!(normalize_task_name("a__b--c").unwrap(), "a-b-c");
        assert_eq!(
            normalize_task_name("!!!").unwrap_err().code,
            "invalid_task_name"
        );
        assert_eq!(
            normalize_task_name(&"x".repeat(MAX_TASK_NAME_CHARS + 1))
                .unwrap_err()
                .code,
            "invalid_task_name"
        );
        assert_eq!(nth_name_candidate("build", 1), "build");
        assert_eq!(nth_name_candidate("build", 3), "build-3");
    }

    #[test]
    fn references_are_ids_when_they_parse_as_ids_else_names() {
        let id = TaskId::generate();
        assert_eq!(TaskRef::parse(id.as_str()).unwrap(), TaskRef::Id(id));
        assert_eq!(
            TaskRef::parse("My Task").unwrap(),
            TaskRef::Name("my-task".into())
        );
        assert_eq!(TaskRef::parse("???").unwrap_err().code, "task_not_found");
    }

    #[test]
    fn timeout_must_be_within_the_node_maximum() {
        let zero = CreateTaskRequest {
            prompt: Some("p".into()),
            timeout_seconds: Some(0),
            ..req()
        };
        assert_eq!(NewTask::validate(zero).unwrap_err().code, "invalid_timeout");
        let over = CreateTaskRequest {
            prompt: Some("p".into()),
            timeout_seconds: Some(MAX_JOB_TIMEOUT_SECS + 1),
            ..req()
        };
        assert_eq!(NewTask::validate(over).unwrap_err().code, "invalid_timeout");
    }

    #[test]
    fn image_references_follow_podman() {
        for ok in [
            "busybox",
            "localhost/cynode-sandbox:alt",
            "docker.io/library/python:3.12-slim",
        ] {
            assert_eq!(check_image_name(ok).unwrap(), ok);
        }
        for bad in ["", "Busybox", "a b", "-x", "x/../y", &"a".repeat(256)] {
            assert_eq!(
                check_image_name(bad).unwrap_err().code,
                "invalid_image",
                "{bad}"
            );
        }
    }
}
