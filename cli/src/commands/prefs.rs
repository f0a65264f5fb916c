//! `cynork prefs …`: preferences at a scope (yours by default; `--system`, `--project`
//! or `--task` for the others), and the values that apply to a task, a project or your
//! new work, with where each came from.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use cynode_protocol::wire::{
    EffectivePreferences, PreferenceEntry, PreferenceList, PreferenceScope, SetPreferenceRequest,
};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::CliResult;

#[derive(Debug, Subcommand)]
pub enum PrefsCommand {
    /// The values set at one scope
    List(ScopeArgs),
    /// One key's value at one scope
    Get {
        #[arg(value_name = "KEY")]
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Set a key at one scope (numbers and true/false are read as such, anything else as text)
    Set {
        #[arg(value_name = "KEY")]
        key: String,
        #[arg(value_name = "VALUE")]
        value: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove a key's value from one scope
    Unset {
        #[arg(value_name = "KEY")]
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Every key as it applies to a task, a project's new tasks, or your new tasks, and
    /// where each value came from
    Effective {
        /// A task's id or name
        #[arg(long, conflicts_with = "project")]
        task: Option<String>,
        /// A project's id or name
        #[arg(long)]
        project: Option<String>,
    },
}

/// Which scope: yours unless one of these is given.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Everyone's (admins set it)
    #[arg(long, conflicts_with_all = ["project", "task"])]
    system: bool,
    /// One of your projects (id or name)
    #[arg(long, conflicts_with = "task")]
    project: Option<String>,
    /// One of your tasks (id or name)
    #[arg(long)]
    task: Option<String>,
}

impl ScopeArgs {
    fn scope(&self) -> (PreferenceScope, Option<String>) {
        match (&self.project, &self.task) {
            (Some(project), _) => (PreferenceScope::Project, Some(project.clone())),
            (_, Some(task)) => (PreferenceScope::Task, Some(task.clone())),
            _ if self.system => (PreferenceScope::System, None),
            _ => (PreferenceScope::User, None),
        }
    }

    fn query(&self) -> String {
        let (scope, id) = self.scope();
        match id {
            Some(id) => format!("?scope={scope}&scope_id={}", segment(&id)),
            None => format!("?scope={scope}"),
        }
    }
}

pub fn run(ctx: &mut Context, command: PrefsCommand) -> CliResult {
    match command {
        PrefsCommand::List(scope) => {
            let list: PreferenceList =
                Gateway::new(&mut ctx.config)?.get(&format!("/v1/preferences{}", scope.query()))?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else {
                for entry in &list.preferences {
                    ctx.printer.line(&entry_pairs(entry));
                }
            }
            Ok(())
        }
        PrefsCommand::Get { key, scope } => {
            let path = format!("/v1/preferences/{}{}", segment(&key), scope.query());
            let entry: PreferenceEntry = Gateway::new(&mut ctx.config)?.get(&path)?;
            print_entry(ctx, &entry);
            Ok(())
        }
        PrefsCommand::Set { key, value, scope } => {
            let (scope, scope_id) = scope.scope();
            let req = SetPreferenceRequest {
                scope,
                scope_id,
                value: parse_value(&value),
            };
            let path = format!("/v1/preferences/{}", segment(&key));
            let entry: PreferenceEntry =
                Gateway::new(&mut ctx.config)?.call(Method::PUT, &path, Some(&req), true)?;
            print_entry(ctx, &entry);
            Ok(())
        }
        PrefsCommand::Unset { key, scope } => {
            let path = format!("/v1/preferences/{}{}", segment(&key), scope.query());
            Gateway::new(&mut ctx.config)?.call::<(), ()>(Method::DELETE, &path, None, true)?;
            let (scope, _) = scope.scope();
            if ctx.printer.json_mode() {
                ctx.printer
                    .json(&serde_json::json!({ "key": key, "scope": scope, "unset": true }));
            } else {
                ctx.printer.line(&[
                    ("key", key),
                    ("scope", scope.to_string()),
                    ("unset", "true".into()),
                ]);
            }
            Ok(())
        }
        PrefsCommand::Effective { task, project } => {
            let path = match (&task, &project) {
                (Some(task), _) => format!("/v1/preferences/effective?task={}", segment(task)),
                (_, Some(project)) => {
                    format!("/v1/preferences/effective?project={}", segment(project))
                }
                _ => "/v1/preferences/effective".to_owned(),
            };
            let effective: EffectivePreferences = Gateway::new(&mut ctx.config)?.get(&path)?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&effective);
            } else {
                for pref in &effective.preferences {
                    ctx.printer.line(&[
                        ("key", pref.key.clone()),
                        ("value", shown(&pref.value)),
                        ("source", pref.source.clone()),
                    ]);
                }
            }
            Ok(())
        }
    }
}

/// A number or `true`/`false` as such; anything else as the text it is.
fn parse_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Number(_) | Value::Bool(_))) => value,
        _ => Value::String(text.to_owned()),
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn entry_pairs(entry: &PreferenceEntry) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("key", entry.key.clone()),
        ("value", shown(&entry.value)),
        ("scope", entry.scope.to_string()),
    ];
    if let Some(id) = &entry.scope_id {
        pairs.push(("scope_id", id.clone()));
    }
    pairs
}

fn print_entry(ctx: &Context, entry: &PreferenceEntry) {
    if ctx.printer.json_mode() {
        ctx.printer.json(entry);
    } else {
        ctx.printer.line(&entry_pairs(entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbers_and_booleans_when_they_read_as_such_and_text_otherwise() {
        assert_eq!(parse_value("8"), Value::from(8));
        assert_eq!(parse_value("true"), Value::from(true));
        assert_eq!(parse_value("qwen2.5:0.5b"), Value::from("qwen2.5:0.5b"));
        assert_eq!(parse_value("cargo test"), Value::from("cargo test"));
        assert_eq!(parse_value("\"8\""), Value::from("\"8\""));
        assert_eq!(parse_value("[1]"), Value::from("[1]"));
    }
}
