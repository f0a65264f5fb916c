//! Waiting for a task to finish: poll its status, with a spinner on stderr when stderr is
//! a terminal (and not --quiet).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use cynode_protocol::wire::{InputMode, TaskView};

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
