//! `cynork status`: is the gateway reachable, is it ready, who am I.

use serde::Serialize;

use cynode_protocol::wire::UserView;

use super::Context;
use crate::client::Gateway;
use crate::error::{CliError, CliResult};
use crate::output::quote;

#[derive(Serialize)]
struct Status {
    gateway: String,
    reachable: bool,
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
}

pub fn run(ctx: &mut Context) -> CliResult {
    let logged_in = ctx.config.token.is_some();
    let mut gateway = Gateway::new(&mut ctx.config)?;
    let base = gateway.base_url().to_owned();
    let (live, _) = gateway.probe("/healthz")?;
    if live != 200 {
        return Err(CliError::gateway(format!(
            "the gateway at {base} is not healthy (HTTP {live})"
        )));
    }
    // 503 is the answer "not ready", with its reason.
    let (ready, readiness) = gateway.probe("/readyz")?;
    let (ready, reason) = (ready == 200, readiness.reason);
    let user = if logged_in {
        match gateway.get::<UserView>("/v1/users/me") {
            Ok(me) => Some(me.handle),
            Err(err) => {
                ctx.printer.note(&format!(
                    "note: the saved token does not work: {}",
                    err.message
                ));
                None
            }
        }
    } else {
        None
    };
    let status = Status {
        gateway: base,
        reachable: true,
        ready,
        reason,
        user,
    };
    if ctx.printer.json_mode() {
        ctx.printer.json(&status);
    } else {
        let mut pairs = vec![
            ("gateway", status.gateway.clone()),
            ("reachable", "true".into()),
            ("ready", status.ready.to_string()),
        ];
        if let Some(reason) = &status.reason {
            pairs.push(("reason", quote(reason)));
        }
        pairs.push(("user", status.user.clone().unwrap_or_else(|| "-".into())));
        ctx.printer.line(&pairs);
    }
    Ok(())
}
