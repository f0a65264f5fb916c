//! Running a parsed command line. Every command gets the same [`Context`]: the loaded
//! config, and the printer for the chosen output format.

pub mod admin;
pub mod apikey;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod creds;
pub mod plan;
pub mod prefs;
pub mod project;
pub mod providers;
pub mod settings;
pub mod skills;
pub mod status;
pub mod task;
pub mod usage;
pub mod user;

use clap::CommandFactory;

use crate::cli::{Cli, Command, CompletionShell};
use crate::config::Config;
use crate::error::CliResult;
use crate::output::Printer;

pub struct Context {
    pub config: Config,
    pub printer: Printer,
}

/// Runs one command; returns its exit code. The config is read first, so a malformed
/// config file fails every command with exit code 2 before anything else happens.
pub fn execute(cli: Cli) -> i32 {
    let printer = Printer::new(&cli.global);
    let config = match Config::load(cli.global.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            printer.error(&err);
            return err.exit_code();
        }
    };
    let mut ctx = Context { config, printer };
    let outcome = match cli.command {
        Command::Version => {
            version(&ctx);
            Ok(())
        }
        Command::Status => status::run(&mut ctx),
        Command::Auth(command) => auth::run(&mut ctx, command),
        Command::Task(command) => task::run(&mut ctx, command),
        Command::Subtask(command) => plan::subtask(&mut ctx, command),
        Command::Run(command) => plan::run(&mut ctx, command),
        Command::Chat(args) => chat::run(&mut ctx, args),
        Command::Models(crate::cli::ModelsCommand::List) => chat::list_models(&mut ctx),
        Command::Project(command) => project::run(&mut ctx, command),
        Command::Apikey(command) => apikey::run(&mut ctx, command),
        Command::Usage(args) => usage::run(&mut ctx, args),
        Command::User(command) => user::run(&mut ctx, command),
        Command::Prefs(command) => prefs::run(&mut ctx, command),
        Command::Audit(command) => audit::run(&mut ctx, command),
        Command::Settings(command) => settings::run(&mut ctx, command),
        Command::Skills(command) => skills::run(&mut ctx, command),
        Command::Creds(command) => creds::run(&mut ctx, command),
        Command::Provider(command) => providers::run(&mut ctx, command),
        Command::Node(command) => admin::node(&mut ctx, command),
        Command::Admin(command) => admin::run(&mut ctx, command),
        Command::Shell(_) => Err(crate::error::CliError::usage(
            "the shell is already running",
        )),
        Command::Completion { shell } => {
            completion(shell);
            Ok(())
        }
    };
    finish(&ctx.printer, outcome)
}

fn finish(printer: &Printer, outcome: CliResult) -> i32 {
    match outcome {
        Ok(()) => 0,
        Err(err) => {
            printer.error(&err);
            err.exit_code()
        }
    }
}

fn version(ctx: &Context) {
    let version = env!("CARGO_PKG_VERSION");
    if ctx.printer.json_mode() {
        ctx.printer.json(&serde_json::json!({ "version": version }));
    } else {
        ctx.printer.line(&[("version", version.to_owned())]);
    }
}

fn completion(shell: CompletionShell) {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "cynork", &mut std::io::stdout());
}
