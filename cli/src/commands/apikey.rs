//! `cynork apikey …`: personal API keys. The secret is printed once, at creation; use it
//! as `CYNORK_TOKEN`, or as the API key of an OpenAI-compatible client.

use reqwest::Method;

use cynode_protocol::wire::{
    ApiKeyList, ApiKeyScope, ApiKeyView, CreateApiKeyRequest, CreatedApiKey,
};

use super::Context;
use crate::cli::{ApiKeyCommand, KeyScope};
use crate::client::{segment, Gateway};
use crate::error::{CliError, CliResult};
use crate::output::Printer;

pub fn run(ctx: &mut Context, command: ApiKeyCommand) -> CliResult {
    match command {
        ApiKeyCommand::Create {
            name,
            scope,
            expires_in_days,
        } => {
            let req = CreateApiKeyRequest {
                name,
                scope: match scope {
                    KeyScope::Models => ApiKeyScope::Models,
                    KeyScope::All => ApiKeyScope::All,
                },
                expires_in_days,
            };
            let created: CreatedApiKey =
                Gateway::new(&mut ctx.config)?.post("/v1/api-keys", &req)?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&created);
            } else {
                let mut pairs = key_pairs(&created.api_key);
                pairs.insert(1, ("key", created.key.clone()));
                ctx.printer.line(&pairs);
                ctx.printer
                    .note("the key is shown this once: store it now (it is kept only as a hash)");
            }
        }
        ApiKeyCommand::List { user } => {
            let path = match user {
                Some(handle) => format!("/v1/api-keys?user={}", segment(&handle)),
                None => "/v1/api-keys".to_owned(),
            };
            let list: ApiKeyList = Gateway::new(&mut ctx.config)?.get(&path)?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else if list.api_keys.is_empty() {
                ctx.printer.note("no API keys: cynork apikey create NAME");
            } else {
                for key in &list.api_keys {
                    print_key(&ctx.printer, key);
                }
            }
        }
        ApiKeyCommand::Revoke { id } => {
            if id.trim().is_empty() {
                return Err(CliError::usage("the key id must not be empty"));
            }
            let path = format!("/v1/api-keys/{}", segment(id.trim()));
            let revoked: ApiKeyView =
                Gateway::new(&mut ctx.config)?.call::<(), _>(Method::DELETE, &path, None, true)?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&revoked);
            } else {
                print_key(&ctx.printer, &revoked);
            }
        }
    }
    Ok(())
}

fn key_pairs(key: &ApiKeyView) -> Vec<(&'static str, String)> {
    let time = |at: Option<cynode_protocol::clock::Timestamp>| {
        at.map_or_else(|| "never".to_owned(), cynode_protocol::clock::rfc3339)
    };
    let mut pairs = vec![
        ("id", key.id.to_string()),
        ("name", key.name.clone()),
        ("scope", key.scope.as_str().to_owned()),
        ("prefix", key.prefix.clone()),
        ("created", cynode_protocol::clock::rfc3339(key.created_at)),
        ("expires", time(key.expires_at)),
        ("last_used", time(key.last_used_at)),
    ];
    if let Some(at) = key.revoked_at {
        pairs.push(("revoked", cynode_protocol::clock::rfc3339(at)));
    }
    pairs
}

fn print_key(printer: &Printer, key: &ApiKeyView) {
    printer.line(&key_pairs(key));
}
