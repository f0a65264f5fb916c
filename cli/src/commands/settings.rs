//! `cynork settings …` (admins): the system settings in force, and changing one at run
//! time (`default` restores the deployment's value).

use clap::Subcommand;
use reqwest::Method;

use cynode_protocol::wire::{SetSettingRequest, SettingView, SettingsView};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::{CliError, CliResult};

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Every setting: its value, where it came from, the deployment's value
    List,
    /// One setting
    Get {
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// Change one setting for every function (within their cache time, 10 s by default)
    Set {
        #[arg(value_name = "KEY")]
        key: String,
        /// A whole number, or `default` for the deployment's value
        #[arg(value_name = "VALUE")]
        value: String,
    },
}

pub fn run(ctx: &mut Context, command: SettingsCommand) -> CliResult {
    match command {
        SettingsCommand::List => {
            let all: SettingsView = Gateway::new(&mut ctx.config)?.get("/v1/settings")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&all);
            } else {
                for setting in &all.settings {
                    ctx.printer.line(&pairs(setting));
                }
                if let Some(version) = &all.version {
                    ctx.printer.line(&[("version", version.clone())]);
                }
            }
            Ok(())
        }
        SettingsCommand::Get { key } => {
            let setting: SettingView =
                Gateway::new(&mut ctx.config)?.get(&format!("/v1/settings/{}", segment(&key)))?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&setting);
            } else {
                ctx.printer.line(&pairs(&setting));
            }
            Ok(())
        }
        SettingsCommand::Set { key, value } => {
            let value = match value.as_str() {
                "default" => serde_json::Value::Null,
                text => serde_json::Value::from(text.parse::<u64>().map_err(|_| {
                    CliError::usage(format!("'{text}' is not a whole number or 'default'"))
                })?),
            };
            let req = SetSettingRequest {
                value,
                version: None,
            };
            let path = format!("/v1/settings/{}", segment(&key));
            let all: SettingsView =
                Gateway::new(&mut ctx.config)?.call(Method::PUT, &path, Some(&req), true)?;
            let setting = all
                .settings
                .iter()
                .find(|setting| setting.key == key)
                .ok_or_else(|| CliError::internal("the gateway's answer lacks the setting"))?;
            if ctx.printer.json_mode() {
                ctx.printer.json(setting);
            } else {
                ctx.printer.line(&pairs(setting));
            }
            Ok(())
        }
    }
}

fn pairs(setting: &SettingView) -> Vec<(&'static str, String)> {
    vec![
        ("key", setting.key.clone()),
        ("value", setting.value.to_string()),
        ("source", setting.source.clone()),
        ("deployment_value", setting.deployment_value.to_string()),
    ]
}
