//! The built functions under the Lambda runtime API emulator (`cargo lambda watch`),
//! called the way a function URL calls them: the Lambda entry points themselves, not the
//! local gateway. One deployment on LocalStack; a real edge node and the real model
//! answer the chat, which the chat function streams back (invoke mode
//! `RESPONSE_STREAM`) while the node is still producing it.

use std::time::{Duration, Instant};

use cynode_testkit::lambda::LambdaEmulator;
use cynode_testkit::{require_model_server, Deployment, DeploymentOptions, TEST_MODEL};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_answer_through_the_lambda_runtime_api() {
    require_model_server().expect("the model server");
    let deployment = Deployment::start("lambda", DeploymentOptions::default())
        .expect("a deployment on LocalStack");
    let emulator = LambdaEmulator::start(&deployment.logs).expect("cargo lambda watch");
    // Exactly what a function gets on AWS: the stack's resource names and secret ARNs.
    let env = deployment.stack.env();
    let functions: Vec<_> = [
        "cynode-auth",
        "cynode-tasks",
        "cynode-chat",
        "cynode-sweeper",
        "cynode-console",
    ]
    .into_iter()
    .map(|name| emulator.start_function(name, &env).unwrap())
    .collect();
    let http = reqwest::Client::new();

    // The auth function: log in as the admin the bootstrap step created.
    let login: Value = http
        .post(emulator.url("cynode-auth", "/v1/auth/login"))
        .json(&json!({"handle": "admin", "password": deployment.secrets.admin_password}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .expect("login through the auth function")
        .json()
        .await
        .unwrap();
    let token = login["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();

    // Errors keep their shape and status through the runtime.
    let wrong = http
        .post(emulator.url("cynode-auth", "/v1/auth/login"))
        .json(&json!({"handle": "admin", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_credentials");

    // The tasks function: create a task and read it back.
    let created: Value = http
        .post(emulator.url("cynode-tasks", "/v1/tasks"))
        .bearer_auth(&token)
        .json(&json!({"commands": ["echo from lambda"]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .expect("creating a task through the tasks function")
        .json()
        .await
        .unwrap();
    let task = created["task_id"].as_str().expect("a task id").to_owned();
    let read: Value = http
        .get(emulator.url("cynode-tasks", &format!("/v1/tasks/{task}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["task_id"], task);

    // The sweeper: one scheduled event, one sweep report.
    let report: Value = http
        .post(emulator.invoke_url("cynode-sweeper"))
        .json(&json!({"source": "aws.events", "detail-type": "Scheduled Event"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(report.get("requeued").is_some(), "a sweep report: {report}");

    // The console function: the web console's page, from the binary itself, with its
    // policy; the streams' origin it names is the deployment's (none here: one origin).
    let page = http
        .get(emulator.url("cynode-console", "/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("connect-src 'self';"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<meta name="cynode-stream-url" content="">"#),
        "{html}"
    );

    // The chat function streams a real model's answer, token by token, from a real node.
    let edge = deployment.start_edge("edge-lambda", None).unwrap();
    let started = Instant::now();
    let mut response = http
        .post(emulator.url("cynode-chat", "/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({
            "model": TEST_MODEL,
            "stream": true,
            "max_tokens": 48,
            "messages": [{"role": "user", "content": "Count from one to twenty in words."}]
        }))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        arrivals.push(started.elapsed());
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let content: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert!(!content.trim().is_empty(), "no content in {text}");
    // Streamed, not buffered: the body came in several pieces over time.
    assert!(arrivals.len() >= 3, "{} pieces: {text}", arrivals.len());
    let spread = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        spread > Duration::from_millis(50),
        "every piece arrived at once ({spread:?}): the response was buffered"
    );
    eprintln!(
        "streamed {} pieces over {spread:?} ({} content characters)",
        arrivals.len(),
        content.len()
    );

    // No secret value in any function's or the node's environment, nor in any log; and
    // the node holds no AWS keys at all (only the gateway's short-lived ones, in memory).
    let secrets = &deployment.secrets;
    let values = [
        &secrets.jwt_secret,
        &secrets.node_key_secret,
        &secrets.node_psk,
        &secrets.admin_password,
    ];
    for (name, pid, node) in functions
        .iter()
        .map(|f| (f.name.as_str(), f.pid(), false))
        .chain([(edge.name.as_str(), edge.pid(), true)])
    {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(environ.contains("AWS_"), "{name}: not its environment");
        for (i, value) in values.iter().enumerate() {
            // The node is given its pre-shared key (index 2): that one it must have.
            if node && i == 2 {
                continue;
            }
            assert!(
                !environ.contains(value.as_str()),
                "{name} has secret {i} in its environment"
            );
        }
        if node {
            assert!(
                !environ.contains("AWS_ACCESS_KEY_ID"),
                "the node has AWS keys"
            );
            assert!(
                !environ.contains("AWS_SECRET_ACCESS_KEY"),
                "the node has AWS keys"
            );
        }
    }
    let mut logs = 0;
    for entry in std::fs::read_dir(&deployment.logs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for value in values {
                assert!(
                    !text.contains(value.as_str()),
                    "a secret in {}",
                    path.display()
                );
            }
            logs += 1;
        }
    }
    assert!(logs >= 6, "only {logs} logs looked at");
}
