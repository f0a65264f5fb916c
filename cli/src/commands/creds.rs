//! `cynork creds …`: your stored credentials for outbound services. A value is read from
//! stdin (never an argument, which other users could see in the process list) and never
//! printed: the gateway never gives it back.

use clap::Subcommand;
use reqwest::Method;

use cynode_protocol::wire::{
    CreateCredentialRequest, CredentialList, CredentialView, RotateCredentialRequest,
    UpdateCredentialRequest,
};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::CliResult;
use crate::input::{confirm, secret_from_stdin};

#[derive(Debug, Subcommand)]
pub enum CredsCommand {
    /// Store a credential; its value is read from stdin (one line, or an ssh key block)
    Create {
        #[arg(value_name = "NAME")]
        name: String,
        /// Who it is for: github, gitlab, openai, anthropic, … (lowercase)
        #[arg(long)]
        provider: String,
        /// A note to tell credentials apart
        #[arg(long)]
        description: Option<String>,
    },
    /// Your credentials, without their values
    List,
    /// One credential, without its value
    Get {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Replace a credential's value with a new one read from stdin
    Rotate {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Stop handing a credential to any job until it is enabled again
    Disable {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Hand a disabled credential out again
    Enable {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Use a credential for a hosted model provider's calls (yours; --system: everyone's
    /// who attached none, admins)
    Attach {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(long, value_name = "PROVIDER")]
        provider: String,
        #[arg(long)]
        system: bool,
    },
    /// Stop using your credential (or, --system, everyone's default) for a provider
    Detach {
        #[arg(long, value_name = "PROVIDER")]
        provider: String,
        #[arg(long)]
        system: bool,
    },
    /// Delete a credential and its value (refused while a project uses it)
    Delete {
        #[arg(value_name = "NAME")]
        name: String,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

fn path(name: &str) -> String {
    format!("/v1/credentials/{}", segment(name))
}

pub fn run(ctx: &mut Context, command: CredsCommand) -> CliResult {
    let view: CredentialView = match command {
        CredsCommand::Create {
            name,
            provider,
            description,
        } => {
            let req = CreateCredentialRequest {
                name,
                provider,
                value: secret_from_stdin("creds create", "value")?,
                description,
            };
            Gateway::new(&mut ctx.config)?.post("/v1/credentials", &req)?
        }
        CredsCommand::List => {
            let list: CredentialList = Gateway::new(&mut ctx.config)?.get("/v1/credentials")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else if list.credentials.is_empty() {
                ctx.printer.note(
                    "no credentials yet: cynork creds create NAME --provider P < file-with-the-value",
                );
            } else {
                for credential in &list.credentials {
                    ctx.printer.line(&pairs(credential));
                }
            }
            return Ok(());
        }
        CredsCommand::Get { name } => Gateway::new(&mut ctx.config)?.get(&path(&name))?,
        CredsCommand::Rotate { name } => {
            let req = RotateCredentialRequest {
                value: secret_from_stdin("creds rotate", "value")?,
            };
            let rotate = format!("{}/rotate", path(&name));
            Gateway::new(&mut ctx.config)?.post(&rotate, &req)?
        }
        CredsCommand::Disable { name } => set_enabled(ctx, &name, false)?,
        CredsCommand::Enable { name } => set_enabled(ctx, &name, true)?,
        CredsCommand::Attach {
            name,
            provider,
            system,
        } => return super::providers::attach(ctx, name, &provider, system),
        CredsCommand::Detach { provider, system } => {
            return super::providers::detach(ctx, &provider, system)
        }
        CredsCommand::Delete { name, yes } => {
            if !yes && !confirm(&format!("Delete credential {name}?"))? {
                ctx.printer.note("not deleted");
                return Ok(());
            }
            Gateway::new(&mut ctx.config)?.call::<(), ()>(
                Method::DELETE,
                &path(&name),
                None,
                true,
            )?;
            ctx.printer.deleted("name", &name);
            return Ok(());
        }
    };
    if ctx.printer.json_mode() {
        ctx.printer.json(&view);
    } else {
        ctx.printer.line(&pairs(&view));
    }
    Ok(())
}

fn set_enabled(ctx: &mut Context, name: &str, enabled: bool) -> CliResult<CredentialView> {
    let req = UpdateCredentialRequest {
        enabled: Some(enabled),
        description: None,
    };
    Gateway::new(&mut ctx.config)?.call(Method::PATCH, &path(name), Some(&req), true)
}

fn pairs(credential: &CredentialView) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("name", credential.name.clone()),
        ("provider", credential.provider.clone()),
        (
            "state",
            if credential.enabled {
                "enabled"
            } else {
                "disabled"
            }
            .into(),
        ),
    ];
    if let Some(rotated) = credential.rotated_at {
        pairs.push(("rotated_at", cynode_protocol::clock::rfc3339(rotated)));
    }
    if let Some(description) = &credential.description {
        pairs.push(("description", description.clone()));
    }
    pairs
}
