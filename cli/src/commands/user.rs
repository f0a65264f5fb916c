//! `cynork user …`: changing your own password, and (admins) listing, creating,
//! disabling, enabling, promoting and resetting users. Passwords are read from the
//! terminal without echo (asked twice when new), or from stdin with `--password-stdin`.

use std::io::IsTerminal;

use clap::Subcommand;
use reqwest::Method;

use cynode_protocol::wire::{
    ChangePasswordRequest, CreateUserRequest, ResetPasswordRequest, TokenPair, UpdateUserRequest,
    UserList, UserView,
};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::{CliError, CliResult};
use crate::input::read_line;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users in handle order (admins)
    List {
        /// Users per page (1-200)
        #[arg(short = 'l', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
        /// Continue after this cursor (printed as next_cursor by the previous page)
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Create a user (admins); the password is asked for, or read from stdin
    Create {
        #[arg(value_name = "HANDLE")]
        handle: String,
        /// Make the user an admin
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user (admins): no sign-in, and their sessions and API keys stop at once
    Disable {
        #[arg(value_name = "HANDLE")]
        handle: String,
    },
    /// Enable a disabled user again (admins)
    Enable {
        #[arg(value_name = "HANDLE")]
        handle: String,
    },
    /// Make a user an admin (admins)
    GrantAdmin {
        #[arg(value_name = "HANDLE")]
        handle: String,
    },
    /// Take a user's admin rights (admins; never the last active admin's)
    DropAdmin {
        #[arg(value_name = "HANDLE")]
        handle: String,
    },
    /// Set another user's password (admins); their sessions end
    ResetPassword {
        #[arg(value_name = "HANDLE")]
        handle: String,
        /// Read the new password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change your own password; every session of yours ends and this one is renewed
    Passwd {
        /// Read the current password, then the new one, from the first two lines of stdin
        #[arg(long)]
        password_stdin: bool,
    },
}

pub fn run(ctx: &mut Context, command: UserCommand) -> CliResult {
    match command {
        UserCommand::List { limit, cursor } => list(ctx, limit, cursor),
        UserCommand::Create {
            handle,
            admin,
            password_stdin,
        } => {
            let req = CreateUserRequest {
                handle: non_empty(handle)?,
                password: new_password(password_stdin)?,
                is_admin: admin,
            };
            let user: UserView = Gateway::new(&mut ctx.config)?.post("/v1/users", &req)?;
            print_user(ctx, &user);
            Ok(())
        }
        UserCommand::Disable { handle } => update(ctx, handle, None, Some(true)),
        UserCommand::Enable { handle } => update(ctx, handle, None, Some(false)),
        UserCommand::GrantAdmin { handle } => update(ctx, handle, Some(true), None),
        UserCommand::DropAdmin { handle } => update(ctx, handle, Some(false), None),
        UserCommand::ResetPassword {
            handle,
            password_stdin,
        } => {
            let path = format!(
                "/v1/users/{}/password",
                segment(&non_empty(handle.clone())?)
            );
            let req = ResetPasswordRequest {
                new_password: new_password(password_stdin)?,
            };
            Gateway::new(&mut ctx.config)?.call::<_, ()>(Method::POST, &path, Some(&req), true)?;
            done(ctx, &handle, "password_reset");
            Ok(())
        }
        UserCommand::Passwd { password_stdin } => passwd(ctx, password_stdin),
    }
}

fn list(ctx: &mut Context, limit: u32, cursor: Option<String>) -> CliResult {
    let mut path = format!("/v1/users?limit={limit}");
    if let Some(cursor) = &cursor {
        path.push_str(&format!("&cursor={}", segment(cursor)));
    }
    let page: UserList = Gateway::new(&mut ctx.config)?.get(&path)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&page);
        return Ok(());
    }
    for user in &page.users {
        ctx.printer.line(&user_pairs(user));
    }
    if let Some(cursor) = &page.next_cursor {
        ctx.printer.line(&[("next_cursor", cursor.clone())]);
    }
    Ok(())
}

fn update(
    ctx: &mut Context,
    handle: String,
    is_admin: Option<bool>,
    disabled: Option<bool>,
) -> CliResult {
    let path = format!("/v1/users/{}", segment(&non_empty(handle)?));
    let req = UpdateUserRequest { is_admin, disabled };
    let user: UserView =
        Gateway::new(&mut ctx.config)?.call(Method::PATCH, &path, Some(&req), true)?;
    print_user(ctx, &user);
    Ok(())
}

/// Changes the caller's password and keeps them signed in with the new session's tokens
/// (the gateway ends every session of theirs, this one too).
fn passwd(ctx: &mut Context, password_stdin: bool) -> CliResult {
    let current_password = if password_stdin {
        read_line(None)?
    } else {
        prompt_hidden("Current password: ")?
    };
    let req = ChangePasswordRequest {
        current_password,
        new_password: new_password(password_stdin)?,
    };
    let pair: TokenPair = Gateway::new(&mut ctx.config)?.call(
        Method::POST,
        "/v1/users/me/password",
        Some(&req),
        true,
    )?;
    ctx.config
        .store_tokens(&pair.access_token, Some(&pair.refresh_token))?;
    if ctx.printer.json_mode() {
        ctx.printer
            .json(&serde_json::json!({ "password_changed": true, "other_sessions_ended": true }));
    } else {
        ctx.printer.line(&[
            ("password_changed", "true".into()),
            ("other_sessions_ended", "true".into()),
        ]);
    }
    Ok(())
}

/// A new password: one line of stdin, or asked twice on the terminal.
fn new_password(from_stdin: bool) -> CliResult<String> {
    let password = if from_stdin {
        read_line(None)?
    } else {
        let first = prompt_hidden("New password: ")?;
        if prompt_hidden("Repeat it: ")? != first {
            return Err(CliError::usage("the two passwords differ"));
        }
        first
    };
    if password.is_empty() {
        return Err(CliError::usage("the password must not be empty"));
    }
    Ok(password)
}

fn prompt_hidden(prompt: &str) -> CliResult<String> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "no terminal to ask for the password on; use --password-stdin",
        ));
    }
    rpassword::prompt_password(prompt)
        .map_err(|err| CliError::usage(format!("cannot read the password: {err}")))
}

fn non_empty(handle: String) -> CliResult<String> {
    if handle.trim().is_empty() {
        return Err(CliError::usage("the handle must not be empty"));
    }
    Ok(handle)
}

fn user_pairs(user: &UserView) -> Vec<(&'static str, String)> {
    vec![
        ("handle", user.handle.clone()),
        ("user_id", user.user_id.to_string()),
        ("is_admin", user.is_admin.to_string()),
        ("disabled", user.disabled.to_string()),
        ("created", cynode_protocol::clock::rfc3339(user.created_at)),
    ]
}

fn print_user(ctx: &Context, user: &UserView) {
    if ctx.printer.json_mode() {
        ctx.printer.json(user);
    } else {
        ctx.printer.line(&user_pairs(user));
    }
}

fn done(ctx: &Context, handle: &str, what: &str) {
    if ctx.printer.json_mode() {
        ctx.printer
            .json(&serde_json::json!({ "handle": handle, what: true }));
    } else {
        ctx.printer
            .line(&[("handle", handle.to_owned()), (what, "true".into())]);
    }
}
