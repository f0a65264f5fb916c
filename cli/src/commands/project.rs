//! `cynork project …`: create, list, get, update, delete your projects. A credential is
//! read from stdin (never an argument, which other users could see in the process list)
//! and never printed: the gateway only says whether one is stored.

use clap::{Args, Subcommand};
use reqwest::Method;

use cynode_protocol::wire::{CreateProjectRequest, ProjectList, ProjectView, UpdateProjectRequest};

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::{CliError, CliResult};
use crate::input::{confirm, secret_from_stdin};
use crate::output::Printer;

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project; the credential is read from stdin, never from the command line
    Create {
        /// Name (normalized: lowercase words joined by dashes)
        name: String,
        /// Repository URL (https://, http://, ssh://, git://, file://, or user@host:path)
        #[arg(long, value_name = "URL")]
        repo: String,
        /// Branch planned work starts from [default: main]
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// Read a credential (a forge token) from the first line of stdin
        #[arg(long)]
        credential_stdin: bool,
        /// Use one of your stored credentials instead (cynork creds)
        #[arg(long, value_name = "NAME", conflicts_with = "credential_stdin")]
        credential_name: Option<String>,
        /// Start subtasks by themselves once their dependencies are merged
        #[arg(long)]
        auto_start: bool,
        #[command(flatten)]
        build: BuildArgs,
    },
    /// List your projects
    List,
    /// Show a project
    Get(ProjectRefArg),
    /// Change a project's repository, branch, credential, auto-start or build settings
    Update {
        #[command(flatten)]
        project: ProjectRefArg,
        #[arg(long, value_name = "URL")]
        repo: Option<String>,
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// Read a new credential from the first line of stdin
        #[arg(long, conflicts_with = "remove_credential")]
        credential_stdin: bool,
        /// Forget the project's own credential
        #[arg(long)]
        remove_credential: bool,
        /// Use one of your stored credentials instead ("" stops using it)
        #[arg(long, value_name = "NAME", conflicts_with = "credential_stdin")]
        credential_name: Option<String>,
        #[arg(long, value_name = "BOOL")]
        auto_start: Option<bool>,
        /// Build settings ("" clears one)
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Delete a project (its tasks stay)
    Delete {
        #[command(flatten)]
        project: ProjectRefArg,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// How a project's planned work is built.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Sandbox image for the project's planned work (one the nodes allow)
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Command a worker's change must pass (run in the checkout), e.g. "make test"
    #[arg(long, value_name = "CMD")]
    pub test_command: Option<String>,
    /// Forge API base for pull requests, e.g. https://api.github.com
    #[arg(long, value_name = "URL")]
    pub forge_url: Option<String>,
    /// owner/name on the forge [default: from the repository URL]
    #[arg(long, value_name = "OWNER/NAME")]
    pub forge_repo: Option<String>,
    /// Run the project's planned work (and hand its credential) only to nodes an admin
    /// labelled so
    #[arg(long, value_name = "LABEL")]
    pub node_label: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ProjectRefArg {
    /// Project id or name
    #[arg(value_name = "PROJECT")]
    pub project: String,
}

fn project_path(project: &str) -> CliResult<String> {
    if project.trim().is_empty() {
        return Err(CliError::usage("the project id or name must not be empty"));
    }
    Ok(format!("/v1/projects/{}", segment(project)))
}

fn credential_from_stdin() -> CliResult<String> {
    secret_from_stdin("--credential-stdin", "a credential")
}

pub fn run(ctx: &mut Context, command: ProjectCommand) -> CliResult {
    let view: ProjectView = match command {
        ProjectCommand::Create {
            name,
            repo,
            branch,
            credential_stdin,
            credential_name,
            auto_start,
            build,
        } => {
            let req = CreateProjectRequest {
                name,
                repo_url: repo,
                default_branch: branch,
                credential: credential_stdin.then(credential_from_stdin).transpose()?,
                credential_name,
                auto_start: Some(auto_start),
                image: build.image,
                test_command: build.test_command,
                forge_url: build.forge_url,
                forge_repo: build.forge_repo,
                node_label: build.node_label,
            };
            Gateway::new(&mut ctx.config)?.post("/v1/projects", &req)?
        }
        ProjectCommand::List => {
            let list: ProjectList = Gateway::new(&mut ctx.config)?.get("/v1/projects")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else if list.projects.is_empty() {
                ctx.printer
                    .note("no projects yet: cynork project create NAME --repo URL");
            } else {
                for project in &list.projects {
                    print_project(&ctx.printer, project);
                }
            }
            return Ok(());
        }
        ProjectCommand::Get(project) => {
            Gateway::new(&mut ctx.config)?.get(&project_path(&project.project)?)?
        }
        ProjectCommand::Update {
            project,
            repo,
            branch,
            credential_stdin,
            remove_credential,
            credential_name,
            auto_start,
            build,
        } => {
            let credential = if remove_credential {
                Some(String::new())
            } else {
                credential_stdin.then(credential_from_stdin).transpose()?
            };
            let req = UpdateProjectRequest {
                repo_url: repo,
                default_branch: branch,
                credential,
                credential_name,
                auto_start,
                image: build.image,
                test_command: build.test_command,
                forge_url: build.forge_url,
                forge_repo: build.forge_repo,
                node_label: build.node_label,
            };
            Gateway::new(&mut ctx.config)?.call(
                Method::PATCH,
                &project_path(&project.project)?,
                Some(&req),
                true,
            )?
        }
        ProjectCommand::Delete { project, yes } => {
            let path = project_path(&project.project)?;
            if !yes && !confirm(&format!("Delete project {}?", project.project))? {
                ctx.printer.note("not deleted");
                return Ok(());
            }
            Gateway::new(&mut ctx.config)?.call::<(), ()>(Method::DELETE, &path, None, true)?;
            if ctx.printer.json_mode() {
                ctx.printer
                    .json(&serde_json::json!({"deleted": project.project}));
            } else {
                ctx.printer.line(&[("deleted", project.project)]);
            }
            return Ok(());
        }
    };
    if ctx.printer.json_mode() {
        ctx.printer.json(&view);
    } else {
        print_project(&ctx.printer, &view);
    }
    Ok(())
}

fn print_project(printer: &Printer, project: &ProjectView) {
    let mut pairs = vec![
        ("project_id", project.project_id.to_string()),
        ("name", project.name.clone()),
        ("repo", project.repo_url.clone()),
        ("branch", project.default_branch.clone()),
        (
            "credential",
            match (&project.credential_name, project.has_credential) {
                (Some(name), _) => format!("creds:{name}"),
                (None, true) => "stored".into(),
                (None, false) => "none".into(),
            },
        ),
        ("auto_start", project.auto_start.to_string()),
    ];
    let build = &project.build;
    for (key, value) in [
        ("image", &build.image),
        ("test_command", &build.test_command),
        ("forge_url", &build.forge_url),
        ("forge_repo", &build.forge_repo),
        ("node_label", &build.node_label),
    ] {
        if let Some(value) = value {
            pairs.push((key, value.clone()));
        }
    }
    printer.line(&pairs);
}
