//! Planned work from the command line: `task subtasks|retry-planning|runs`,
//! `subtask get|start|retry|mark-merged`, `run logs`, and the progress `task watch`
//! shows for a planned task.

use std::io::Write;

use cynode_protocol::plan::Subtask;
use cynode_protocol::status::JobStatus;
use cynode_protocol::wire::{RunList, RunLogs, RunView, SubtaskList, TaskView};

use super::Context;
use crate::cli::{RunCommand, SubtaskCommand};
use crate::client::task_path;
use crate::client::{segment, Gateway};
use crate::error::CliResult;
use crate::output::{quote, Printer};

fn subtask_pairs(s: &Subtask) -> Vec<(&'static str, String)> {
    let deps: Vec<String> = s.depends_on.iter().map(u32::to_string).collect();
    let mut pairs = vec![
        ("subtask", s.number.to_string()),
        ("state", s.state.as_str().to_owned()),
        ("title", quote(&s.title)),
        (
            "depends_on",
            if deps.is_empty() {
                "-".into()
            } else {
                deps.join(",")
            },
        ),
        ("attempts", s.attempts.to_string()),
        ("branch", s.branch.clone()),
    ];
    if let Some(pr) = &s.pull_request {
        pairs.push(("pull_request", pr.url.clone()));
    }
    if let Some(reason) = &s.reason {
        pairs.push(("reason", quote(reason)));
    }
    pairs
}

fn run_pairs(run: &RunView) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("run", run.run_id.to_string()), ("role", run.role.clone())];
    if let Some(n) = run.subtask {
        pairs.push(("subtask", n.to_string()));
    }
    pairs.push(("status", run.status.as_str().to_owned()));
    pairs.push(("attempt", run.attempt.to_string()));
    if let Some(at) = run.started_at {
        pairs.push(("started_at", cynode_protocol::clock::rfc3339(at)));
    }
    if let Some(at) = run.ended_at {
        pairs.push(("ended_at", cynode_protocol::clock::rfc3339(at)));
    }
    if let Some(usage) = &run.usage {
        pairs.push(("prompt_tokens", usage.prompt_tokens.to_string()));
        pairs.push(("completion_tokens", usage.completion_tokens.to_string()));
    }
    if let Some(work) = &run.work {
        pairs.push(("commit", work.commit.clone()));
    }
    if let Some(progress) = &run.progress {
        pairs.push(("step", quote(progress)));
    }
    if let Some(error) = &run.error {
        pairs.push(("error", quote(error)));
    }
    pairs
}

pub fn subtasks(ctx: &mut Context, task: &str) -> CliResult {
    let list: SubtaskList = Gateway::new(&mut ctx.config)?.get(&task_path(task, "/subtasks")?)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&list);
        return Ok(());
    }
    if list.subtasks.is_empty() {
        let why = match &list.plan.planner_error {
            Some(error) => format!(" (last planner error: {error})"),
            None => String::new(),
        };
        ctx.printer.note(&format!(
            "no subtasks yet: the task is {}{why}",
            list.status
        ));
    }
    for subtask in &list.subtasks {
        ctx.printer.line(&subtask_pairs(subtask));
    }
    Ok(())
}

pub fn retry_planning(ctx: &mut Context, task: &str) -> CliResult {
    let view: TaskView = Gateway::new(&mut ctx.config)?
        .post(&task_path(task, "/retry-planning")?, &serde_json::json!({}))?;
    ctx.printer.task(&view);
    Ok(())
}

pub fn runs(ctx: &mut Context, task: &str) -> CliResult {
    let list: RunList = Gateway::new(&mut ctx.config)?.get(&task_path(task, "/runs")?)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&list);
        return Ok(());
    }
    for run in &list.runs {
        ctx.printer.line(&run_pairs(run));
    }
    Ok(())
}

pub fn subtask(ctx: &mut Context, command: SubtaskCommand) -> CliResult {
    let (arg, action) = match command {
        SubtaskCommand::Get(arg) => (arg, None),
        SubtaskCommand::Start(arg) => (arg, Some("start")),
        SubtaskCommand::Retry(arg) => (arg, Some("retry")),
        SubtaskCommand::MarkMerged(arg) => (arg, Some("mark-merged")),
    };
    let path = task_path(&arg.task, &format!("/subtasks/{}", arg.number))?;
    let mut gateway = Gateway::new(&mut ctx.config)?;
    let subtask: Subtask = match action {
        None => gateway.get(&path)?,
        Some(action) => gateway.post(&format!("{path}/{action}"), &serde_json::json!({}))?,
    };
    if ctx.printer.json_mode() {
        ctx.printer.json(&subtask);
    } else {
        ctx.printer.line(&subtask_pairs(&subtask));
        if action.is_none() {
            println!("spec={}", subtask.spec);
            println!("acceptance={}", subtask.acceptance);
        }
    }
    Ok(())
}

pub fn run(ctx: &mut Context, command: RunCommand) -> CliResult {
    let RunCommand::Logs { task, run, follow } = command;
    let path = task_path(&task, &format!("/runs/{}/logs", segment(&run)))?;
    let mut gateway = Gateway::new(&mut ctx.config)?;
    if follow {
        let only = crate::wait::Only::Run(&path, &run);
        if crate::wait::follow_logs(&mut gateway, &ctx.printer, &task, None, only)? {
            return Ok(());
        }
    }
    let logs: RunLogs = gateway.get(&path)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&logs);
        return Ok(());
    }
    print!("{}", logs.stdout);
    let _ = std::io::stdout().flush();
    eprint!("{}", logs.stderr);
    Ok(())
}

/// What `task watch` adds for planned work: each subtask, and the runs under way.
pub fn print_progress(gateway: &mut Gateway, printer: &Printer, task: &str) -> CliResult {
    let list: SubtaskList = gateway.get(&task_path(task, "/subtasks")?)?;
    for subtask in &list.subtasks {
        printer.line(&subtask_pairs(subtask));
    }
    let runs: RunList = gateway.get(&task_path(task, "/runs")?)?;
    for run in runs
        .runs
        .iter()
        .filter(|r| matches!(r.status, JobStatus::Queued | JobStatus::Running))
    {
        printer.line(&run_pairs(run));
    }
    Ok(())
}
