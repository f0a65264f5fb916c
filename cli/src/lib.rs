//! `cynork`, the CyNode command-line client.
//!
//! [`cli`] declares the commands; [`commands`] runs them against the gateway through
//! [`client`]; [`input`] checks local files before any request; [`output`] prints
//! `key=value` lines or JSON; [`shell`] is the interactive REPL over the same commands.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod input;
pub mod output;
pub mod shell;
pub mod wait;

use std::ffi::OsString;

use clap::Parser;

/// Parses `args` and runs the command; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = impl Into<OsString>>) -> i32 {
    let args = cli::shell_c_to_command(args.into_iter().map(Into::into).collect());
    match cli::Cli::try_parse_from(args) {
        // The shell runs commands; it is not one of them.
        Ok(cli) => match cli.command {
            cli::Command::Shell(args) => shell::run(&cli.global, args),
            _ => commands::execute(cli),
        },
        Err(err) => {
            let _ = err.print();
            err.exit_code()
        }
    }
}
