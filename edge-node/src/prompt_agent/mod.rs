//! The agent that answers a prompt task, plans a feature request, or builds a subtask.
//! It runs *inside* the job's sandbox pod as `cynode-prompt-agent`: it reads the job from
//! `/job/prompt.json`, talks to the model only through the pod's inference proxy
//! (`OPENAI_BASE_URL`), runs the shell commands the model asks for in that same sandbox,
//! and writes its result to `/out/result.json`.
//!
//! One loop serves every role ([`AgentRole`]); the roles differ in their instructions and
//! in what follows the loop's answer:
//! - `answer`: the answer is the result.
//! - `plan` (repository read-only at `/repo`): one more model call, constrained to
//!   [`plan_schema`], turns what the agent learnt into subtasks; that JSON is the result.
//! - `work` (the subtask's branch checked out at `/repo`): the project's test command
//!   must pass, then the change is committed and written as a git bundle to
//!   `/out/change.bundle`. The node takes that one file, pushes the branch from its own
//!   repository, and never runs git in `/repo`; the sandbox has no network and never sees
//!   a credential.
//!
//! Each turn the model must reply with one action, `{"action":"answer","text":…}` or
//! `{"action":"run","text":"<shell command>"}`; the reply is constrained by the model
//! server's JSON-schema support, so even a tiny model produces a valid action. The number
//! of steps is bounded (and the pod's timeout bounds the total time). Every step is printed
//! to stderr as it happens (the task's logs) and kept in the result; the final answer is
//! printed to stdout (the task's result). The prompt itself is never run as a command.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use cynode_protocol::limits::truncate_utf8;
use cynode_protocol::plan::{plan_schema, MAX_SUBTASKS};

mod actions;
mod job;

pub use actions::{action_schema, parse_action, Action, AgentResult, Step};
pub use job::{AgentJob, AgentRole};

/// Bytes of each command stream shown to the model and kept in the step.
pub const STEP_OUTPUT_BYTES: usize = 4 * 1024;
/// Text attachments given to the model: each, and all together.
pub const ATTACHMENT_TEXT_BYTES: usize = 16 * 1024;
pub const ATTACHMENTS_TEXT_TOTAL_BYTES: usize = 32 * 1024;

pub const SYSTEM_PROMPT: &str = "You are CyNode's task agent in a Linux sandbox without \
network access. Reply with one JSON object. To answer the user, reply like \
{\"action\":\"answer\",\"text\":\"Paris is the capital of France.\"}. To run a shell \
command first and see its output, reply like {\"action\":\"run\",\"text\":\"ls -la /job\"}. \
Answer directly when no command is needed.";

pub const PLAN_SYSTEM_PROMPT: &str = "You are CyNode's planner in a Linux sandbox without \
network access. The project's git repository is at /repo (read-only). Reply with one JSON \
object. To look at the repository, reply like {\"action\":\"run\",\"text\":\"ls /repo\"}. \
When you understand what the feature request needs, reply like \
{\"action\":\"answer\",\"text\":\"<what must change, in a few sentences>\"}.";

pub const WORK_SYSTEM_PROMPT: &str = "You are CyNode's worker in a Linux sandbox without \
network access. The project's git repository is checked out at /repo on your branch. \
Reply with one JSON object. To run a shell command in /repo (to read or change files), \
reply like {\"action\":\"run\",\"text\":\"printf 'hello\\\\n' > hello.txt\"}. When the \
subtask is done, reply like {\"action\":\"answer\",\"text\":\"<one-line summary>\"}. \
Your changes are committed for you.";

/// Tokens the planner's final, schema-constrained call may use.
const PLAN_TOKENS: u32 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read the job: {0}")]
    Job(String),
    #[error("the model call failed: {0}")]
    Model(String),
    /// A worker's change did not pass, or there was none.
    #[error("{0}")]
    Work(String),
}

fn cut(text: &str, max: usize) -> String {
    let (kept, truncated) = truncate_utf8(text, max);
    if truncated {
        format!("{kept}\n[… cut at {max} bytes]")
    } else {
        kept.to_owned()
    }
}

/// The user's message: the prompt, then the text attachments within their limits.
/// The system prompt with the owner's skills after it, each under its name.
fn with_skills(system: &str, skills: &[cynode_protocol::wire::SkillText]) -> String {
    let mut text = system.to_owned();
    if !skills.is_empty() {
        text.push_str("\n\nFollow these instructions from the user's skills:");
        for skill in skills {
            text.push_str(&format!("\n\n## {}\n{}", skill.name, skill.body.trim()));
        }
    }
    text
}

pub fn user_message(prompt: &str, attachments: &Path) -> String {
    let mut message = prompt.to_owned();
    let Ok(entries) = std::fs::read_dir(attachments) else {
        return message;
    };
    let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    let mut budget = ATTACHMENTS_TEXT_TOTAL_BYTES;
    for path in names {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let bytes = std::fs::read(&path).unwrap_or_default();
        match String::from_utf8(bytes) {
            Ok(text) if text.len() <= ATTACHMENT_TEXT_BYTES.min(budget) => {
                budget -= text.len();
                message.push_str(&format!("\n\nAttached file {name}:\n```\n{text}\n```"));
            }
            Ok(text) => message.push_str(&format!(
                "\n\n(Attached file {name}: {} bytes of text, over the limit; read it with a command at /job/attachments/{name})",
                text.len()
            )),
            Err(err) => message.push_str(&format!(
                "\n\n(Attached file {name}: {} bytes, not text; it is at /job/attachments/{name})",
                err.as_bytes().len()
            )),
        }
    }
    message
}

/// Runs the loop against `base_url` (an OpenAI-compatible `/v1`), printing each step
/// to stderr as it happens.
pub async fn answer(
    job: &AgentJob,
    base_url: &str,
    attachments: &Path,
) -> Result<AgentResult, AgentError> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|err| AgentError::Model(err.to_string()))?;
    let system = match job.role {
        AgentRole::Answer => SYSTEM_PROMPT,
        AgentRole::Plan => PLAN_SYSTEM_PROMPT,
        AgentRole::Work => WORK_SYSTEM_PROMPT,
    };
    let workdir = job.workdir.as_deref().map(Path::new);
    let system = with_skills(system, &job.skills);
    let mut messages = vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": user_message(&job.prompt, attachments)}),
    ];
    let mut steps = Vec::new();
    let max_steps = job.max_steps.max(1);
    // The run log's first line: what this run was given.
    eprintln!("agent: model {}, up to {max_steps} steps", job.model);
    if !job.skills.is_empty() {
        let names: Vec<&str> = job.skills.iter().map(|skill| skill.name.as_str()).collect();
        eprintln!("agent: skills {}", names.join(", "));
    }
    for n in 1..=max_steps {
        let allow_run = n < max_steps;
        let schema = action_schema(allow_run);
        let content = complete(&http, base_url, job, &messages, &schema, job.max_tokens).await?;
        let action = match parse_action(&content) {
            // A server that ignores the schema may still ask to run on the last step.
            Action::Run(command) if !allow_run => Action::Answer(format!(
                "I ran out of steps ({max_steps}) before answering; I last wanted to run: {command}"
            )),
            action => action,
        };
        match action {
            Action::Answer(text) => {
                let step = Step {
                    step: n,
                    action: "answer".into(),
                    command: None,
                    exit_code: None,
                    output: None,
                    answer: Some(text.clone()),
                };
                eprint!("{}", step.render());
                steps.push(step);
                messages.push(json!({"role": "assistant", "content": content}));
                let answer = match job.role {
                    AgentRole::Answer => text,
                    AgentRole::Plan => write_plan(&http, base_url, job, &mut messages).await?,
                    AgentRole::Work => {
                        finish_work(job, workdir, &text).await?;
                        text
                    }
                };
                return Ok(AgentResult { answer, steps });
            }
            Action::Run(command) => {
                let (exit_code, output) = run_command(
                    &command,
                    workdir,
                    Duration::from_secs(job.command_timeout_secs),
                )
                .await;
                let step = Step {
                    step: n,
                    action: "run".into(),
                    command: Some(command),
                    exit_code,
                    output: Some(output.clone()),
                    answer: None,
                };
                eprint!("{}", step.render());
                steps.push(step);
                let repeated = steps.len() >= 2
                    && steps[steps.len() - 2].command == steps[steps.len() - 1].command;
                messages.push(json!({"role": "assistant", "content": content}));
                messages.push(
                    json!({"role": "user", "content": feedback(exit_code, &output, repeated)}),
                );
            }
        }
    }
    unreachable!("the last step always answers (see above)")
}

/// What the model is told after a command ran.
fn feedback(exit_code: Option<i32>, output: &str, repeated: bool) -> String {
    let status = exit_code.map_or_else(|| "unknown (killed)".to_owned(), |c| c.to_string());
    let mut text = format!("The command exited with status {status}. Its output:\n{output}");
    if repeated {
        text.push_str("\nYou ran the same command twice: give your answer now.");
    }
    text
}

/// The planner's last call: the subtasks, constrained to the plan schema.
async fn write_plan(
    http: &reqwest::Client,
    base_url: &str,
    job: &AgentJob,
    messages: &mut Vec<Value>,
) -> Result<String, AgentError> {
    messages.push(json!({"role": "user", "content": format!(
        "Now write the plan as JSON: split the feature request into 1 to {MAX_SUBTASKS} small \
    subtasks, each with a title, a spec (what to change), acceptance criteria, and depends_on: the \
    numbers (1-based) of earlier subtasks that must be merged first ([] for none)."
    )}));
    let plan = complete(http, base_url, job, messages, &plan_schema(), PLAN_TOKENS).await?;
    eprintln!("plan: {} bytes of JSON", plan.len());
    Ok(plan)
}

/// A worker's answer is only done when the project's tests pass on the change and the
/// change is committed on the branch.
async fn finish_work(
    job: &AgentJob,
    workdir: Option<&Path>,
    summary: &str,
) -> Result<(), AgentError> {
    let timeout = Duration::from_secs(job.command_timeout_secs.max(60) * 5);
    if let Some(test) = &job.test_command {
        eprintln!("tests: {test}");
        let (code, output) = run_command(test, workdir, timeout).await;
        eprint!("{}", indent(&output));
        if code != Some(0) {
            let status = code.map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"));
            return Err(AgentError::Work(format!(
                "the tests failed ({status}): {test}"
            )));
        }
    }
    let subject = job
        .commit_subject
        .as_deref()
        .unwrap_or("CyNode worker change");
    let message = format!("{subject}\n\n{summary}\n");
    let script = "git add -A && if git diff --cached --quiet; then exit 10; fi && \
        git -c user.name='CyNode worker' -c user.email=worker@cynode.invalid commit -q -F -";
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(workdir.unwrap_or(Path::new(".")))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| AgentError::Work(format!("cannot run git: {err}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(message.as_bytes()).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|err| AgentError::Work(format!("git failed: {err}")))?;
    match status.code() {
        Some(0) => eprintln!("committed: {subject}"),
        Some(10) => return Err(AgentError::Work("the agent changed no file".into())),
        other => return Err(AgentError::Work(format!("git commit failed ({other:?})"))),
    }
    match &job.base_commit {
        Some(base) => export_change(workdir, base).await,
        None => Ok(()),
    }
}

/// Writes the commits since `base` as a bundle for the node to take
/// (`CYNODE_AGENT_CHANGE`, default `/out/change.bundle`).
async fn export_change(workdir: Option<&Path>, base: &str) -> Result<(), AgentError> {
    let path = std::env::var("CYNODE_AGENT_CHANGE").unwrap_or_else(|_| "/out/change.bundle".into());
    let status = tokio::process::Command::new("git")
        .args(["bundle", "create", "-q", &path, "HEAD", &format!("^{base}")])
        .current_dir(workdir.unwrap_or(Path::new(".")))
        .status()
        .await
        .map_err(|err| AgentError::Work(format!("cannot run git: {err}")))?;
    if status.success() {
        eprintln!("change: written for the node");
        Ok(())
    } else {
        Err(AgentError::Work(format!(
            "could not write the change for the node (git bundle {status})"
        )))
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  | {line}\n")).collect()
}

async fn complete(
    http: &reqwest::Client,
    base_url: &str,
    job: &AgentJob,
    messages: &[Value],
    schema: &Value,
    max_tokens: u32,
) -> Result<String, AgentError> {
    let body = json!({
        "model": job.model,
        "messages": messages,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": false,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "reply", "strict": true, "schema": schema}
        }
    });
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    // The sidecar may still be starting when the agent does: retry the connection briefly.
    let mut tries = 0;
    let response = loop {
        match http.post(&url).json(&body).send().await {
            Ok(response) => break response,
            Err(err) if err.is_connect() && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(AgentError::Model(err.without_url().to_string())),
        }
    };
    let status = response.status();
    let value: Value = response
        .json()
        .await
        .map_err(|err| AgentError::Model(format!("unreadable answer ({status}): {err}")))?;
    if !status.is_success() {
        return Err(AgentError::Model(format!("{status}: {value}")));
    }
    value["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| AgentError::Model(format!("no message in the answer: {value}")))
}

/// Runs one command with `/bin/sh -c`, in `workdir` (else the current directory,
/// `/workspace`).
async fn run_command(
    command: &str,
    workdir: Option<&Path>,
    timeout: Duration,
) -> (Option<i32>, String) {
    let mut child = tokio::process::Command::new("/bin/sh");
    if let Some(dir) = workdir {
        child.current_dir(dir);
    }
    let child = child
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, child).await {
        Err(_) => (None, format!("[killed after {} s]", timeout.as_secs())),
        Ok(Err(err)) => (None, format!("[could not start: {err}]")),
        Ok(Ok(out)) => {
            let mut text = cut(&String::from_utf8_lossy(&out.stdout), STEP_OUTPUT_BYTES);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !stderr.is_empty() {
                text.push_str("\n[stderr]\n");
                text.push_str(&cut(&stderr, STEP_OUTPUT_BYTES));
            }
            (out.status.code(), text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_anything_else_is_an_answer_never_a_command() {
        assert_eq!(
            parse_action(r#"{"action":"run","text":"ls /"}"#),
            Action::Run("ls /".into())
        );
        assert_eq!(
            parse_action(r#" {"action":"answer","text":"4"} "#),
            Action::Answer("4".into())
        );
        assert_eq!(parse_action("rm -rf /"), Action::Answer("rm -rf /".into()));
        assert_eq!(
            parse_action(r#"{"action":"run","text":"  "}"#),
            Action::Answer(r#"{"action":"run","text":"  "}"#.into())
        );
    }

    #[test]
    fn a_repeated_command_is_pointed_out() {
        assert_eq!(
            feedback(Some(0), "a", false),
            "The command exited with status 0. Its output:\na"
        );
        assert!(feedback(None, "", true).contains("unknown (killed)"));
        assert!(feedback(Some(1), "", true).ends_with("give your answer now."));
    }

    #[test]
    fn the_last_step_may_only_answer() {
        assert_eq!(
            action_schema(true)["properties"]["action"]["enum"],
            json!(["answer", "run"])
        );
        assert_eq!(
            action_schema(false)["properties"]["action"]["enum"],
            json!(["answer"])
        );
    }

    #[test]
    fn steps_render_as_log_lines() {
        let step = Step {
            step: 2,
            action: "run".into(),
            command: Some("ls".into()),
            exit_code: Some(0),
            output: Some("a\nb".into()),
            answer: None,
        };
        assert_eq!(
            step.render(),
            "step 2: run: ls\nstep 2: exit 0\n  | a\n  | b\n"
        );
    }

    #[test]
    fn text_attachments_join_the_message_within_limits() {
        let dir = std::env::temp_dir().join(format!("cynode-agent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "alpha").unwrap();
        std::fs::write(dir.join("b.bin"), [0xff, 0xfe, 0x00]).unwrap();
        std::fs::write(dir.join("c.txt"), "x".repeat(ATTACHMENT_TEXT_BYTES + 1)).unwrap();
        let message = user_message("sum it up", &dir);
        assert!(message.starts_with("sum it up"));
        assert!(message.contains("Attached file a.txt:\n```\nalpha\n```"));
        assert!(message.contains("b.bin: 3 bytes, not text"));
        assert!(message.contains("c.txt: 16385 bytes of text, over the limit"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(user_message("p", Path::new("/nonexistent")), "p");
    }
}
