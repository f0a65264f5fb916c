//! Waiting for a task to finish: poll its status, with a spinner on stderr when stderr is
//! a terminal (and not --quiet); or follow its live log as it comes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use cynode_protocol::wire::{InputMode, LiveLogs, OutputStream, RunLogs, TaskView};

use crate::client::{segment, Gateway};
use crate::error::CliResult;
use crate::output::Printer;

const POLL: Duration = Duration::from_millis(500);

pub fn until_finished(gateway: &mut Gateway, printer: &Printer, task: &str) -> CliResult<TaskView> {
    let path = format!("/v1/tasks/{}", segment(task));
    let mut view: TaskView = gateway.get(&path)?;
    if view.status.is_terminal() {
        return Ok(view);
    }
    if view.mode == InputMode::Prompt {
        printer.note("note: a prompt waits for a node that serves a model (cynork status tells whether one does)");
    }
    let spinner = (!printer.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    while !view.status.is_terminal() {
        if let Some(bar) = &spinner {
            bar.set_message(format!("{} is {}", view.task_id, view.status));
        }
        std::thread::sleep(POLL);
        view = gateway.get(&path)?;
    }
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    Ok(view)
}

/// Whose live log to follow: the whole task's, or one run's (its logs route and id).
#[derive(Debug, Clone, Copy)]
pub enum Only<'a> {
    Task,
    Run(&'a str, &'a str),
}

/// Follows a task's live log from its first chunk until the task (or the one run) has
/// ended and every chunk is printed: each line to stdout or stderr as its job printed it
/// (only `keep`'s stream, when given), or in JSON mode one log line object per output
/// line. `false` when it ended without any live log (a chat, or a node without live
/// logs): the caller prints its output instead.
pub fn follow_logs(
    gateway: &mut Gateway,
    printer: &Printer,
    task: &str,
    keep: Option<OutputStream>,
    only: Only<'_>,
) -> CliResult<bool> {
    use std::io::Write;
    let base = format!("/v1/tasks/{}/logs", segment(task));
    let mut cursor = String::new();
    let mut seen_any = false;
    let mut attempt: Option<(String, u32)> = None;
    loop {
        // A run's end is read before its log: a node ships a run's log before its
        // result, so an ended run with no new lines after that has nothing more.
        let run_ended = match only {
            Only::Task => false,
            Only::Run(path, _) => gateway.get::<RunLogs>(path)?.run.status.is_terminal(),
        };
        let path = format!("{base}?cursor={}", segment(&cursor));
        let page: LiveLogs = gateway.get(&path)?;
        for line in &page.lines {
            if let Only::Run(_, run) = only {
                if line.job_id.as_str() != run {
                    continue;
                }
            }
            seen_any = true;
            let this = (line.job_id.to_string(), line.attempt);
            if attempt
                .as_ref()
                .is_some_and(|a| a.0 == this.0 && a.1 != this.1)
            {
                printer.note(&format!("--- attempt {} ---", line.attempt));
            }
            attempt = Some(this);
            if keep.is_some_and(|keep| keep != line.stream) {
                continue;
            }
            if printer.json_mode() {
                println!("{}", serde_json::to_string(line).unwrap_or_default());
            } else if line.stream == OutputStream::Stdout {
                print!("{}", line.text);
                let _ = std::io::stdout().flush();
            } else {
                eprint!("{}", line.text);
            }
        }
        if page.truncated {
            printer.note(
                "note: the live log stopped at the node's cap; `cynork task result` has the output",
            );
        }
        let ended = match only {
            Only::Task => page.status.is_terminal(),
            Only::Run(..) => run_ended,
        };
        let done = ended && page.lines.is_empty();
        cursor = page.next_cursor;
        if done {
            return Ok(seen_any);
        }
        if page.lines.is_empty() {
            std::thread::sleep(POLL);
        }
    }
}
