//! `cynork auth login|logout|whoami`.

use std::io::IsTerminal;

use reqwest::Method;

use cynode_protocol::wire::{LoginRequest, LogoutRequest, TokenPair, UserView};

use super::Context;
use crate::cli::AuthCommand;
use crate::client::Gateway;
use crate::config::TokenSource;
use crate::error::{CliError, CliResult};
use crate::input::read_line;

pub fn run(ctx: &mut Context, command: AuthCommand) -> CliResult {
    match command {
        AuthCommand::Login {
            user,
            password_stdin,
        } => login(ctx, user, password_stdin),
        AuthCommand::Logout => logout(ctx),
        AuthCommand::Whoami => whoami(ctx),
        AuthCommand::Refresh => refresh(ctx),
    }
}

fn login(ctx: &mut Context, user: Option<String>, password_stdin: bool) -> CliResult {
    let interactive = std::io::stdin().is_terminal();
    let handle = match user {
        Some(handle) => handle,
        None if interactive && !password_stdin => read_line(Some("Handle: "))?,
        None => return Err(CliError::usage("give your handle with -u/--user")),
    };
    let password = if password_stdin {
        read_line(None)?
    } else if interactive {
        rpassword::prompt_password("Password: ")
            .map_err(|err| CliError::usage(format!("cannot read the password: {err}")))?
    } else {
        return Err(CliError::usage(
            "no terminal to ask for the password on; use --password-stdin",
        ));
    };
    if handle.trim().is_empty() || password.is_empty() {
        return Err(CliError::usage("handle and password must not be empty"));
    }
    let mut gateway = Gateway::new(&mut ctx.config)?;
    let pair: TokenPair = gateway.call(
        Method::POST,
        "/v1/auth/login",
        Some(&LoginRequest {
            handle: handle.clone(),
            password,
        }),
        false,
    )?;
    let base = gateway.base_url().to_owned();
    ctx.config
        .store_tokens(&pair.access_token, Some(&pair.refresh_token))?;
    if ctx
        .config
        .token
        .as_ref()
        .is_some_and(|(_, source)| *source == TokenSource::Env)
    {
        ctx.printer
            .note("note: CYNORK_TOKEN is set and takes precedence over the saved login");
    }
    if ctx.printer.json_mode() {
        ctx.printer
            .json(&serde_json::json!({ "logged_in": true, "handle": handle, "gateway": base }));
    } else {
        ctx.printer.line(&[
            ("logged_in", "true".into()),
            ("handle", handle),
            ("gateway", base),
        ]);
    }
    Ok(())
}

/// Forgets the saved tokens. Ending the session at the gateway is best effort: logout
/// works offline too.
fn logout(ctx: &mut Context) -> CliResult {
    let saved = ctx.config.file.token.is_some() || ctx.config.file.refresh_token.is_some();
    if saved {
        let refresh_token = ctx.config.file.refresh_token.clone();
        if let Ok(mut gateway) = Gateway::impatient(&mut ctx.config) {
            let _ = gateway.call::<_, serde_json::Value>(
                Method::POST,
                "/v1/auth/logout",
                Some(&LogoutRequest { refresh_token }),
                true,
            );
        }
        ctx.config.clear_tokens()?;
    }
    if ctx.printer.json_mode() {
        ctx.printer.json(&serde_json::json!({ "logged_out": true }));
    } else {
        ctx.printer.line(&[("logged_out", "true".into())]);
    }
    Ok(())
}

fn whoami(ctx: &mut Context) -> CliResult {
    let me: UserView = Gateway::new(&mut ctx.config)?.get("/v1/users/me")?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&me);
    } else {
        ctx.printer.line(&[
            ("user_id", me.user_id.to_string()),
            ("handle", me.handle.clone()),
            ("is_admin", me.is_admin.to_string()),
        ]);
    }
    Ok(())
}

/// Rotates the stored tokens: the old refresh token is retired by the gateway.
fn refresh(ctx: &mut Context) -> CliResult {
    Gateway::new(&mut ctx.config)?.refresh_now()?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&serde_json::json!({ "refreshed": true }));
    } else {
        ctx.printer.line(&[("refreshed", "true".into())]);
    }
    Ok(())
}
