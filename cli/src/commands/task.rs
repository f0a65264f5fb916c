//! `cynork task …`: create, list, get, result, watch, cancel, output, logs.

use std::io::{IsTerminal, Write};

use cynode_protocol::wire::{
    AttachmentUpload, CancelOutcome, CreateAttachmentRequest, CreateTaskRequest, OutputDownload,
    OutputStream, TaskList, TaskLogs, TaskResult, TaskView,
};

use super::{plan, Context};
use crate::cli::{CreateArgs, ListArgs, OutputStreamArg, Stream, TaskCommand};
use crate::client::{segment, task_path, Gateway};
use crate::error::{CliError, CliResult};
use crate::input;
use crate::wait;

pub fn run(ctx: &mut Context, command: TaskCommand) -> CliResult {
    match command {
        TaskCommand::Create(args) => create(ctx, args),
        TaskCommand::List(args) => list(ctx, args),
        TaskCommand::Get(task) => get(ctx, &task.task),
        TaskCommand::Result { task, wait } => result(ctx, &task.task, wait),
        TaskCommand::Watch {
            task,
            interval,
            no_clear,
        } => watch(ctx, &task.task, interval, no_clear),
        TaskCommand::Cancel { task, yes } => cancel(ctx, &task.task, yes),
        TaskCommand::Delete { task, yes } => delete(ctx, &task.task, yes),
        TaskCommand::Output { task, stream, to } => output(ctx, &task.task, stream, to),
        TaskCommand::Subtasks(task) => plan::subtasks(ctx, &task.task),
        TaskCommand::RetryPlanning(task) => plan::retry_planning(ctx, &task.task),
        TaskCommand::Runs(task) => plan::runs(ctx, &task.task),
        TaskCommand::Logs {
            task,
            stream,
            follow,
        } => logs(ctx, &task.task, stream, follow),
    }
}

/// Builds the request from exactly one input; every local file is checked (and read)
/// here, before any request.
fn build_request(args: &CreateArgs) -> CliResult<CreateTaskRequest> {
    let mut req = CreateTaskRequest {
        task_name: args.name.clone(),
        project: args.project.clone(),
        plan: args.plan,
        timeout_seconds: args.timeout,
        ..Default::default()
    };
    if let Some(prompt) = args.prompt.clone().or_else(|| args.task.clone()) {
        req.prompt = Some(prompt);
    } else if let Some(path) = &args.task_file {
        req.prompt = Some(input::read_task_file(path)?);
    } else if let Some(path) = &args.script {
        req.script = Some(input::read_script(path)?);
    } else if let Some(path) = &args.commands_file {
        req.commands = Some(input::read_commands_file(path)?);
    } else if !args.commands.is_empty() {
        req.commands = Some(args.commands.clone());
    }
    Ok(req)
}

fn create(ctx: &mut Context, args: CreateArgs) -> CliResult {
    let mut req = build_request(&args)?;
    let attachments = input::check_attachments(&args.attachments)?;
    let mut gateway = Gateway::new(&mut ctx.config)?;
    for ((name, size), path) in attachments.into_iter().zip(&args.attachments) {
        let upload: AttachmentUpload =
            gateway.post("/v1/attachments", &CreateAttachmentRequest { name, size })?;
        let bytes = std::fs::read(path)
            .map_err(|err| CliError::usage(format!("attachment {}: {err}", path.display())))?;
        gateway.upload(&upload.upload_url, bytes)?;
        req.attachments.push(upload.attachment_id);
    }
    let task: TaskView = gateway.post("/v1/tasks", &req)?;
    if args.result {
        let done = wait::until_finished(&mut gateway, &ctx.printer, task.task_id.as_str())?;
        let result: TaskResult = gateway.get(&task_path(done.task_id.as_str(), "/result")?)?;
        ctx.printer.result(&result);
    } else if ctx.printer.quiet && !ctx.printer.json_mode() {
        println!("{}", task.task_id);
    } else {
        ctx.printer.task(&task);
    }
    Ok(())
}

fn list(ctx: &mut Context, args: ListArgs) -> CliResult {
    let mut query = format!("/v1/tasks?limit={}", args.limit);
    if let Some(status) = &args.status {
        query.push_str(&format!("&status={}", segment(status)));
    }
    if let Some(project) = &args.project {
        query.push_str(&format!("&project={}", segment(project)));
    }
    if let Some(cursor) = &args.cursor {
        query.push_str(&format!("&cursor={}", segment(cursor)));
    }
    let page: TaskList = Gateway::new(&mut ctx.config)?.get(&query)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&page);
        return Ok(());
    }
    for task in &page.tasks {
        ctx.printer.line(&ctx.printer.task_pairs(task));
    }
    if let Some(cursor) = &page.next_cursor {
        ctx.printer.line(&[("next_cursor", cursor.clone())]);
    } else if page.tasks.is_empty() {
        ctx.printer.note("no tasks");
    }
    Ok(())
}

fn get(ctx: &mut Context, task: &str) -> CliResult {
    let view: TaskView = Gateway::new(&mut ctx.config)?.get(&task_path(task, "")?)?;
    ctx.printer.task(&view);
    Ok(())
}

fn result(ctx: &mut Context, task: &str, wait_for_it: bool) -> CliResult {
    let path = task_path(task, "/result")?;
    let mut gateway = Gateway::new(&mut ctx.config)?;
    if wait_for_it {
        wait::until_finished(&mut gateway, &ctx.printer, task)?;
    }
    let result: TaskResult = gateway.get(&path)?;
    ctx.printer.result(&result);
    Ok(())
}

fn watch(ctx: &mut Context, task: &str, interval: u64, no_clear: bool) -> CliResult {
    let path = task_path(task, "")?;
    let mut gateway = Gateway::new(&mut ctx.config)?;
    let clear = !no_clear && !ctx.printer.json_mode() && std::io::stdout().is_terminal();
    loop {
        let view: TaskView = gateway.get(&path)?;
        let done = view.status.is_terminal();
        if !ctx.printer.json_mode() {
            if clear {
                print!("\x1b[2J\x1b[H");
            }
            ctx.printer.line(&ctx.printer.task_pairs(&view));
            if view.plan.is_some() {
                plan::print_progress(&mut gateway, &ctx.printer, task)?;
            }
            let _ = std::io::stdout().flush();
        } else if done {
            ctx.printer.json(&view);
        }
        if done {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(interval));
    }
}

fn cancel(ctx: &mut Context, task: &str, yes: bool) -> CliResult {
    let path = task_path(task, "/cancel")?;
    if !yes && !input::confirm(&format!("Cancel task {task}?"))? {
        ctx.printer.note("not canceled");
        return Ok(());
    }
    let outcome: CancelOutcome =
        Gateway::new(&mut ctx.config)?.post(&path, &serde_json::json!({}))?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&outcome);
    } else {
        ctx.printer.line(&[
            ("task_id", outcome.task_id.to_string()),
            ("canceled", outcome.canceled.to_string()),
            ("status", ctx.printer.status(outcome.status)),
        ]);
    }
    Ok(())
}

fn delete(ctx: &mut Context, task: &str, yes: bool) -> CliResult {
    let path = task_path(task, "")?;
    if !yes && !input::confirm(&format!("Delete task {task} and all its output?"))? {
        ctx.printer.note("not deleted");
        return Ok(());
    }
    Gateway::new(&mut ctx.config)?.call::<(), ()>(reqwest::Method::DELETE, &path, None, true)?;
    ctx.printer.deleted("task", task);
    Ok(())
}

fn logs(ctx: &mut Context, task: &str, stream: Stream, follow: bool) -> CliResult {
    let path = format!("{}?stream={}", task_path(task, "/logs")?, stream.as_str());
    let mut gateway = Gateway::new(&mut ctx.config)?;
    if follow {
        let keep = match stream {
            Stream::All => None,
            Stream::Stdout => Some(OutputStream::Stdout),
            Stream::Stderr => Some(OutputStream::Stderr),
        };
        if wait::follow_logs(&mut gateway, &ctx.printer, task, keep, wait::Only::Task)? {
            return Ok(());
        }
    }
    let logs: TaskLogs = gateway.get(&path)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&logs);
        return Ok(());
    }
    if let Some(out) = &logs.stdout {
        print!("{out}");
        let _ = std::io::stdout().flush();
    }
    if let Some(err) = &logs.stderr {
        eprint!("{err}");
    }
    if !logs.status.is_terminal() && !follow {
        ctx.printer.note(&format!(
            "note: task is {}; this is its log so far (use -f to follow it)",
            logs.status
        ));
    }
    Ok(())
}

/// Writes a stream's exact bytes (from the blob store) to stdout or a file.
fn output(
    ctx: &mut Context,
    task: &str,
    stream: OutputStreamArg,
    to: Option<std::path::PathBuf>,
) -> CliResult {
    let stream = match stream {
        OutputStreamArg::Stdout => "stdout",
        OutputStreamArg::Stderr => "stderr",
    };
    let mut gateway = Gateway::new(&mut ctx.config)?;
    let download: OutputDownload = gateway.get(&task_path(task, &format!("/output/{stream}"))?)?;
    let bytes = match &download.url {
        Some(url) => gateway.download(url)?,
        None => Vec::new(),
    };
    if !download.complete {
        ctx.printer.note(&format!(
            "note: the job wrote more than was kept; these are the first {} bytes",
            download.size
        ));
    }
    match to {
        Some(path) => std::fs::write(&path, &bytes)
            .map_err(|err| CliError::usage(format!("writing {}: {err}", path.display()))),
        None => std::io::stdout()
            .write_all(&bytes)
            .and_then(|()| std::io::stdout().flush())
            .map_err(|err| CliError::internal(format!("writing to stdout: {err}"))),
    }
}
