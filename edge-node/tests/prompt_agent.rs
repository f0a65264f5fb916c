//! The prompt agent's loop against an HTTP peer that plays a model server ignoring the
//! JSON schema and always asking to run a command: the agent runs what it is asked (here,
//! on the host, as it would in its sandbox), shows the model the output, and still answers
//! within its step bound. The real model server drives the agent in
//! `features/edge/inference.feature`.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use cynode_edge::prompt_agent::{answer, AgentJob, AgentRole};

/// Answers every request with `{"action":"run","text":"echo step"}`; keeps the requests.
async fn stubborn_model() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Read the head, then the body by Content-Length.
                let (head_end, length) = loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while request.len() < head_end + length {
                    let n = conn.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                let body: Value = serde_json::from_slice(&request[head_end..]).unwrap();
                record.lock().unwrap().push(body);
                let answer = json!({"choices": [{"message": {"role": "assistant",
                    "content": "{\"action\":\"run\",\"text\":\"echo step\"}"}}]})
                .to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                conn.write_all(response.as_bytes()).await.unwrap();
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_model_that_only_asks_to_run_still_gets_an_answer_within_the_step_bound() {
    let (url, seen) = stubborn_model().await;
    let job = AgentJob {
        prompt: "What is in here?".into(),
        model: "m".into(),
        max_steps: 3,
        command_timeout_secs: 10,
        max_tokens: 16,
        role: AgentRole::Answer,
        workdir: None,
        test_command: None,
        commit_subject: None,
        base_commit: None,
        skills: vec![cynode_protocol::wire::SkillText {
            name: "house-style".into(),
            body: "Answer in one sentence.".into(),
        }],
    };
    let result = answer(&job, &url, std::path::Path::new("/nonexistent"))
        .await
        .unwrap();
    let actions: Vec<&str> = result.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["run", "run", "answer"]);
    assert_eq!(result.steps[0].exit_code, Some(0));
    assert_eq!(result.steps[0].output.as_deref(), Some("step\n"));
    assert!(
        result.answer.contains("ran out of steps (3)"),
        "{}",
        result.answer
    );

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    // The skill is part of the instructions the model gets.
    let system = requests[0]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        system.contains("## house-style\nAnswer in one sentence."),
        "{system}"
    );
    // Every request is schema-constrained; the last allows only an answer.
    let actions = |i: usize| {
        requests[i]["response_format"]["json_schema"]["schema"]["properties"]["action"]["enum"]
            .clone()
    };
    assert_eq!(actions(0), json!(["answer", "run"]));
    assert_eq!(actions(2), json!(["answer"]));
    // The model saw the command's output before its next turn.
    let last_messages = requests[1]["messages"].as_array().unwrap();
    let feedback = last_messages.last().unwrap()["content"].as_str().unwrap();
    assert!(
        feedback.contains("status 0") && feedback.contains("step"),
        "{feedback}"
    );
    // The second identical command is pointed out.
    let third = requests[2]["messages"].as_array().unwrap();
    assert!(third.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .contains("same command twice"));
}
