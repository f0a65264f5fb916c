//! Steps of `hosted_models.feature`: completions of hosted models through the egress,
//! against the stand-in provider (the real model server behind a proxy that demands a key).

use super::*;
use cynode_testkit::anthropic::AnthropicContract;
use cynode_testkit::provider::StandInProvider;

fn standin() -> &'static StandInProvider {
    StandInProvider::shared()
}

#[given("a fresh deployment whose egress may call local hosts")]
async fn fresh_with_local_egress(w: &mut GatewayWorld) {
    w.start_fresh(vec![
        ("CYNODE_EGRESS_PLAIN_HTTP_HOSTS".into(), "127.0.0.1".into()),
        // A provider that hangs is given up on quickly.
        ("CYNODE_EGRESS_TIMEOUT_SECS".into(), "3".into()),
    ])
    .await;
}

#[given(
    expr = "the stand-in provider {string} offering the test model at {float} and {float} dollars per million tokens"
)]
async fn standin_registered(w: &mut GatewayWorld, name: String, input: f64, output: f64) {
    let body = json!({"name": name, "kind": "openai", "base_url": standin().url,
        "models": [{"name": cynode_testkit::TEST_MODEL, "input_usd_per_mtok": input,
                    "output_usd_per_mtok": output}]});
    let token = w.token("root").await;
    let reply = w.api().post("/v1/providers", Some(&token), &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[given(expr = "the stand-in provider accepts the key {string}")]
async fn standin_accepts(_w: &mut GatewayWorld, key: String) {
    standin().accept(&key);
}

#[given(
    expr = "the stand-in provider answers the next {int} calls with the key {string} with {int}"
)]
async fn standin_refuses(_w: &mut GatewayWorld, times: u32, key: String, status: u16) {
    standin().refuse_next(&key, times, status);
}

#[given(expr = "the stand-in provider leaves calls with the key {string} unanswered")]
async fn standin_stalls(_w: &mut GatewayWorld, key: String) {
    standin().stall(&key);
}

#[given(expr = "the stand-in provider redirects calls with the key {string} elsewhere")]
async fn standin_redirects(_w: &mut GatewayWorld, key: String) {
    standin().redirect(&key);
}

#[then("nothing reached the place the stand-in provider redirected to")]
async fn nothing_redirected(_w: &mut GatewayWorld) {
    let followed: Vec<_> = standin()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/elsewhere"))
        .collect();
    assert!(followed.is_empty(), "{followed:?}");
}

fn question(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "max_tokens": 16,
           "messages": [{"role": "user", "content": text}]})
}

#[when(expr = "{string} asks the hosted model {string} {string}")]
async fn asks(w: &mut GatewayWorld, alias: String, model: String, text: String) {
    let token = w.token(&alias).await;
    let body = question(&model, &text, false);
    w.last = Some(
        w.api()
            .post("/v1/chat/completions", Some(&token), &body)
            .await,
    );
}

#[when(expr = "{string} streams from the hosted model {string} {string}")]
async fn streams(w: &mut GatewayWorld, alias: String, model: String, text: String) {
    let token = w.token(&alias).await;
    let url = format!("{}/v1/chat/completions", w.deployment().url);
    let response = w
        .api()
        .http
        .post(url)
        .bearer_auth(token)
        .json(&question(&model, &text, true))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    w.page = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the stream ends")
        .expect("the stream reads");
}

#[when(expr = "{string} embeds {string} with the hosted model {string}")]
async fn embeds(w: &mut GatewayWorld, alias: String, text: String, model: String) {
    let token = w.token(&alias).await;
    let body = json!({"model": model, "input": [text]});
    w.last = Some(w.api().post("/v1/embeddings", Some(&token), &body).await);
}

#[then("the answer holds one vector of numbers and counts its tokens")]
async fn one_vector(w: &mut GatewayWorld) {
    let body = &w.reply().body;
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 1, "{body}");
    let vector = data[0]["embedding"].as_array().expect("an embedding");
    assert!(
        vector.len() > 8 && vector.iter().all(Value::is_number),
        "{body}"
    );
    assert!(
        body.pointer("/usage/prompt_tokens").and_then(Value::as_u64) > Some(0),
        "{body}"
    );
}

#[then("the answer has text and usage")]
async fn answer_has_text(w: &mut GatewayWorld) {
    let body = &w.reply().body;
    let text = body
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str);
    assert!(text.is_some_and(|t| !t.is_empty()), "{body}");
    assert!(
        body.pointer("/usage/completion_tokens")
            .and_then(Value::as_u64)
            > Some(0),
        "{body}"
    );
}

#[then(expr = "the stream carries text as {string}, ends with [DONE] and holds no usage")]
async fn stream_carries(w: &mut GatewayWorld, model: String) {
    let data: Vec<&str> = w
        .page
        .split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{}", w.page);
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("a JSON chunk"))
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert!(!text.is_empty(), "{}", w.page);
    for chunk in &chunks {
        assert_eq!(chunk["model"], json!(model), "{chunk}");
        assert!(chunk.get("usage").is_none_or(Value::is_null), "{chunk}");
    }
}

#[then(
    expr = "the stand-in provider got {int} call(s) with the key {string}, the last for {string}"
)]
async fn standin_got(_w: &mut GatewayWorld, count: usize, key: String, model: String) {
    let calls = standin().requests_with(&key);
    assert_eq!(calls.len(), count, "{calls:?}");
    let last = calls.last().expect("a call");
    assert_eq!(last.path, "/v1/chat/completions");
    assert_eq!(last.body["model"], json!(model), "{:?}", last.body);
    if last.body["stream"] == json!(true) {
        // Asked so the egress can meter the stream.
        assert_eq!(last.body["stream_options"]["include_usage"], json!(true));
    }
}

#[then(expr = "the stand-in provider got no call with the key {string}")]
async fn standin_got_none(_w: &mut GatewayWorld, key: String) {
    assert!(standin().requests_with(&key).is_empty());
}

#[then(expr = "the error message says {string}")]
async fn error_message_says(w: &mut GatewayWorld, text: String) {
    let message = w.reply().body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains(&text), "{}", w.reply().body);
}

#[then(expr = "{string}'s usage of {string} today is {int} call(s) costing more than nothing")]
async fn usage_costs(w: &mut GatewayWorld, alias: String, model: String, calls: u64) {
    let token = w.token(&alias).await;
    let reply = w.api().get("/v1/usage?days=1", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let rows = reply.body["rows"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["model"] == json!(model))
        .unwrap_or_else(|| panic!("no row for {model}: {}", reply.body));
    assert_eq!(row["calls"], json!(calls), "{row}");
    assert!(row["cost_micro_usd"].as_u64() > Some(0), "{row}");
    assert!(row["prompt_tokens"].as_u64() > Some(0), "{row}");
}

#[given(
    expr = "the Anthropic contract server as provider {string} offering {string} for the key {string}"
)]
async fn anthropic_registered(w: &mut GatewayWorld, name: String, model: String, key: String) {
    let contract = AnthropicContract::start(&key).expect("the contract server starts");
    let body = json!({"name": name, "kind": "anthropic", "base_url": contract.url,
        "models": [{"name": model, "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}]});
    w.anthropic = Some(Arc::new(contract));
    let token = w.token("root").await;
    let reply = w.api().post("/v1/providers", Some(&token), &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

fn weather_question(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "weather",
            "description": "The weather in a city now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}}]})
}

#[when(expr = "{string} asks the hosted model {string} about the weather with a tool")]
async fn asks_with_tool(w: &mut GatewayWorld, alias: String, model: String) {
    let token = w.token(&alias).await;
    let body = weather_question(&model, false);
    w.last = Some(
        w.api()
            .post("/v1/chat/completions", Some(&token), &body)
            .await,
    );
}

#[when(expr = "{string} gives the tool's answer {string}")]
async fn gives_tool_answer(w: &mut GatewayWorld, alias: String, result: String) {
    let asked = w.reply().body.clone();
    let call = asked
        .pointer("/choices/0/message/tool_calls/0")
        .cloned()
        .expect("a tool call");
    let mut body = weather_question(asked["model"].as_str().unwrap(), false);
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
    let token = w.token(&alias).await;
    w.last = Some(
        w.api()
            .post("/v1/chat/completions", Some(&token), &body)
            .await,
    );
    assert_eq!(w.reply().status, 200, "{}", w.reply().body);
}

#[then(expr = "the answer calls {string} with {string}")]
async fn answer_calls(w: &mut GatewayWorld, name: String, arguments: String) {
    let call = &w.reply().body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], json!(name), "{}", w.reply().body);
    let got: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(got, serde_json::from_str::<Value>(&arguments).unwrap());
}

#[when(expr = "{string} streams from the hosted model {string} about the weather with a tool")]
async fn streams_with_tool(w: &mut GatewayWorld, alias: String, model: String) {
    let token = w.token(&alias).await;
    let url = format!("{}/v1/chat/completions", w.deployment().url);
    let response = w
        .api()
        .http
        .post(url)
        .bearer_auth(token)
        .json(&weather_question(&model, true))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    w.page = response.text().await.expect("the stream reads");
}

#[then(expr = "the streamed tool call is {string} with {string}, finishing with {string}")]
async fn streamed_tool_call(w: &mut GatewayWorld, name: String, arguments: String, finish: String) {
    let chunks: Vec<Value> = w
        .page
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("a JSON chunk"))
        .collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert_eq!(
        calls.first().map(|c| &c["function"]["name"]),
        Some(&json!(name)),
        "{}",
        w.page
    );
    let joined: String = calls
        .iter()
        .filter_map(|c| c.pointer("/function/arguments").and_then(Value::as_str))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&joined).unwrap(),
        serde_json::from_str::<Value>(&arguments).unwrap(),
        "{}",
        w.page
    );
    let finishes: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&json!(finish)], "{}", w.page);
    assert!(w.page.trim_end().ends_with("data: [DONE]"), "{}", w.page);
}

#[then(
    expr = "the Anthropic contract server got {int} requests, refused none, and saw the key {string} only as x-api-key"
)]
async fn contract_saw(w: &mut GatewayWorld, count: usize, key: String) {
    let requests = w.anthropic.as_ref().expect("a contract server").requests();
    assert_eq!(requests.len(), count, "{requests:?}");
    for request in &requests {
        assert_eq!(
            (request.status, &request.refusal),
            (200, &None),
            "{request:?}"
        );
        let with_key: Vec<&str> = request
            .headers
            .iter()
            .filter(|(_, v)| v.contains(&key))
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(with_key, ["x-api-key"], "{request:?}");
        assert!(!request.body.to_string().contains(&key));
    }
}

#[when(
    expr = "the official OpenAI Python client runs its hosted-model checks as {string} on {string}"
)]
async fn python_client(w: &mut GatewayWorld, alias: String, model: String) {
    let token = w.token(&alias).await;
    let created = w
        .api()
        .post(
            "/v1/api-keys",
            Some(&token),
            &json!({"name": "openai client", "scope": "models"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["key"].as_str().expect("the key").to_owned();
    let script = cynode_testkit::repo_root().join("features/clients/openai_hosted.py");
    let base = format!("{}/v1", w.deployment().url);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(&script)
            .arg(&model)
            .env("OPENAI_BASE_URL", base)
            .env("OPENAI_API_KEY", key)
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    w.page = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the client's checks failed:\n{}",
        w.page
    );
}

#[then(expr = "the claim runs a hosted model job of {string}")]
async fn claim_hosted(w: &mut GatewayWorld, model: String) {
    let claim = w.claims.last().expect("a claim");
    assert_eq!(claim["decision"], "run", "{claim}");
    assert_eq!(claim["spec"]["hosted"], true, "{claim}");
    assert_eq!(claim["spec"]["model"], json!(model), "{claim}");
}

/// A hosted model call of the current job, as its node relays it, signed with `claim`'s
/// job token (or with `key` instead).
async fn relay_call(w: &mut GatewayWorld, claim: &Value, model: &str, key: Option<String>) {
    let (task, job) = w.job.clone().expect("a claimed job");
    let body = json!({"task_id": task, "attempt": claim["attempt"], "lease_id": claim["lease_id"],
        "call": "chat_completions", "body": question(model, "Say hello.", false)})
    .to_string();
    let key = key.unwrap_or_else(|| claim["job_token"].as_str().expect("job token").to_owned());
    w.signed(
        Method::POST,
        &format!("/v1/jobs/{job}/inference"),
        body.as_bytes(),
        &key,
    )
    .await;
}

#[when(expr = "the test node relays a call of {string} under its claim")]
async fn relays(w: &mut GatewayWorld, model: String) {
    let claim = w.claims.last().cloned().expect("a claim");
    relay_call(w, &claim, &model, None).await;
}

#[when(expr = "the test node relays a call of {string} under attempt {int}'s claim")]
async fn relays_stale(w: &mut GatewayWorld, model: String, attempt: u64) {
    let claim = w.claim_of_attempt(attempt);
    relay_call(w, &claim, &model, None).await;
}

#[when(expr = "the test node relays a call of {string} signed with its node key")]
async fn relays_with_node_key(w: &mut GatewayWorld, model: String) {
    let claim = w.claims.last().cloned().expect("a claim");
    let key = w.node.as_ref().expect("a node").key.clone();
    relay_call(w, &claim, &model, Some(key)).await;
}

/// A Responses stream of a hosted model is asked of the provider whole: OpenAI refuses
/// `stream_options` without `stream`.
#[then(
    expr = "the last call with the key {string} asked for a whole answer, without stream options"
)]
async fn last_call_whole(_w: &mut GatewayWorld, key: String) {
    let last = standin()
        .requests_with(&key)
        .last()
        .cloned()
        .expect("a call");
    assert_eq!(last.body["stream"], json!(false), "{:?}", last.body);
    assert!(last.body.get("stream_options").is_none(), "{:?}", last.body);
}
