//! Steps of `chat.feature`: chat, threads and the OpenAI-compatible completions.

use super::*;

#[when(expr = "{string} starts a streamed completion with the model {string}")]
async fn starts_stream(w: &mut GatewayWorld, alias: String, model: String) {
    let body = json!({"model": model, "stream": true,
        "messages": [{"role": "user", "content": "Say hello."}]});
    start_stream(w, &alias, "/v1/chat/completions", body).await;
}

#[when(expr = "{string} starts a streamed response with the model {string}")]
async fn starts_response_stream(w: &mut GatewayWorld, alias: String, model: String) {
    let body = json!({"model": model, "stream": true, "input": "Say hello."});
    start_stream(w, &alias, "/v1/responses", body).await;
}

#[when(expr = "{string} sends the chat message {string} to the model {string}, streamed")]
async fn sends_chat_streamed(w: &mut GatewayWorld, alias: String, message: String, model: String) {
    let body = json!({"message": message, "model": model, "stream": true});
    start_stream(w, &alias, "/v1/chat", body).await;
}

#[then(
    expr = "the chat stream names its thread first, carries {string} in {int} deltas, then done"
)]
async fn chat_stream_carries(w: &mut GatewayWorld, text: String, deltas: usize) {
    let reading = w.stream.take().expect("a stream");
    let body = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the stream ends")
        .unwrap();
    let events: Vec<(String, Value)> = body
        .split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .to_owned()
            };
            let data = serde_json::from_str(&field("data: ")).expect("a JSON event");
            (field("event: "), data)
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    let mut expected = vec!["thread"];
    expected.extend(std::iter::repeat_n("delta", deltas));
    expected.push("done");
    assert_eq!(names, expected, "{body}");
    let texts: String = events
        .iter()
        .filter_map(|(_, data)| data["text"].as_str())
        .collect();
    assert_eq!(texts, text, "{body}");
    let (thread, done) = (&events[0].1, &events[events.len() - 1].1);
    assert_eq!(done["response"], json!(text), "{body}");
    assert_eq!(done["thread_id"], thread["thread_id"], "{body}");
    assert_eq!(done["task_id"], thread["task_id"], "{body}");
    w.thread = done["thread_id"].as_str().map(str::to_owned);
}

#[then(expr = "{string}'s thread holds {string} and the answer {string}")]
async fn thread_holds(w: &mut GatewayWorld, alias: String, question: String, answer: String) {
    let thread = w.thread.clone().expect("a thread");
    let token = w.token(&alias).await;
    let view = w
        .api()
        .get_ok(&format!("/v1/chat/threads/{thread}"), &token)
        .await;
    let messages: Vec<(Value, Value)> = view["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["role"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        messages,
        vec![
            (json!("user"), json!(question)),
            (json!("assistant"), json!(answer))
        ],
        "{view}"
    );
}

async fn start_stream(w: &mut GatewayWorld, alias: &str, path: &str, body: Value) {
    let token = w.token(alias).await;
    let url = format!("{}{path}", w.deployment().url);
    let response = w
        .api()
        .http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let task = response.headers()["x-cynode-task-id"]
        .to_str()
        .unwrap()
        .to_owned();
    w.tasks.push(task);
    let reading = tokio::spawn(async move {
        (response.text().await).unwrap_or_else(|err| format!("(the stream broke off: {err})"))
    });
    w.stream = Some(reading);
}

async fn send_chunk(w: &mut GatewayWorld, claim: &Value, seq: u32, text: &str) -> Reply {
    send_chunk_ending(w, claim, seq, text, None).await
}

/// A chunk callback; with `end`, the chunk also says how the answer ended.
async fn send_chunk_ending(
    w: &mut GatewayWorld,
    claim: &Value,
    seq: u32,
    text: &str,
    end: Option<Value>,
) -> Reply {
    let (task, job) = w.job.clone().expect("a claimed job");
    let mut body = json!({"task_id": task, "attempt": claim["attempt"],
        "lease_id": claim["lease_id"], "seq": seq, "text": text});
    if let Some(end) = end {
        body["end"] = end;
    }
    let body = body.to_string();
    let token = claim["job_token"].as_str().expect("job token").to_owned();
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/chunks"),
        body.as_bytes(),
        &token,
    )
    .await
}

#[when(expr = "the test node streams the chunks {string}, {string} and {string}")]
async fn streams_chunks(w: &mut GatewayWorld, a: String, b: String, c: String) {
    let claim = w.claims.last().cloned().expect("a claim");
    for (seq, text) in [a, b, c].iter().enumerate() {
        let reply = send_chunk(w, &claim, seq as u32, text).await;
        assert_eq!(reply.status, 204, "{}", reply.body);
        // Give the reader a chance to relay each chunk on its own.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[when(expr = "the test node sends the chunk {string} again as chunk {int}")]
async fn chunk_again(w: &mut GatewayWorld, text: String, seq: u32) {
    let claim = w.claims.last().cloned().expect("a claim");
    let reply = send_chunk(w, &claim, seq, &text).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

/// The current claim (lease and token) writing under another attempt's number.
fn current_claim_as_attempt(w: &GatewayWorld, attempt: u64) -> Value {
    let mut claim = w.claims.last().cloned().expect("a claim");
    claim["attempt"] = json!(attempt);
    claim
}

#[when(expr = "the test node streams a chunk naming attempt {int} under its current claim")]
async fn chunk_naming_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = current_claim_as_attempt(w, attempt);
    send_chunk(w, &claim, 7, "overwrite").await;
}

#[when(
    expr = "the test node asks to upload raw output naming attempt {int} under its current claim"
)]
async fn upload_naming_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = current_claim_as_attempt(w, attempt);
    let (task, job) = w.job.clone().expect("a claimed job");
    let body = json!({"task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"],
        "stream": "stdout", "size": 5})
    .to_string();
    let token = claim["job_token"].as_str().expect("job token").to_owned();
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/output"),
        body.as_bytes(),
        &token,
    )
    .await;
}

#[when(expr = "the test node streams a chunk under attempt {int}")]
async fn chunk_of_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = w.claim_of_attempt(attempt);
    send_chunk(w, &claim, 0, "stale").await;
}

/// The whole body of the scenario's stream, and its `data:` events before `[DONE]`
/// (which must end it), parsed.
async fn sse_events(w: &mut GatewayWorld) -> (String, Vec<Value>) {
    let reading = w.stream.take().expect("a stream");
    let body = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the stream ends")
        .unwrap();
    let events: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{body}");
    let parsed: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("a JSON event"))
        .collect();
    (body, parsed)
}

#[then(
    expr = "the stream carries {string} in {int} deltas, then the finish reason {string} and [DONE]"
)]
async fn stream_carries(w: &mut GatewayWorld, text: String, deltas: usize, finish: String) {
    check_stream(w, &text, deltas, &finish).await;
}

#[then(
    expr = "the stream carries {string} in {int} deltas, then the finish reason {string}, usage of {int} prompt and {int} completion tokens, and [DONE]"
)]
async fn stream_carries_usage(
    w: &mut GatewayWorld,
    text: String,
    deltas: usize,
    finish: String,
    prompt: u64,
    completion: u64,
) {
    let parsed = check_stream(w, &text, deltas, &finish).await;
    let usage = parsed
        .iter()
        .find_map(|e| e.get("usage").filter(|u| !u.is_null()))
        .unwrap_or_else(|| panic!("no usage in {parsed:?}"));
    assert_eq!(usage["prompt_tokens"], prompt, "{usage}");
    assert_eq!(usage["completion_tokens"], completion, "{usage}");
}

#[when(expr = "{string} starts a streamed completion with the model {string}, with usage")]
async fn starts_stream_with_usage(w: &mut GatewayWorld, alias: String, model: String) {
    let body = json!({"model": model, "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Say hello."}]});
    start_stream(w, &alias, "/v1/chat/completions", body).await;
}

/// The test node's chunk `seq` with no text, saying the answer ended with `finish`.
async fn send_end(w: &mut GatewayWorld, seq: u32, finish: &str, tokens: (u64, u64)) -> Reply {
    let claim = w.claims.last().cloned().expect("a claim");
    let end = json!({"finish_reason": finish,
        "usage": {"calls": 1, "prompt_tokens": tokens.0, "completion_tokens": tokens.1}});
    send_chunk_ending(w, &claim, seq, "", Some(end)).await
}

#[when(
    expr = "the test node ends the answer with the finish reason {string} after {int} prompt and {int} completion tokens"
)]
async fn ends_answer(w: &mut GatewayWorld, finish: String, prompt: u64, completion: u64) {
    let reply = send_end(w, 3, &finish, (prompt, completion)).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[then(expr = "a chunk ending the answer with the finish reason {string} is refused with {int}")]
async fn end_refused(w: &mut GatewayWorld, finish: String, status: u16) {
    let reply = send_end(w, 4, &finish, (1, 1)).await;
    assert_eq!(reply.status, status, "{}", reply.body);
}

/// Checks the stream's text deltas and finish reason; its events.
async fn check_stream(w: &mut GatewayWorld, text: &str, deltas: usize, finish: &str) -> Vec<Value> {
    let (body, parsed) = sse_events(w).await;
    let texts: Vec<&str> = parsed
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(texts.concat(), text, "{body}");
    assert_eq!(texts.len(), deltas, "{body}");
    assert_eq!(
        parsed[0]["choices"][0]["delta"]["role"], "assistant",
        "{body}"
    );
    assert!(
        parsed
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == finish),
        "{body}"
    );
    assert!(
        parsed
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk"),
        "{body}"
    );
    parsed
}

#[then(
    expr = "the Responses stream carries {string} in {int} deltas between created and completed, with usage"
)]
async fn response_stream_carries(w: &mut GatewayWorld, text: String, deltas: usize) {
    let reading = w.stream.take().expect("a stream");
    let body = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the stream ends")
        .unwrap();
    let events: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|e| serde_json::from_str(e).expect("a JSON event"))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"response.created"), "{body}");
    assert_eq!(kinds.last(), Some(&"response.completed"), "{body}");
    let texts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(
        (texts.concat(), texts.len()),
        (text.clone(), deltas),
        "{body}"
    );
    let numbers: Vec<u64> = events
        .iter()
        .filter_map(|e| e["sequence_number"].as_u64())
        .collect();
    assert_eq!(
        numbers,
        (0..events.len() as u64).collect::<Vec<_>>(),
        "{body}"
    );
    let completed = &events.last().unwrap()["response"];
    assert_eq!(
        completed["output"][0]["content"][0]["text"],
        text.as_str(),
        "{body}"
    );
    assert_eq!(completed["status"], "completed", "{body}");
    assert!(completed["usage"]["total_tokens"].is_u64(), "{body}");
    // Each event also names its type on the `event:` line, as OpenAI's do.
    assert!(
        body.contains("event: response.output_text.delta\n"),
        "{body}"
    );
}

#[then(expr = "the model list holds {string} and {string}")]
async fn model_list(w: &mut GatewayWorld, a: String, b: String) {
    let ids: Vec<&str> = w.reply().body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&a.as_str()) && ids.contains(&b.as_str()),
        "{ids:?}"
    );
}

#[then(expr = "the OpenAI error has type {string} and code {string}")]
async fn openai_error(w: &mut GatewayWorld, kind: String, code: String) {
    let error = &w.reply().body["error"];
    assert_eq!(error["type"], kind.as_str(), "{}", w.reply().body);
    assert_eq!(error["code"], code.as_str(), "{}", w.reply().body);
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error.get("param").is_some(), "{}", w.reply().body);
}

#[then(expr = "the OpenAI error names the param {string}")]
async fn openai_error_param(w: &mut GatewayWorld, param: String) {
    assert_eq!(
        w.reply().body["error"]["param"],
        param.as_str(),
        "{}",
        w.reply().body
    );
}

#[then(expr = "the Ollama error says {string}")]
async fn ollama_error(w: &mut GatewayWorld, words: String) {
    let body = &w.reply().body;
    let message = body["error"].as_str().unwrap_or_default();
    assert!(message.contains(&words), "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
}

#[when("the test node sends a heartbeat")]
async fn heartbeat(w: &mut GatewayWorld) {
    let claim = w.claims.last().cloned().unwrap();
    let (task, job) = w.job.clone().unwrap();
    let body = json!({"task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"]})
        .to_string();
    let token = claim["job_token"].as_str().unwrap().to_owned();
    let reply = w
        .signed(
            Method::POST,
            &format!("/v1/jobs/{job}/heartbeat"),
            body.as_bytes(),
            &token,
        )
        .await;
    assert!(reply.status < 300, "{}", reply.body);
}

#[when(expr = "the test node posts a result of {int} bytes")]
async fn posts_big_result(w: &mut GatewayWorld, size: usize) {
    let claim = w.claims.last().cloned().unwrap();
    let (_, job) = w.job.clone().unwrap();
    let token = claim["job_token"].as_str().unwrap().to_owned();
    let body = vec![b' '; size];
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/result"),
        &body,
        &token,
    )
    .await;
}

#[then(expr = "the claim offers the attachment {string} with content {string}")]
async fn claim_offers(w: &mut GatewayWorld, name: String, content: String) {
    let claim = w.claims.last().unwrap().clone();
    let attachment = &claim["spec"]["attachments"][0];
    assert_eq!(attachment["name"].as_str(), Some(name.as_str()), "{claim}");
    let url = attachment["url"].as_str().unwrap();
    let body = w
        .api()
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, unescape(&content));
}

#[when(expr = "{string} starts a streamed legacy completion of {string} with the model {string}")]
async fn starts_text_stream(w: &mut GatewayWorld, alias: String, prompt: String, model: String) {
    let body = json!({"model": model, "stream": true, "prompt": prompt, "max_tokens": 8,
        "stream_options": {"include_usage": true}});
    start_stream(w, &alias, "/v1/completions", body).await;
}

#[then(expr = "the claim asks for a legacy completion of {string} in at most {int} tokens")]
async fn claim_is_text_completion(w: &mut GatewayWorld, prompt: String, max_tokens: u64) {
    let spec = &w.claims.last().expect("a claim")["spec"];
    assert_eq!(
        spec["direct"],
        json!({"route": "completions", "prompt": prompt}),
        "{spec}"
    );
    assert_eq!(spec["max_tokens"], max_tokens, "{spec}");
    assert!(spec.get("messages").is_none(), "{spec}");
}

#[then(
    expr = "the text completion stream carries {string} in {int} chunks, then the finish reason {string}, usage and [DONE]"
)]
async fn text_stream_carries(w: &mut GatewayWorld, text: String, chunks: usize, finish: String) {
    let (body, parsed) = sse_events(w).await;
    assert!(
        parsed.iter().all(|e| e["object"] == "text_completion"),
        "{body}"
    );
    let texts: Vec<&str> = parsed
        .iter()
        .filter_map(|e| e["choices"][0]["text"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!((texts.concat(), texts.len()), (text, chunks), "{body}");
    let ends: Vec<&Value> = parsed
        .iter()
        .filter(|e| !e["choices"][0]["finish_reason"].is_null())
        .collect();
    assert_eq!(ends.len(), 1, "{body}");
    assert_eq!(ends[0]["choices"][0]["finish_reason"], finish.as_str());
    let last = parsed.last().expect("events");
    assert!(
        last["choices"] == json!([]) && last["usage"]["total_tokens"].is_u64(),
        "{body}"
    );
}

#[when(
    expr = "{string} asks for the {string} embeddings of {string} and {string} with the model {string}"
)]
async fn asks_embeddings(
    w: &mut GatewayWorld,
    alias: String,
    encoding: String,
    a: String,
    b: String,
    model: String,
) {
    let token = w.token(&alias).await;
    let before = w.api().get("/v1/tasks", Some(&token)).await;
    let known: Vec<Value> = before.body["tasks"].as_array().cloned().unwrap_or_default();
    let url = format!("{}/v1/embeddings", w.deployment().url);
    let request = w
        .api()
        .http
        .post(url)
        .bearer_auth(&token)
        .json(&json!({"model": model, "input": [a, b], "encoding_format": encoding}));
    w.stream = Some(tokio::spawn(async move {
        match request.send().await {
            Ok(response) => format!(
                "{} {}",
                response.status().as_u16(),
                response.text().await.unwrap_or_default()
            ),
            Err(err) => format!("(no answer: {err})"),
        }
    }));
    // The request waits for its answer: its task is the user's newest one.
    for _ in 0..100 {
        let listed = w.api().get("/v1/tasks", Some(&token)).await;
        let newest = listed.body["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| !known.contains(t)))
            .and_then(|t| t["task_id"].as_str().map(str::to_owned));
        if let Some(task) = newest {
            w.tasks.push(task);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no embeddings task appeared");
}

#[then(expr = "the claim asks for the embeddings of {string} and {string}")]
async fn claim_is_embeddings(w: &mut GatewayWorld, a: String, b: String) {
    let spec = &w.claims.last().expect("a claim")["spec"];
    assert_eq!(
        spec["direct"],
        json!({"route": "embeddings", "input": [a, b]}),
        "{spec}"
    );
}

fn packed(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[when("the test node reports the vectors [0.5, -1.5] and [0.25, 3.0]")]
async fn reports_vectors(w: &mut GatewayWorld) {
    let claim = w.claims.last().cloned().expect("a claim");
    let stdout = json!({"embeddings": [packed(&[0.5, -1.5]), packed(&[0.25, 3.0])]}).to_string();
    let reply = w
        .report_fields(
            &claim,
            json!({"stdout": stdout, "usage": {"calls": 1, "prompt_tokens": 4, "completion_tokens": 0}}),
        )
        .await;
    assert!(reply.status < 300, "{}", reply.body);
}

#[then(expr = "the embeddings answer holds the vectors [0.5, -1.5] and [0.25, 3.0] as {string}")]
async fn embeddings_answer(w: &mut GatewayWorld, encoding: String) {
    let reading = w.stream.take().expect("a request");
    let answer = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the request ends")
        .unwrap();
    let (status, body) = answer.split_once(' ').expect("status and body");
    assert_eq!(status, "200", "{body}");
    let body: Value = serde_json::from_str(body).expect("JSON");
    let vectors: Vec<&Value> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| &item["embedding"])
        .collect();
    let expected = match encoding.as_str() {
        "float" => vec![json!([0.5, -1.5]), json!([0.25, 3.0])],
        _ => vec![json!(packed(&[0.5, -1.5])), json!(packed(&[0.25, 3.0]))],
    };
    assert_eq!(vectors, expected.iter().collect::<Vec<_>>(), "{body}");
    assert_eq!(body["object"], "list", "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], 4, "{body}");
}
