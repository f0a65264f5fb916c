//! `cynork shell`: a REPL over the same commands, with history and tab completion of
//! commands, flags and task names; `cynork shell -c "<command>"` runs one line.
//!
//! History never keeps a line that could hold a secret (passwords are never command
//! arguments, but a pasted token could be).

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context as LineContext, Editor, Helper};

use cynode_protocol::wire::TaskList;

use crate::cli::{Cli, GlobalArgs, Output, ShellArgs};
use crate::client::Gateway;
use crate::commands::execute;
use crate::config::Config;

/// The global flags of the shell invocation, repeated before each line so that the line's
/// own flags can override them.
fn global_argv(global: &GlobalArgs) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["cynork".into()];
    if let Some(config) = &global.config {
        argv.push("--config".into());
        argv.push(config.clone().into());
    }
    argv.push("--output".into());
    argv.push(match global.output {
        Output::Table => "table".into(),
        Output::Json => "json".into(),
    });
    if global.quiet {
        argv.push("--quiet".into());
    }
    if global.no_color {
        argv.push("--no-color".into());
    }
    argv
}

/// Runs one line as a command; returns its exit code.
pub fn run_line(global: &GlobalArgs, line: &str) -> i32 {
    let words = match shell_words::split(line) {
        Ok(words) => words,
        Err(err) => {
            eprintln!("cynork: cannot parse the line: {err}");
            return 2;
        }
    };
    let words: Vec<String> = match words.first().map(String::as_str) {
        Some("cynork") => words[1..].to_vec(),
        _ => words,
    };
    if words.is_empty() {
        return 0;
    }
    if words[0] == "shell" {
        eprintln!("cynork: already in the shell");
        return 2;
    }
    let mut argv = global_argv(global);
    argv.extend(words.into_iter().map(OsString::from));
    match Cli::try_parse_from(argv) {
        Ok(cli) => execute(cli),
        Err(err) => {
            let _ = err.print();
            err.exit_code()
        }
    }
}

/// Whether a line may be written to the history file.
pub fn keep_in_history(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let secretish = ["password", "token", "secret", "psk"]
        .iter()
        .any(|word| lower.contains(word));
    let jwt_or_refresh = line
        .split_whitespace()
        .any(|w| w.starts_with("eyJ") || w.starts_with("rt_"));
    !(secretish || jwt_or_refresh)
}

fn history_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cynork").join("history")
}

/// Subcommands whose positional argument is a task.
const TASK_ARG_COMMANDS: [&str; 5] = ["get", "result", "watch", "cancel", "logs"];

struct ShellHelper {
    config: Option<PathBuf>,
    /// Task names and ids for completion, refreshed at most every 30 s.
    tasks: RefCell<(Option<Instant>, Vec<String>)>,
}

impl ShellHelper {
    fn task_candidates(&self) -> Vec<String> {
        let mut cache = self.tasks.borrow_mut();
        let fresh = cache
            .0
            .is_some_and(|at| at.elapsed() < Duration::from_secs(30));
        if !fresh {
            cache.0 = Some(Instant::now());
            cache.1 = Config::load(self.config.as_deref())
                .ok()
                .and_then(|mut config| {
                    let page: TaskList = Gateway::impatient(&mut config)
                        .ok()?
                        .get("/v1/tasks?limit=100")
                        .ok()?;
                    Some(
                        page.tasks
                            .into_iter()
                            .flat_map(|t| {
                                t.task_name
                                    .into_iter()
                                    .chain(std::iter::once(t.task_id.to_string()))
                            })
                            .collect(),
                    )
                })
                .unwrap_or_default();
        }
        cache.1.clone()
    }

    /// Completion candidates for the word being typed after `before` (complete words).
    fn candidates(&self, before: &[String], partial: &str) -> Vec<String> {
        let mut command = Cli::command();
        let mut path: Vec<String> = Vec::new();
        for word in before.iter().filter(|w| !w.starts_with('-')) {
            match command.find_subcommand(word) {
                Some(sub) => {
                    path.push(word.clone());
                    command = sub.clone();
                }
                None => break,
            }
        }
        let mut out: Vec<String> = Vec::new();
        if partial.starts_with('-') {
            for arg in command.get_arguments() {
                if let Some(long) = arg.get_long() {
                    out.push(format!("--{long}"));
                }
                if let Some(short) = arg.get_short() {
                    out.push(format!("-{short}"));
                }
            }
        } else if command.has_subcommands() {
            out.extend(command.get_subcommands().map(|s| s.get_name().to_owned()));
        } else if path.first().map(String::as_str) == Some("task")
            && path
                .get(1)
                .is_some_and(|sub| TASK_ARG_COMMANDS.contains(&sub.as_str()))
        {
            out.extend(self.task_candidates());
        }
        out.retain(|candidate| candidate.starts_with(partial));
        out.sort();
        out.dedup();
        out
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &LineContext<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let upto = &line[..pos];
        let start = upto.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let before: Vec<String> = upto[..start]
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let partial = &upto[start..];
        let pairs = self
            .candidates(&before, partial)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

pub fn run(global: &GlobalArgs, args: ShellArgs) -> i32 {
    if let Some(line) = args.command {
        return run_line(global, &line);
    }
    let mut editor: Editor<ShellHelper, DefaultHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(err) => {
            eprintln!("cynork: cannot start the shell: {err}");
            return 8;
        }
    };
    editor.set_helper(Some(ShellHelper {
        config: global.config.clone(),
        tasks: RefCell::new((None, vec![])),
    }));
    let history = history_path();
    let _ = editor.load_history(&history);
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        eprintln!("cynork shell: type a command without 'cynork' (e.g. 'task list'), Tab completes, 'exit' quits");
    }
    let mut last = 0;
    loop {
        match editor.readline("cynork> ") {
            Ok(line) => {
                let line = line.trim();
                match line {
                    "" => continue,
                    "exit" | "quit" => break,
                    "help" => {
                        let _ = Cli::command().print_help();
                        println!();
                        continue;
                    }
                    _ => {}
                }
                if keep_in_history(line) {
                    let _ = editor.add_history_entry(line);
                }
                last = run_line(global, line);
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => {
                eprintln!("cynork: {err}");
                last = 8;
                break;
            }
        }
    }
    if let Some(dir) = history.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = editor.save_history(&history);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o600));
    }
    if interactive {
        0
    } else {
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ShellHelper {
        ShellHelper {
            config: None,
            tasks: RefCell::new((
                Some(Instant::now()),
                vec!["build".into(), "task_01X".into()],
            )),
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn completes_commands_flags_and_task_names() {
        let h = helper();
        assert_eq!(h.candidates(&[], "ta"), ["task"]);
        assert!(h
            .candidates(&words("task"), "c")
            .contains(&"create".to_owned()));
        assert!(h
            .candidates(&words("task"), "c")
            .contains(&"cancel".to_owned()));
        assert!(h
            .candidates(&words("task create"), "--com")
            .contains(&"--commands-file".to_owned()));
        assert_eq!(h.candidates(&words("task get"), "bu"), ["build"]);
        assert_eq!(
            h.candidates(&words("task cancel -y"), "task_"),
            ["task_01X"]
        );
        assert!(h.candidates(&words("task create"), "bu").is_empty());
    }

    #[test]
    fn secrets_stay_out_of_history() {
        assert!(keep_in_history("task list --status running"));
        assert!(!keep_in_history("auth login --password hunter2"));
        assert!(!keep_in_history("task get eyJhbGciOiJIUzI1NiJ9.x.y"));
        assert!(!keep_in_history("echo rt_abc"));
    }

    #[test]
    fn the_shell_global_flags_come_first_so_the_line_can_override_them() {
        let global = Cli::try_parse_from(["cynork", "-o", "json", "version"])
            .unwrap()
            .global;
        let argv = global_argv(&global);
        assert_eq!(
            argv[1..3],
            [OsString::from("--output"), OsString::from("json")]
        );
    }
}
