//! Steps that read a task's live log from the gateway while the real node runs it.

use std::time::{Duration, Instant};

use super::*;

/// Reads every chunk after `cursor`; the lines as `(stream, text)`, the next cursor and
/// the task's status as the read saw it.
async fn read_after(w: &EdgeWorld, cursor: &str) -> (Vec<(String, String)>, String, String) {
    let path = format!("/v1/tasks/{}/logs?cursor={cursor}", w.task());
    let page = api().get_ok(&path, w.token()).await;
    let lines = page["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| {
            (
                line["stream"].as_str().unwrap_or_default().to_owned(),
                line["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let next = page["next_cursor"].as_str().expect("a cursor").to_owned();
    let status = page["status"].as_str().unwrap_or_default().to_owned();
    (lines, next, status)
}

#[then(expr = "the live log shows {string} while the task is still running")]
async fn shows_while_running(w: &mut EdgeWorld, text: String) {
    let started = Instant::now();
    let mut cursor = String::new();
    loop {
        let (lines, next, status) = read_after(w, &cursor).await;
        if lines.iter().any(|(_, line)| line.contains(&text)) {
            assert!(
                status == "running" || status == "queued",
                "'{text}' arrived only with the task {status}"
            );
            eprintln!(
                "live log: '{text}' read {:.2} s after the task was created",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60) && status != "completed",
            "no '{text}' in the live log (task {status})"
        );
        cursor = next;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[then(
    expr = "the live log read from the start holds its stdout {string} once and {string} on stderr"
)]
async fn whole_log(w: &mut EdgeWorld, stdout: String, stderr: String) {
    let (mut out, mut err) = (String::new(), String::new());
    let mut cursor = String::new();
    loop {
        let (lines, next, _) = read_after(w, &cursor).await;
        if lines.is_empty() {
            break;
        }
        for (stream, text) in lines {
            if stream == "stdout" {
                out.push_str(&text);
            } else {
                err.push_str(&text);
            }
        }
        cursor = next;
    }
    assert_eq!(out, stdout.replace("\\n", "\n"));
    assert!(err.contains(&stderr), "stderr: {err}");
}
