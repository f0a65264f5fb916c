//! `cynork skills …`: load a markdown file as a skill (named after the file unless
//! `--name`), list, show and delete your skills.

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;

use cynode_protocol::wire::{LoadSkillRequest, SkillList, SkillView};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::{CliError, CliResult};
use crate::input::read_skill;

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// Load a markdown file as a skill (a skill of the same name is replaced)
    Load {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The skill's name (default: the file's name without its extension)
        #[arg(long)]
        name: Option<String>,
        /// A word that makes it apply when a prompt has it (repeatable; none: always)
        #[arg(long = "trigger", value_name = "WORD")]
        triggers: Vec<String>,
        /// Apply it to every agent job of this project's tasks instead (id or name)
        #[arg(long)]
        project: Option<String>,
    },
    /// Your skills, without their bodies
    List,
    /// One skill, with its body
    Get {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Delete a skill
    Delete {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

pub fn run(ctx: &mut Context, command: SkillsCommand) -> CliResult {
    match command {
        SkillsCommand::Load {
            file,
            name,
            triggers,
            project,
        } => {
            let body = read_skill(&file)?;
            let name = match name {
                Some(name) => name,
                None => file
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .ok_or_else(|| CliError::usage("give --name: the file has no name"))?,
            };
            let req = LoadSkillRequest {
                name,
                body,
                triggers,
                project,
            };
            let skill: SkillView = Gateway::new(&mut ctx.config)?.post("/v1/skills", &req)?;
            print(ctx, &skill);
            Ok(())
        }
        SkillsCommand::List => {
            let list: SkillList = Gateway::new(&mut ctx.config)?.get("/v1/skills")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else {
                for skill in &list.skills {
                    ctx.printer.line(&pairs(skill));
                }
            }
            Ok(())
        }
        SkillsCommand::Get { name } => {
            let skill: SkillView =
                Gateway::new(&mut ctx.config)?.get(&format!("/v1/skills/{}", segment(&name)))?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&skill);
            } else {
                ctx.printer.line(&pairs(&skill));
                println!("{}", skill.body.as_deref().unwrap_or_default().trim_end());
            }
            Ok(())
        }
        SkillsCommand::Delete { name } => {
            let path = format!("/v1/skills/{}", segment(&name));
            Gateway::new(&mut ctx.config)?.call::<(), ()>(Method::DELETE, &path, None, true)?;
            ctx.printer.deleted("name", &name);
            Ok(())
        }
    }
}

fn pairs(skill: &SkillView) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("name", skill.name.clone()),
        ("size", skill.size.to_string()),
    ];
    if !skill.triggers.is_empty() {
        pairs.push(("triggers", skill.triggers.join(",")));
    }
    if let Some(project) = &skill.project_id {
        pairs.push(("project_id", project.clone()));
    }
    pairs
}

fn print(ctx: &Context, skill: &SkillView) {
    if ctx.printer.json_mode() {
        ctx.printer.json(skill);
    } else {
        ctx.printer.line(&pairs(skill));
    }
}
