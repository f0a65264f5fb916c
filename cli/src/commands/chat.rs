//! `cynork chat` and `cynork models list`.
//!
//! Chat talks to the gateway's OpenAI-compatible `/v1/chat/completions` with streaming on,
//! printing text as it arrives. The conversation is kept here, in the session: `/thread new`
//! starts another. Threads kept by the gateway are `/v1/chat`'s (see docs/api.md).

use std::io::{BufRead, IsTerminal, Write};

use serde_json::{json, Value};

use cynode_protocol::wire::ChatMessage;

use super::Context;
use crate::cli::ChatArgs;
use crate::client::Gateway;
use crate::error::{CliError, CliResult};

const HELP: &str = "\
/models        list the models you can talk to
/model NAME    talk to NAME from now on
/thread new    start a new conversation
/help          this help
/exit, /quit   leave (so does end of input, Ctrl-D)";

/// The models: the agent, then every model a node serves.
fn models(gateway: &mut Gateway) -> CliResult<Vec<String>> {
    let list: Value = gateway.get("/v1/models")?;
    Ok(list["data"]
        .as_array()
        .map(|data| {
            data.iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

pub fn list_models(ctx: &mut Context) -> CliResult {
    let ids = models(&mut Gateway::new(&mut ctx.config)?)?;
    if ctx.printer.json_mode() {
        ctx.printer.json(&json!({ "models": ids }));
    } else {
        for id in ids {
            ctx.printer.line(&[("model", id)]);
        }
    }
    Ok(())
}

/// What one streamed answer came to.
struct Answer {
    text: String,
    usage: Option<Value>,
}

/// Sends the conversation and prints the answer's text as it streams (unless `quiet`).
fn ask(
    gateway: &mut Gateway,
    model: &str,
    messages: &[ChatMessage],
    echo: bool,
) -> CliResult<Answer> {
    let body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let lines = gateway.post_stream("/v1/chat/completions", &body)?;
    let mut answer = Answer {
        text: String::new(),
        usage: None,
    };
    let mut stdout = std::io::stdout();
    for line in lines.lines() {
        let line = line.map_err(|err| CliError::gateway(format!("the answer broke off: {err}")))?;
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let event: Value = serde_json::from_str(data)
            .map_err(|err| CliError::internal(format!("an event was not understood: {err}")))?;
        if let Some(error) = event.get("error") {
            return Err(CliError::gateway(format!(
                "the answer failed: {}",
                error["message"].as_str().unwrap_or("unknown error")
            )));
        }
        if let Some(text) = event["choices"][0]["delta"]["content"].as_str() {
            answer.text.push_str(text);
            if echo {
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
        }
        if !event["usage"].is_null() {
            answer.usage = Some(event["usage"].clone());
        }
    }
    if echo {
        println!();
    }
    Ok(answer)
}

pub fn run(ctx: &mut Context, args: ChatArgs) -> CliResult {
    if ctx.config.token.is_none() {
        return Err(CliError::auth(
            "not logged in: run `cynork auth login` (or set CYNORK_TOKEN)",
        ));
    }
    let json_mode = ctx.printer.json_mode();
    let mut gateway = Gateway::patient(&mut ctx.config)?;
    if let Some(message) = args.message {
        let messages = [ChatMessage::text("user", message)];
        let answer = ask(&mut gateway, &args.model, &messages, !json_mode)?;
        if json_mode {
            ctx.printer.json(&json!({
                "model": args.model, "response": answer.text, "usage": answer.usage,
            }));
        }
        return Ok(());
    }

    let interactive = std::io::stdin().is_terminal() && !args.plain;
    let mut model = args.model;
    let mut messages: Vec<ChatMessage> = Vec::new();
    if interactive {
        eprintln!("chatting with {model}; /help for commands, /exit to leave");
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        if interactive {
            eprint!("you> ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        let read = input
            .read_line(&mut line)
            .map_err(|err| CliError::usage(format!("cannot read stdin: {err}")))?;
        if read == 0 {
            return Ok(()); // end of input
        }
        let line = line.trim();
        match line
            .split_once(' ')
            .map_or((line, ""), |(a, b)| (a, b.trim()))
        {
            ("", _) => continue,
            ("/exit" | "/quit", _) => return Ok(()),
            ("/help", _) => eprintln!("{HELP}"),
            ("/models", _) => {
                for id in models(&mut gateway)? {
                    println!("{id}");
                }
            }
            ("/model", "") => eprintln!("talking to {model}; /model NAME to change"),
            ("/model", name) => {
                model = name.to_owned();
                eprintln!("talking to {model}");
            }
            ("/thread", "new") => {
                messages.clear();
                eprintln!("new conversation");
            }
            (command, _) if command.starts_with('/') => {
                eprintln!("unknown command {command}; /help lists them");
            }
            _ => {
                messages.push(ChatMessage::text("user", line));
                match ask(&mut gateway, &model, &messages, true) {
                    Ok(answer) => messages.push(ChatMessage::text("assistant", answer.text)),
                    Err(err) => {
                        // The question stays unanswered; the session goes on.
                        messages.pop();
                        eprintln!("cynork: {}", err.message);
                        if err.exit_code() == 3 {
                            return Err(err);
                        }
                    }
                }
            }
        }
    }
}
