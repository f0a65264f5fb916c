//! The agent that answers a prompt task. It runs *inside* the job's sandbox pod as
//! `cynode-prompt-agent`: it reads the job from `/job/prompt.json`, talks to the model only
//! through the pod's inference proxy (`OPENAI_BASE_URL`), runs the shell commands the model
//! asks for in that same sandbox, and writes its result to `/out/result.json`.
//!
//! Each turn the model must reply with one action, `{"action":"answer","text":…}` or
//! `{"action":"run","text":"<shell command>"}`; the reply is constrained by the model
//! server's JSON-schema support, so even a tiny model produces a valid action. The number
//! of steps is bounded (and the pod's timeout bounds the total time). Every step is printed
//! to stderr as it happens (the task's logs) and kept in the result; the final answer is
//! printed to stdout (the task's result). The prompt itself is never run as a command.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use cynode_domain::limits::truncate_utf8;

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

/// The job, as the node writes it to `/job/prompt.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentJob {
    pub prompt: String,
    pub model: String,
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
}

fn default_max_steps() -> u32 {
    8
}
fn default_command_timeout() -> u64 {
    60
}
fn default_max_tokens() -> u32 {
    256
}

/// One action the model chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Answer(String),
    Run(String),
}

/// The JSON schema every reply is constrained to.
pub fn action_schema(allow_run: bool) -> Value {
    let actions: Vec<&str> = if allow_run {
        vec!["answer", "run"]
    } else {
        vec!["answer"]
    };
    json!({
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": actions},
            "text": {"type": "string"}
        },
        "required": ["action", "text"],
        "additionalProperties": false
    })
}

/// Reads a reply. A reply that is not a valid action (a server without schema support)
/// is taken as the answer itself: it is never run.
pub fn parse_action(content: &str) -> Action {
    #[derive(Deserialize)]
    struct Raw {
        action: String,
        text: String,
    }
    match serde_json::from_str::<Raw>(content.trim()) {
        Ok(raw) if raw.action == "run" && !raw.text.trim().is_empty() => Action::Run(raw.text),
        Ok(raw) if raw.action == "answer" => Action::Answer(raw.text),
        _ => Action::Answer(content.trim().to_owned()),
    }
}

/// One step, as kept in the result and shown by `task logs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    pub step: u32,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl Step {
    /// The step as log lines.
    pub fn render(&self) -> String {
        let mut text = match (&self.command, &self.answer) {
            (Some(command), _) => format!("step {}: run: {command}\n", self.step),
            (None, _) => format!("step {}: answer\n", self.step),
        };
        if let Some(code) = self.exit_code {
            text.push_str(&format!("step {}: exit {code}\n", self.step));
        }
        if let Some(output) = self.output.as_deref().filter(|o| !o.is_empty()) {
            for line in output.lines() {
                text.push_str("  | ");
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentResult {
    pub answer: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read the job: {0}")]
    Job(String),
    #[error("the model call failed: {0}")]
    Model(String),
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
    let mut messages = vec![
        json!({"role": "system", "content": SYSTEM_PROMPT}),
        json!({"role": "user", "content": user_message(&job.prompt, attachments)}),
    ];
    let mut steps = Vec::new();
    let max_steps = job.max_steps.max(1);
    for n in 1..=max_steps {
        let allow_run = n < max_steps;
        let content = complete(&http, base_url, job, &messages, allow_run).await?;
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
                return Ok(AgentResult {
                    answer: text,
                    steps,
                });
            }
            Action::Run(command) => {
                let (exit_code, output) =
                    run_command(&command, Duration::from_secs(job.command_timeout_secs)).await;
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

async fn complete(
    http: &reqwest::Client,
    base_url: &str,
    job: &AgentJob,
    messages: &[Value],
    allow_run: bool,
) -> Result<String, AgentError> {
    let body = json!({
        "model": job.model,
        "messages": messages,
        "temperature": 0,
        "max_tokens": job.max_tokens,
        "stream": false,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "action", "strict": true, "schema": action_schema(allow_run)}
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

/// Runs one command the model asked for with `/bin/sh -c`, in `/workspace`.
async fn run_command(command: &str, timeout: Duration) -> (Option<i32>, String) {
    let child = tokio::process::Command::new("/bin/sh")
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
