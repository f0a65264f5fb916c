//! The command surface. The interactive shell parses each line with the same definitions.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  2  usage: bad flags or arguments, unreadable or oversized input files, bad config file
  3  auth: not logged in, token rejected or revoked (401), not allowed (403)
  4  not found
  5  conflict (e.g. canceling a task that already finished)
  6  validation: the gateway refused the request (400/413/422)
  7  gateway or network: unreachable, timed out, or a server error (5xx)
  8  internal error

Environment:
  CYNORK_GATEWAY_URL  gateway base URL (default http://localhost:8080); overrides the config file
  CYNORK_TOKEN        access token; overrides the config file";

#[derive(Debug, Parser)]
#[command(
    name = "cynork",
    version,
    about = "Command-line client for CyNode: run prompts, scripts and commands on your own machines",
    propagate_version = true,
    args_override_self = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file [default: ~/.config/cynork/config.yaml]
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Print only essential output; no progress or hints
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Never color output (also when NO_COLOR is set)
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// key=value lines
    Table,
    /// one pretty-printed JSON value on stdout
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the client version
    Version,
    /// Show whether the gateway is reachable and ready, and who you are
    Status,
    /// Log in and out
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Create, inspect and cancel tasks
    #[command(subcommand)]
    Task(TaskCommand),
    /// The subtasks of planned work: show, start, retry, mark merged
    #[command(subcommand)]
    Subtask(SubtaskCommand),
    /// Agent runs of a task: their logs
    #[command(subcommand)]
    Run(RunCommand),
    /// Chat with the agent or a model, printing the answer as it streams
    Chat(ChatArgs),
    /// The models nodes serve
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Your projects: git repositories that planned work happens in
    #[command(subcommand)]
    Project(crate::commands::project::ProjectCommand),
    /// Personal API keys for editors, web UIs and scripts: create, list, revoke
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Model tokens you used, by day and model
    Usage(UsageArgs),
    /// Your password; users (admins): list, create, disable, enable, grant or drop admin
    /// (also `cynork users`)
    #[command(subcommand, visible_alias = "users")]
    User(crate::commands::user::UserCommand),
    /// Preferences: the default model, the agent's step limit, a task's timeout, a
    /// worker's test command; yours, a project's, a task's or everyone's (also
    /// `cynork preferences`)
    #[command(subcommand, visible_alias = "preferences")]
    Prefs(crate::commands::prefs::PrefsCommand),
    /// Stored credentials for outbound services (forge tokens, provider keys): values are
    /// read from stdin and never shown again (also `cynork credentials`)
    #[command(subcommand, visible_alias = "credentials")]
    Creds(crate::commands::creds::CredsCommand),
    /// Hosted model providers (admins add and remove them; cynork creds attach picks
    /// your key)
    #[command(subcommand, visible_alias = "providers")]
    Provider(crate::commands::providers::ProviderCommand),
    /// Skills: markdown instructions your agents follow (by trigger word, or for a project)
    #[command(subcommand, visible_alias = "skill")]
    Skills(crate::commands::skills::SkillsCommand),
    /// System settings (admins): quotas, the stale-node window, retention, attempt limits
    #[command(subcommand)]
    Settings(crate::commands::settings::SettingsCommand),
    /// The audit trail: sign-ins, keys, user, node and settings changes, credential use
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Edge nodes (admins): list, inspect, enable, disable, drain (also `cynork nodes`)
    #[command(subcommand, visible_alias = "nodes")]
    Node(NodeCommand),
    /// Operators' tools (admins): dead letters and the recovery sweep
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Interactive shell with history and tab completion
    Shell(ShellArgs),
    /// Print a shell completion script
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in; the password is read from the terminal without echo, or from stdin
    Login {
        /// Your handle (asked for when omitted)
        #[arg(short = 'u', long, value_name = "HANDLE")]
        user: Option<String>,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the saved tokens (and end the session at the gateway when reachable)
    Logout,
    /// Show the logged-in user
    Whoami,
    /// Exchange the saved refresh token for new tokens now
    Refresh,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyScope {
    /// Only the model routes (/v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /api/*)
    Models,
    /// Everything you may do
    All,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; its secret is printed this once
    Create {
        /// What the key is for (1 to 64 characters)
        name: String,
        #[arg(long, value_enum, default_value = "models")]
        scope: KeyScope,
        /// Days until the key stops working (1 to 3650) [default: until revoked]
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// List your keys (admins: another user's, with --user)
    List {
        #[arg(long, value_name = "HANDLE")]
        user: Option<String>,
    },
    /// Revoke a key; it stops working at once
    Revoke {
        /// The key's id (key_…)
        #[arg(value_name = "KEY_ID")]
        id: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// How many days back, today included
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Admins: another user's usage
    #[arg(long, value_name = "HANDLE")]
    pub user: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Every node: state, last seen, jobs running, configuration acknowledged
    List,
    /// One node, with its capabilities
    Get(NodeRefArg),
    /// Let the node take jobs again
    Enable(NodeRefArg),
    /// Take no new jobs on the node; running ones finish
    Disable(NodeRefArg),
    /// Take no new jobs on the node and hand its running jobs to other nodes
    Drain(NodeRefArg),
    /// End the node's keys and job tokens now; it registers again only once enabled
    Revoke {
        #[command(flatten)]
        node: NodeRefArg,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Set the node's labels (none: clear them); projects may require one
    Label {
        #[command(flatten)]
        node: NodeRefArg,
        #[arg(value_name = "LABEL")]
        labels: Vec<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct NodeRefArg {
    /// Node name or id
    #[arg(value_name = "NODE")]
    pub node: String,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List the messages on the dead-letter queue and their jobs' status
    DeadLetters,
    /// Send every dead letter of an unfinished job back to its queue now
    Redrive,
    /// Run the recovery sweep now (requeue or end jobs a fault left behind)
    Sweep,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models you can chat with: the agent (cynodeai.pm) and every model a node serves
    List,
}

#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// Send this one message, print the answer, and exit (else: an interactive chat;
    /// /exit, /quit or end of input leave it)
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
    /// The model to talk to
    #[arg(long, value_name = "NAME", default_value = "cynodeai.pm")]
    pub model: String,
    /// No prompts or decoration: just the answers
    #[arg(long)]
    pub plain: bool,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Create a task from exactly one input
    Create(CreateArgs),
    /// List your tasks, newest first
    List(ListArgs),
    /// Show a task
    Get(TaskRefArg),
    /// Show a task's result
    Result {
        #[command(flatten)]
        task: TaskRefArg,
        /// Wait until the task has finished
        #[arg(short = 'w', long)]
        wait: bool,
    },
    /// Show a task's status until it finishes
    Watch {
        #[command(flatten)]
        task: TaskRefArg,
        /// Seconds between refreshes (at least 1)
        #[arg(short = 'n', long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
        interval: u64,
        /// Do not clear the screen between refreshes
        #[arg(long)]
        no_clear: bool,
    },
    /// Cancel a task and its jobs
    Cancel {
        #[command(flatten)]
        task: TaskRefArg,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Delete a task and everything stored for it (a running one is stopped first)
    Delete {
        #[command(flatten)]
        task: TaskRefArg,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Download a stream's exact bytes (the result's text may be cut or converted)
    Output {
        #[command(flatten)]
        task: TaskRefArg,
        /// Which stream
        #[arg(long, value_enum, default_value_t = OutputStreamArg::Stdout)]
        stream: OutputStreamArg,
        /// Write to this file instead of stdout
        #[arg(long = "to", value_name = "FILE")]
        to: Option<PathBuf>,
    },
    /// Show a planned task's subtasks and their dependencies
    Subtasks(TaskRefArg),
    /// Plan a task again after planning failed, without retyping the request
    RetryPlanning(TaskRefArg),
    /// List a task's agent runs: role, subtask, times, outcome, tokens
    Runs(TaskRefArg),
    /// Print a task's output (stdout to stdout, stderr to stderr)
    Logs {
        #[command(flatten)]
        task: TaskRefArg,
        /// Which stream
        #[arg(long, value_enum, default_value_t = Stream::All)]
        stream: Stream,
        /// Follow the live log as the task runs, until it ends (-F works too)
        #[arg(short = 'f', long, short_alias = 'F')]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubtaskCommand {
    /// Show one subtask: spec, state, branch, pull request
    Get(SubtaskRefArg),
    /// Start a ready subtask: a worker builds it on its branch
    Start(SubtaskRefArg),
    /// Start a subtask blocked by failure again, its attempts counted afresh
    Retry(SubtaskRefArg),
    /// Record that a completed subtask's pull request was merged (unblocks dependents)
    MarkMerged(SubtaskRefArg),
}

#[derive(Debug, Clone, Args)]
pub struct SubtaskRefArg {
    /// Task id or task name
    #[arg(value_name = "TASK")]
    pub task: String,
    /// Subtask number (as `task subtasks` lists it)
    #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub number: u32,
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Print a run's logs: the agent's steps (stderr) and its answer or plan (stdout)
    Logs {
        /// Task id or task name
        #[arg(value_name = "TASK")]
        task: String,
        /// Run id (as `task runs` lists it)
        #[arg(value_name = "RUN")]
        run: String,
        /// Follow the run's live log as it runs, until it ends
        #[arg(short = 'f', long)]
        follow: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TaskRefArg {
    /// Task id or task name
    #[arg(value_name = "TASK")]
    pub task: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputStreamArg {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stream {
    Stdout,
    Stderr,
    All,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::All => "all",
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("input").required(true).multiple(false).args(
    ["prompt", "task", "task_file", "script", "commands", "commands_file"]
)))]
pub struct CreateArgs {
    /// Natural-language prompt (interpreted by a model, never run as a command)
    #[arg(short = 'p', long)]
    pub prompt: Option<String>,
    /// Task description text (Markdown), taken as a prompt
    #[arg(short = 't', long)]
    pub task: Option<String>,
    /// Read the prompt from a file (at most 1 MiB)
    #[arg(short = 'f', long, value_name = "PATH")]
    pub task_file: Option<PathBuf>,
    /// Run a script file in the sandbox (at most 256 KiB)
    #[arg(short = 's', long, value_name = "PATH")]
    pub script: Option<PathBuf>,
    /// Run a shell command in the sandbox; repeat for several, run in order
    #[arg(long = "command", value_name = "CMD")]
    pub commands: Vec<String>,
    /// Run the commands in a file, one per line, blank lines skipped (at most 64 KiB)
    #[arg(long, value_name = "PATH")]
    pub commands_file: Option<PathBuf>,
    /// Attach a file (repeatable; at most 16, each at most 10 MiB)
    #[arg(short = 'a', long = "attach", value_name = "PATH")]
    pub attachments: Vec<PathBuf>,
    /// Name the task (normalized; made unique among your tasks)
    #[arg(long)]
    pub name: Option<String>,
    /// The project (id or name) the task belongs to
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Planned work: the prompt is a feature request for --project; a planner agent splits
    /// it into subtasks (see `task subtasks`)
    #[arg(long, requires = "project")]
    pub plan: bool,
    /// Timeout in seconds for the sandbox run
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=10800))]
    pub timeout: Option<u64>,
    /// Wait for the task to finish and print its result
    #[arg(long)]
    pub result: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only tasks with this status
    #[arg(long, value_parser = ["queued", "running", "completed", "failed", "canceled", "superseded", "planning_failed"])]
    pub status: Option<String>,
    /// Tasks per page (1-200)
    #[arg(short = 'l', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub limit: u32,
    /// Only tasks of this project (id or name)
    #[arg(long, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Continue after this cursor (printed as next_cursor by the previous page)
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ShellArgs {
    /// Run one command and exit with its exit code (`-c` after `shell` means this, not --config)
    #[arg(long = "command", value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `-c` is `--config` everywhere except right after `shell`, where it is the command to
/// run (`cynork shell -c "task list"`). Rewrites that `-c` to `--command` before parsing.
pub fn shell_c_to_command(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    out.extend(iter.next()); // program name
    let mut in_shell = false;
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy().into_owned();
        if in_shell {
            if text == "-c" {
                out.push("--command".into());
                out.extend(iter.by_ref());
                break;
            }
            if let Some(rest) = text
                .strip_prefix("-c")
                .filter(|r| !r.is_empty() && !text.starts_with("--"))
            {
                out.push(format!("--command={rest}").into());
                out.extend(iter.by_ref());
                break;
            }
            out.push(arg);
            continue;
        }
        let takes_value = matches!(text.as_str(), "-c" | "--config" | "-o" | "--output");
        out.push(arg);
        if takes_value {
            out.extend(iter.next());
        } else if !text.starts_with('-') {
            if text != "shell" {
                out.extend(iter.by_ref());
                break;
            }
            in_shell = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cynork").chain(args.iter().copied()))
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn create_needs_exactly_one_input() {
        assert_eq!(parse(&["task", "create"]).unwrap_err().exit_code(), 2);
        let two = parse(&["task", "create", "-p", "hi", "--command", "ls"]).unwrap_err();
        assert_eq!(two.exit_code(), 2);
        let cli = parse(&["task", "create", "--command", "b", "--command", "a"]).unwrap();
        let Command::Task(TaskCommand::Create(args)) = cli.command else {
            panic!()
        };
        assert_eq!(args.commands, ["b", "a"]);
    }

    #[test]
    fn limits_and_intervals_are_checked_by_the_parser() {
        let bad: [&[&str]; 3] = [
            &["task", "list", "-l", "0"],
            &["task", "list", "-l", "201"],
            &["task", "watch", "x", "-n", "0"],
        ];
        for bad in bad {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        assert!(parse(&["task", "list", "-l", "200"]).is_ok());
    }

    fn strings(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    #[test]
    fn dash_c_after_shell_is_the_command() {
        let rewritten = shell_c_to_command(strings(&[
            "cynork",
            "-c",
            "cfg.yaml",
            "shell",
            "-c",
            "task list",
        ]));
        assert_eq!(
            rewritten,
            strings(&[
                "cynork",
                "-c",
                "cfg.yaml",
                "shell",
                "--command",
                "task list"
            ])
        );
        let cli = Cli::try_parse_from(rewritten).unwrap();
        assert_eq!(cli.global.config.unwrap().to_str(), Some("cfg.yaml"));
        let Command::Shell(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.command.as_deref(), Some("task list"));
        // Elsewhere -c stays the config file.
        let other = strings(&["cynork", "task", "list", "-c", "x.yaml"]);
        assert_eq!(shell_c_to_command(other.clone()), other);
    }

    #[test]
    fn later_global_flags_override_earlier_ones() {
        let cli = parse(&["-o", "json", "version", "-o", "table"]).unwrap();
        assert_eq!(cli.global.output, Output::Table);
    }
}
