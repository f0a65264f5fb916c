//! `cynork audit list`: the audit trail, newest first (admins: everyone's, or one user's
//! with --user; anyone else: their own), filtered by action or area and outcome.

use clap::Subcommand;

use cynode_protocol::wire::AuditList;

use super::Context;
use crate::client::{segment, Gateway};
use crate::error::CliResult;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Events newest first, one line each
    List {
        /// One action (`auth.login`) or an area (`auth`, `user.*`)
        #[arg(long)]
        action: Option<String>,
        /// success or failure
        #[arg(long, value_parser = ["success", "failure"])]
        outcome: Option<String>,
        /// One user's trail, by handle (admins)
        #[arg(long)]
        user: Option<String>,
        /// Events per page (1-200)
        #[arg(short = 'l', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=200))]
        limit: u32,
        /// Continue after this cursor (printed as next_cursor by the previous page)
        #[arg(long)]
        cursor: Option<String>,
    },
}

pub fn run(ctx: &mut Context, command: AuditCommand) -> CliResult {
    let AuditCommand::List {
        action,
        outcome,
        user,
        limit,
        cursor,
    } = command;
    let mut path = format!("/v1/audit?limit={limit}");
    for (name, value) in [
        ("action", action),
        ("outcome", outcome),
        ("user", user),
        ("cursor", cursor),
    ] {
        if let Some(value) = value {
            path.push_str(&format!("&{name}={}", segment(&value)));
        }
    }
    let page: AuditList = Gateway::new(&mut ctx.config)?.get(&path)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&page);
        return Ok(());
    }
    for event in &page.events {
        let mut pairs = vec![
            ("at", cynode_protocol::clock::rfc3339(event.at)),
            ("action", event.action.clone()),
            ("outcome", event.outcome.as_str().to_owned()),
            ("actor", event.actor.clone()),
            ("subject", event.subject.clone()),
        ];
        if let Some(task) = &event.task_id {
            pairs.push(("task_id", task.clone()));
        }
        if let Some(source) = &event.source {
            pairs.push(("source", source.clone()));
        }
        if let Some(detail) = &event.detail {
            pairs.push(("detail", detail.clone()));
        }
        ctx.printer.line(&pairs);
    }
    if let Some(cursor) = &page.next_cursor {
        ctx.printer.line(&[("next_cursor", cursor.clone())]);
    }
    Ok(())
}
