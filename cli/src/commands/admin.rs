//! `cynork node …` and `cynork admin …`: operators' commands (the gateway answers 403,
//! exit code 3, for anyone but an admin).

use cynode_protocol::wire::{
    DeadLetterList, NodeLabels, NodeList, NodeView, RedriveReport, SweepReport,
};

use super::Context;
use crate::cli::{AdminCommand, NodeCommand};
use crate::client::{segment, Gateway};
use crate::error::{CliError, CliResult};
use crate::output::{quote, Printer};

pub fn node(ctx: &mut Context, command: NodeCommand) -> CliResult {
    let mut gateway = Gateway::new(&mut ctx.config)?;
    let (node, action) = match command {
        NodeCommand::List => {
            let list: NodeList = gateway.get("/v1/admin/nodes")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else if list.nodes.is_empty() {
                ctx.printer.note("no edge node has registered yet");
            } else {
                for node in &list.nodes {
                    print_node(&ctx.printer, node, false);
                }
            }
            return Ok(());
        }
        NodeCommand::Get(node) => (node.node, None),
        NodeCommand::Enable(node) => (node.node, Some("enable")),
        NodeCommand::Disable(node) => (node.node, Some("disable")),
        NodeCommand::Drain(node) => (node.node, Some("drain")),
        NodeCommand::Revoke { node, yes } => {
            let question = format!(
                "Revoke node {}? Its keys stop now and it cannot register until enabled.",
                node.node
            );
            if !yes && !crate::input::confirm(&question)? {
                ctx.printer.note("not revoked");
                return Ok(());
            }
            (node.node, Some("revoke"))
        }
        NodeCommand::Label { node, labels } => {
            let path = format!("/v1/admin/nodes/{}/labels", segment(&node.node));
            let body = NodeLabels { labels };
            let view: NodeView = gateway.call(reqwest::Method::PUT, &path, Some(&body), true)?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&view);
            } else {
                print_node(&ctx.printer, &view, true);
            }
            return Ok(());
        }
    };
    if node.trim().is_empty() {
        return Err(CliError::usage("the node name or id must not be empty"));
    }
    let path = format!("/v1/admin/nodes/{}", segment(&node));
    let view: NodeView = match action {
        None => gateway.get(&path)?,
        Some(action) => gateway.post(&format!("{path}/{action}"), &serde_json::json!({}))?,
    };
    if ctx.printer.json_mode() {
        ctx.printer.json(&view);
    } else {
        print_node(&ctx.printer, &view, true);
    }
    Ok(())
}

fn print_node(printer: &Printer, node: &NodeView, details: bool) {
    let mut pairs = vec![
        ("node", node.node_name.clone()),
        ("node_id", node.node_id.to_string()),
        ("state", node.state.as_str().to_owned()),
        (
            "last_seen",
            node.last_seen_at
                .map(cynode_protocol::clock::rfc3339)
                .unwrap_or_else(|| "never".into()),
        ),
        ("slots_in_use", node.slots_in_use.unwrap_or(0).to_string()),
        ("labels", quote(&node.labels.join(","))),
        (
            "config",
            node.acked_config_version
                .clone()
                .unwrap_or_else(|| "none".into()),
        ),
    ];
    if details {
        let caps = &node.capabilities;
        pairs.push(("cpus", caps.cpus.to_string()));
        pairs.push(("models", quote(&caps.models().join(","))));
    }
    printer.line(&pairs);
}

pub fn run(ctx: &mut Context, command: AdminCommand) -> CliResult {
    let mut gateway = Gateway::new(&mut ctx.config)?;
    match command {
        AdminCommand::DeadLetters => {
            let list: DeadLetterList = gateway.get("/v1/admin/dead-letters")?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&list);
            } else if list.dead_letters.is_empty() {
                ctx.printer.note("the dead-letter queue is empty");
            }
            if !ctx.printer.json_mode() {
                for letter in &list.dead_letters {
                    let text = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                    ctx.printer.line(&[
                        ("message_id", letter.message_id.clone()),
                        (
                            "task_id",
                            text(letter.task_id.as_ref().map(|t| t.to_string())),
                        ),
                        (
                            "job_id",
                            text(letter.job_id.as_ref().map(|j| j.to_string())),
                        ),
                        (
                            "job_status",
                            text(letter.job_status.map(|s| s.as_str().to_owned())),
                        ),
                    ]);
                }
            }
        }
        AdminCommand::Redrive => {
            let report: RedriveReport =
                gateway.post("/v1/admin/dead-letters/redrive", &serde_json::json!({}))?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&report);
            } else {
                ctx.printer.line(&[
                    ("redriven", report.redriven.to_string()),
                    ("dropped", report.dropped.to_string()),
                ]);
            }
        }
        AdminCommand::Sweep => {
            let report: SweepReport = gateway.post("/v1/admin/sweep", &serde_json::json!({}))?;
            if ctx.printer.json_mode() {
                ctx.printer.json(&report);
            } else {
                ctx.printer.line(&[
                    ("active", report.active.to_string()),
                    ("requeued", report.requeued.to_string()),
                    ("ended", report.ended.to_string()),
                    ("dead_letters", report.dead_letters.to_string()),
                    ("dead_letters_busy", report.dead_letters_busy.to_string()),
                ]);
            }
        }
    }
    Ok(())
}
