//! `cynork provider …` (hosted model providers: admins add and remove them, everyone
//! lists them) and `cynork creds attach|detach` (which stored credential a provider's
//! calls use).

use clap::Subcommand;
use reqwest::Method;

use cynode_protocol::wire::{
    AttachCredentialRequest, AttachScope, CreateProviderRequest, ProviderKind, ProviderList,
    ProviderModel, ProviderView,
};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::CliResult;
use crate::input::confirm;

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// The providers, their models and prices, and the credential your calls would use
    List,
    /// One provider
    Get {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Register a provider (admins)
    Add {
        #[arg(value_name = "NAME")]
        name: String,
        /// openai (any OpenAI-compatible API) or anthropic (the Messages API)
        #[arg(long, value_parser = parse_kind)]
        kind: ProviderKind,
        /// https://… (plain http only for hosts the deployment allows)
        #[arg(long, value_name = "URL")]
        base_url: String,
        /// A model it offers, with its prices in US dollars per million input and output
        /// tokens: NAME or NAME@IN/OUT (repeatable; at least one)
        #[arg(long = "model", value_name = "NAME[@IN/OUT]", value_parser = parse_model, required = true)]
        models: Vec<ProviderModel>,
    },
    /// Remove a provider and every credential attached to it (admins)
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

fn parse_kind(text: &str) -> Result<ProviderKind, String> {
    match text {
        "openai" => Ok(ProviderKind::Openai),
        "anthropic" => Ok(ProviderKind::Anthropic),
        other => Err(format!("'{other}' is not a kind: openai or anthropic")),
    }
}

/// `NAME` or `NAME@IN/OUT`.
fn parse_model(text: &str) -> Result<ProviderModel, String> {
    let (name, prices) = match text.rsplit_once('@') {
        Some((name, prices)) => (name, Some(prices)),
        None => (text, None),
    };
    let (input, output) = match prices {
        None => (0.0, 0.0),
        Some(prices) => {
            let (input, output) = prices
                .split_once('/')
                .ok_or_else(|| format!("'{prices}' is not IN/OUT (dollars per million tokens)"))?;
            let number = |p: &str| {
                p.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("'{p}' is not a price"))
            };
            (number(input)?, number(output)?)
        }
    };
    Ok(ProviderModel {
        name: name.to_owned(),
        input_usd_per_mtok: input,
        output_usd_per_mtok: output,
    })
}

fn path(name: &str) -> String {
    format!("/v1/providers/{}", segment(name))
}

pub fn run(ctx: &mut Context, command: ProviderCommand) -> CliResult {
    let view: ProviderView = match command {
        ProviderCommand::List => {
            let list: ProviderList = Gateway::new(&mut ctx.config)?.get("/v1/providers")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else if list.providers.is_empty() {
                ctx.printer
                    .note("no providers yet: an admin adds one with cynork provider add");
            } else {
                for provider in &list.providers {
                    ctx.printer.line(&pairs(provider));
                }
            }
            return Ok(());
        }
        ProviderCommand::Get { name } => Gateway::new(&mut ctx.config)?.get(&path(&name))?,
        ProviderCommand::Add {
            name,
            kind,
            base_url,
            models,
        } => {
            let req = CreateProviderRequest {
                name,
                kind,
                base_url,
                models,
            };
            Gateway::new(&mut ctx.config)?.post("/v1/providers", &req)?
        }
        ProviderCommand::Remove { name, yes } => {
            if !yes
                && !confirm(&format!(
                    "Remove provider {name} and its attached credentials?"
                ))?
            {
                ctx.printer.note("not removed");
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
    print(ctx, &view);
    Ok(())
}

/// `cynork creds attach NAME --provider P [--system]`.
pub fn attach(ctx: &mut Context, credential: String, provider: &str, system: bool) -> CliResult {
    let req = AttachCredentialRequest {
        credential_name: credential,
        scope: scope(system),
    };
    let route = format!("{}/credential", path(provider));
    let view: ProviderView =
        Gateway::new(&mut ctx.config)?.call(Method::PUT, &route, Some(&req), true)?;
    print(ctx, &view);
    Ok(())
}

/// `cynork creds detach --provider P [--system]`.
pub fn detach(ctx: &mut Context, provider: &str, system: bool) -> CliResult {
    let route = format!(
        "{}/credential?scope={}",
        path(provider),
        scope(system).as_str()
    );
    let view: ProviderView =
        Gateway::new(&mut ctx.config)?.call::<(), _>(Method::DELETE, &route, None, true)?;
    print(ctx, &view);
    Ok(())
}

fn scope(system: bool) -> AttachScope {
    match system {
        true => AttachScope::System,
        false => AttachScope::User,
    }
}

fn print(ctx: &Context, view: &ProviderView) {
    if ctx.printer.json_mode() {
        ctx.printer.json(view);
    } else {
        ctx.printer.line(&pairs(view));
    }
}

fn pairs(provider: &ProviderView) -> Vec<(&'static str, String)> {
    let models: Vec<String> = provider
        .models
        .iter()
        .map(|m| {
            format!(
                "{}@{}/{}",
                m.name, m.input_usd_per_mtok, m.output_usd_per_mtok
            )
        })
        .collect();
    let credential = match &provider.credential {
        Some(c) => format!("{} ({})", c.credential_name, c.scope.as_str()),
        None => "none".into(),
    };
    vec![
        ("name", provider.name.clone()),
        ("kind", provider.kind.as_str().into()),
        ("base_url", provider.base_url.clone()),
        ("models", models.join(",")),
        ("credential", credential),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_read_with_or_without_prices() {
        let model = parse_model("meta-llama/llama-3.1-8b@0.05/0.08").unwrap();
        assert_eq!(model.name, "meta-llama/llama-3.1-8b");
        assert_eq!(
            (model.input_usd_per_mtok, model.output_usd_per_mtok),
            (0.05, 0.08)
        );
        let free = parse_model("smollm2:135m").unwrap();
        assert_eq!(
            (free.name.as_str(), free.input_usd_per_mtok),
            ("smollm2:135m", 0.0)
        );
        assert!(parse_model("m@1").is_err());
        assert!(parse_model("m@x/1").is_err());
    }
}
