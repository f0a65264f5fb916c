//! Steps of `nodes.feature`: a node played over the real protocol (registration, signed callbacks, the queue), and the admin's view.

use super::*;

#[given("a fresh deployment")]
async fn fresh(w: &mut GatewayWorld) {
    w.start_fresh(vec![]).await;
}

#[when("a test node registers with the right pre-shared key")]
async fn registers(w: &mut GatewayWorld) {
    let psk = w.deployment().secrets.node_psk.clone();
    let reply = w.register_node(&psk).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[when(expr = "a test node registers with the pre-shared key {string}")]
async fn registers_with(w: &mut GatewayWorld, psk: String) {
    w.register_node(&psk).await;
}

#[when("the test node acknowledges its configuration")]
async fn acknowledges(w: &mut GatewayWorld) {
    let node = w.node.clone().unwrap();
    let body = json!({"config_version": node.config_version, "applied": true}).to_string();
    let reply = w
        .signed(
            Method::POST,
            "/v1/nodes/config/ack",
            body.as_bytes(),
            &node.key,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[given(expr = "the test node reports the model {string}")]
#[when(expr = "the test node reports the model {string}")]
async fn reports_model(w: &mut GatewayWorld, model: String) {
    let node = w.node.clone().unwrap();
    let body = json!({"agent_version": "test", "cpus": 1, "memory_mb": 512,
        "inference": {"endpoint": "http://127.0.0.1:11434", "reachable": true, "models": [model]}})
    .to_string();
    let reply = w
        .signed(
            Method::POST,
            "/v1/nodes/capabilities",
            body.as_bytes(),
            &node.key,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[when("the task's job message is dead-lettered")]
async fn dead_letter(w: &mut GatewayWorld) {
    w.job = None;
    let (task, job) = w.job_of_current_task().await;
    let message = json!({
        "v": 1, "task_id": task, "job_id": job, "attempt": 1, "lease_secs": 30,
        "enqueued_at": "2026-11-22T10:00:00Z"
    });
    env()
        .sqs
        .send_message()
        .queue_url(w.deployment().stack.resource("CYNODE_JOBS_DLQ_URL"))
        .message_body(message.to_string())
        .send()
        .await
        .expect("SQS send to the dead-letter queue");
}

#[when(
    regex = r"^an admin (lists the dead letters|runs the recovery sweep|redrives the dead letters)$"
)]
async fn admin_recovery(w: &mut GatewayWorld, what: String) {
    let token = env().admin_token.clone();
    let reply = match what.as_str() {
        "lists the dead letters" => w.api().get("/v1/admin/dead-letters", Some(&token)).await,
        "runs the recovery sweep" => {
            w.api()
                .post("/v1/admin/sweep", Some(&token), &json!({}))
                .await
        }
        _ => {
            w.api()
                .post("/v1/admin/dead-letters/redrive", Some(&token), &json!({}))
                .await
        }
    };
    assert_eq!(reply.status, 200, "{}", reply.body);
    w.last = Some(reply);
}

#[then("the dead letters include the task's job, queued")]
async fn dead_letters_include(w: &mut GatewayWorld) {
    let (_, job) = w.job.clone().expect("the current job");
    let letters = w.reply().body["dead_letters"]
        .as_array()
        .expect("a list")
        .clone();
    assert!(
        letters
            .iter()
            .any(|l| l["job_id"] == job.as_str() && l["job_status"] == "queued"),
        "{letters:?}"
    );
}

#[then(expr = "the task is queued again with reason {string}")]
async fn queued_with_reason(w: &mut GatewayWorld, reason: String) {
    let task = w.task().to_owned();
    let token = w.users["alice"].token.clone().expect("alice is logged in");
    let reply = w
        .api()
        .get(&format!("/v1/tasks/{task}/result"), Some(&token))
        .await;
    assert_eq!(reply.body["status"], "queued", "{}", reply.body);
    assert_eq!(
        reply.body["jobs"][0]["reason"],
        reason.as_str(),
        "{}",
        reply.body
    );
}

#[then("the task's job message is back on its queue at once")]
async fn back_on_queue(w: &mut GatewayWorld) {
    let task = w.task().to_owned();
    // The sweep's own requeue waits 30 s; the redriven message is there at once.
    for _ in 0..8 {
        let mut mailbox = MAILBOX.lock().await;
        if mailbox.remove(&task).is_some() {
            return;
        }
        receive_all(&mut mailbox, &w.deployment().stack).await;
    }
    panic!("the redriven message for {task} did not come back");
}

#[when(expr = "another machine registers the test node's name {word}")]
async fn registers_same_name(w: &mut GatewayWorld, how: String) {
    let node = w.node.clone().expect("a registered test node");
    let psk = w.deployment().secrets.node_psk.clone();
    let mut body = json!({"pre_shared_key": psk, "node_name": node.name, "capabilities": {"agent_version": "test", "cpus": 1, "memory_mb": 512}});
    match how.as_str() {
        "without-its-secret" => {}
        "with-its-secret" => body["node_secret"] = json!(node.secret),
        other => panic!("unknown way: {other}"),
    }
    w.last = Some(w.api().post("/v1/nodes/register", None, &body).await);
}

#[then("the test node's old key no longer signs")]
async fn old_key_dead(w: &mut GatewayWorld) {
    fetch_config(w, "signed with its key".into()).await;
    assert_eq!(w.reply().status, 401, "{}", w.reply().body);
    assert_eq!(w.reply().error_code(), Some("bad_signature"));
}

#[given("a registered test node")]
async fn registered_node(w: &mut GatewayWorld) {
    registers(w).await;
    acknowledges(w).await;
}

#[when(regex = r"^the test node fetches its configuration (.+)$")]
async fn fetch_config(w: &mut GatewayWorld, how: String) {
    let node = w.node.clone().unwrap();
    let path = "/v1/nodes/config";
    let url = format!("{}{path}", w.deployment().url);
    let send = |timestamp: i64, key: &str, nonce: &str| {
        let signature = signing::sign(
            key,
            &Signed {
                method: "GET",
                path,
                timestamp,
                nonce,
                body: b"",
            },
        );
        w.api()
            .http
            .get(&url)
            .header(HEADER_NODE, &node.id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce.to_owned())
            .header(HEADER_SIGNATURE, signature)
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = match how.as_str() {
        "without signing" => w.api().http.get(&url).send().await,
        "signed with the wrong key" => send(now, "0123456789", "n1").send().await,
        "signed 10 minutes ago" => send(now - 600, &node.key, "n1").send().await,
        "signed at the lowest i64 time" => send(i64::MIN, &node.key, "n1").send().await,
        "signed with its key" => send(now, &node.key, &unique_handle("n")).send().await,
        "twice with the same signature" => {
            let first = send(now, &node.key, "same-nonce")
                .send()
                .await
                .expect("first");
            assert_eq!(first.status().as_u16(), 200, "the first request is fine");
            send(now, &node.key, "same-nonce").send().await
        }
        other => panic!("unknown way: {other}"),
    };
    w.last = Some(to_reply(response.expect("gateway answers")).await);
}

#[when("the test node claims the task's job")]
async fn claims(w: &mut GatewayWorld) {
    let boot = w.node.as_ref().unwrap().boot.clone();
    w.claim(&boot).await;
}

#[when("the test node restarts and claims the task's job again")]
async fn claims_after_restart(w: &mut GatewayWorld) {
    let boot = unique_handle("boot");
    w.node.as_mut().unwrap().boot = boot.clone();
    w.claim(&boot).await;
}

#[when("the test node claims the task's job again without restarting")]
async fn claims_again(w: &mut GatewayWorld) {
    claims(w).await;
}

#[then(expr = "the claim is attempt {int}")]
async fn claim_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = w.claims.last().unwrap();
    assert_eq!(claim["decision"], "run", "{claim}");
    assert_eq!(claim["attempt"], attempt, "{claim}");
}

#[then(expr = "the claim decision is {string}")]
async fn claim_decision(w: &mut GatewayWorld, decision: String) {
    assert_eq!(w.claims.last().unwrap()["decision"], decision.as_str());
}

#[when(expr = "the test node reports the job completed with stdout {string} and stderr {string}")]
async fn reports(w: &mut GatewayWorld, stdout: String, stderr: String) {
    let claim = w
        .claims
        .iter()
        .rev()
        .find(|c| c["decision"] == "run")
        .cloned()
        .expect("a run claim");
    w.report(&claim, &unescape(&stdout), &unescape(&stderr))
        .await;
}

#[when(expr = "the test node reports attempt {int} of the job completed")]
async fn reports_attempt(w: &mut GatewayWorld, attempt: u64) {
    let claim = w.claim_of_attempt(attempt);
    w.report(&claim, "first\n", "").await;
}
