//! Printing results: `key=value` lines in table mode, one pretty JSON value in JSON mode.
//! Progress and warnings go to stderr, never to stdout.

use std::io::IsTerminal;

use serde::Serialize;

use cynode_protocol::status::TaskStatus;
use cynode_protocol::wire::{ModelRoute, TaskResult, TaskView};

use crate::cli::{GlobalArgs, Output};
use crate::error::CliError;

#[derive(Debug, Clone)]
pub struct Printer {
    pub mode: Output,
    pub quiet: bool,
    color: bool,
}

/// Quotes a value when it would not survive `key=value` splitting on spaces.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control());
    if plain {
        value.to_owned()
    } else {
        serde_json::to_string(value).unwrap_or_default()
    }
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let color = !global.no_color
            && std::env::var_os("NO_COLOR").is_none()
            && global.output == Output::Table
            && std::io::stdout().is_terminal();
        Self {
            mode: global.output,
            quiet: global.quiet,
            color,
        }
    }

    pub fn json_mode(&self) -> bool {
        self.mode == Output::Json
    }

    /// Prints a value as JSON (JSON mode).
    pub fn json<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("cynork: cannot print JSON: {err}"),
        }
    }

    /// Prints one `key=value` line (table mode).
    pub fn line(&self, pairs: &[(&str, String)]) {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{}", text.join(" "));
    }

    /// A status, colored on a terminal.
    pub fn status(&self, status: TaskStatus) -> String {
        let code = match status {
            TaskStatus::Completed => "32",
            TaskStatus::Failed | TaskStatus::PlanningFailed => "31",
            TaskStatus::Running => "33",
            TaskStatus::Canceled | TaskStatus::Superseded => "90",
            TaskStatus::Queued => "36",
        };
        if self.color {
            format!("\x1b[{code}m{status}\x1b[0m")
        } else {
            status.to_string()
        }
    }

    pub fn task_pairs(&self, task: &TaskView) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("task_id", task.task_id.to_string()),
            ("status", self.status(task.status)),
        ];
        if let Some(name) = &task.task_name {
            pairs.push(("task_name", quote(name)));
        }
        pairs.push(("mode", task.mode.as_str().to_owned()));
        if let Some(routing) = &task.routing {
            let via = match routing.via {
                ModelRoute::Node => "node",
                ModelRoute::Egress => "egress",
            };
            pairs.push(("via", via.to_owned()));
            if let Some(model) = &routing.model {
                pairs.push(("model", quote(model)));
            }
        }
        if let Some(plan) = &task.plan {
            pairs.push(("planner_attempts", plan.planner_attempts.to_string()));
            pairs.push(("subtasks", plan.subtasks.to_string()));
            pairs.push(("merged", plan.merged.to_string()));
            if let Some(error) = &plan.planner_error {
                pairs.push(("planner_error", quote(error)));
            }
        }
        pairs.push((
            "created_at",
            cynode_protocol::clock::rfc3339(task.created_at),
        ));
        pairs
    }

    /// One task, with why its model calls go where they go.
    pub fn task(&self, task: &TaskView) {
        if self.json_mode() {
            return self.json(task);
        }
        let mut pairs = self.task_pairs(task);
        if let Some(routing) = &task.routing {
            pairs.push(("routing_reason", quote(&routing.reason)));
        }
        self.line(&pairs)
    }

    /// A result: its summary line, then `stdout=` and `stderr=` followed by the raw text.
    pub fn result(&self, result: &TaskResult) {
        if self.json_mode() {
            return self.json(result);
        }
        let mut pairs = vec![
            ("task_id", result.task_id.to_string()),
            ("status", self.status(result.status)),
        ];
        if let Some(code) = result.exit_code {
            pairs.push(("exit_code", code.to_string()));
        }
        if let Some(job) = result.jobs.last() {
            if let Some(index) = job.failed_command {
                pairs.push(("failed_command", index.to_string()));
            }
            if job.truncated.stdout || job.truncated.stderr {
                pairs.push((
                    "truncated",
                    format!(
                        "stdout:{},stderr:{}",
                        job.truncated.stdout, job.truncated.stderr
                    ),
                ));
            }
            if let Some(error) = &job.error {
                pairs.push(("error", quote(error)));
            }
        }
        self.line(&pairs);
        for (key, text) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
            let text = text.as_deref().unwrap_or_default();
            println!("{key}={}", text.strip_suffix('\n').unwrap_or(text));
        }
    }

    /// What a delete prints: `{<key>: <name>, deleted: true}`, or `<key>=<name>
    /// deleted=true`.
    pub fn deleted(&self, key: &str, name: &str) {
        if self.json_mode() {
            let mut value = serde_json::Map::new();
            value.insert(key.to_owned(), name.into());
            value.insert("deleted".into(), true.into());
            self.json(&value);
        } else {
            self.line(&[(key, name.to_owned()), ("deleted", "true".into())]);
        }
    }

    /// A hint or progress note on stderr (suppressed by --quiet).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// Reports a failed command: the message on stderr, and in JSON mode an error object
    /// as the one value on stdout.
    pub fn error(&self, err: &CliError) {
        eprintln!("cynork: {}", err.message);
        if self.json_mode() {
            self.json(&serde_json::json!({
                "error": { "code": err.code, "message": err.message, "exit_code": err.exit_code() }
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_spaces_or_quotes_are_quoted() {
        assert_eq!(quote("build-2"), "build-2");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
    }
}
