//! Edge nodes' queue credentials, end to end on LocalStack: registration issues a node
//! short-lived STS credentials (the gateway assumes the node queue role with a session
//! policy), and they allow receiving, extending and deleting on the queues that node
//! serves and nothing else: no other queue, no send, no table. LocalStack's community
//! edition does not enforce IAM; `localstack/extension` evaluates session credentials'
//! policies (role and session policy, with moto's policy engine, presigned URLs included)
//! so this can be shown. A disabled node gets no fresh credentials; a revoked one nothing.

use aws_sdk_dynamodb::types::AttributeValue;
use cynode_domain::signing::{
    new_nonce, sign, Signed, HEADER_NODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use cynode_domain::ErrorCode;
use cynode_testkit::{Deployment, DeploymentOptions};
use serde_json::{json, Value};

fn sdk_config(credentials: &Value) -> aws_config::SdkConfig {
    let creds = aws_sdk_sqs::config::Credentials::new(
        credentials["access_key_id"].as_str().unwrap(),
        credentials["secret_access_key"].as_str().unwrap(),
        credentials["session_token"].as_str().map(str::to_owned),
        None,
        "gateway",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(cynode_testkit::endpoint())
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(creds))
        .build()
}

fn denied<E: std::fmt::Debug>(result: Result<impl std::fmt::Debug, E>) -> bool {
    match result {
        Ok(_) => false,
        Err(err) => format!("{err:?}").contains("AccessDenied"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_credentials_reach_only_its_own_queues() {
    let deployment =
        Deployment::start("node-credentials", DeploymentOptions::default()).expect("deployment");
    let http = reqwest::Client::new();
    let register = |inference: bool| {
        let mut capabilities = json!({"agent_version": "test", "cpus": 1, "memory_mb": 512});
        if inference {
            capabilities["inference"] =
                json!({"endpoint": "http://127.0.0.1:1", "reachable": true, "models": ["m"]});
        }
        http.post(format!("{}/v1/nodes/register", deployment.url))
            .json(&json!({
                "pre_shared_key": deployment.secrets.node_psk,
                "node_name": if inference { "gpu-box" } else { "cpu-box" },
                "capabilities": capabilities,
            }))
            .send()
    };
    let cpu: Value = register(false).await.unwrap().json().await.unwrap();
    let gpu: Value = register(true).await.unwrap().json().await.unwrap();
    let queue = |name: &str| deployment.stack.resource(name);
    let (jobs, inference, dlq) = (
        queue("CYNODE_JOBS_QUEUE_URL"),
        queue("CYNODE_INFERENCE_QUEUE_URL"),
        queue("CYNODE_JOBS_DLQ_URL"),
    );

    let issued = &cpu["credentials"];
    assert!(
        issued["access_key_id"].is_string(),
        "registration issued no credentials: {cpu}"
    );
    let expires = time::OffsetDateTime::parse(
        issued["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lifetime = expires - time::OffsetDateTime::now_utc();
    assert!(
        lifetime > time::Duration::minutes(10) && lifetime <= time::Duration::hours(1),
        "credentials live {lifetime}"
    );

    let sqs = aws_sdk_sqs::Client::new(&sdk_config(issued));
    let receive = |url: &str| {
        sqs.receive_message()
            .queue_url(url)
            .wait_time_seconds(0)
            .send()
    };
    receive(&jobs).await.expect("receiving from the jobs queue");
    assert!(
        denied(receive(&inference).await),
        "a node without a model reads the inference queue"
    );
    assert!(
        denied(receive(&dlq).await),
        "a node reads the dead-letter queue"
    );
    assert!(denied(
        sqs.send_message()
            .queue_url(&jobs)
            .message_body("x")
            .send()
            .await
    ));
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(issued));
    for table in ["users", "sessions", "tasks", "nodes", "credentials"] {
        let name = format!("{}-{table}", deployment.stack.prefix);
        let read = dynamodb
            .get_item()
            .table_name(&name)
            .key("pk", AttributeValue::S("x".into()))
            .key("sk", AttributeValue::S("x".into()))
            .send()
            .await;
        assert!(denied(read), "a node reads the {table} table");
    }

    // Nor with a URL it presigns itself: the policy holds for query-string signatures.
    let bucket = deployment.stack.resource("CYNODE_BLOB_BUCKET");
    let ours = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config(&json!({
            "access_key_id": "test", "secret_access_key": "test"})))
        .force_path_style(true)
        .build(),
    );
    ours.put_object()
        .bucket(&bucket)
        .key("results/secret.txt")
        .body(b"another user's output".to_vec().into())
        .send()
        .await
        .expect("the deployment writes its bucket");
    let node_s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config(issued))
            .force_path_style(true)
            .build(),
    );
    let presigned = node_s3
        .get_object()
        .bucket(&bucket)
        .key("results/secret.txt")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                60,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let fetched = http.get(presigned.uri()).send().await.unwrap();
    let status = fetched.status().as_u16();
    let body = fetched.text().await.unwrap();
    assert_eq!(
        status, 403,
        "a node read the bucket through a presigned URL: {body}"
    );
    assert!(body.contains("AccessDenied"), "{body}");

    // A node that serves a model gets the inference queue too, and still nothing else.
    let gpu_sqs = aws_sdk_sqs::Client::new(&sdk_config(&gpu["credentials"]));
    for url in [&jobs, &inference] {
        gpu_sqs
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receiving from a queue the node serves");
    }
    assert!(denied(
        gpu_sqs.receive_message().queue_url(&dlq).send().await
    ));

    // Renewal: a signed request for fresh credentials.
    let path = "/v1/nodes/credentials";
    let renew = || {
        let (timestamp, nonce) = (
            time::OffsetDateTime::now_utc().unix_timestamp(),
            new_nonce(),
        );
        let signature = sign(
            cpu["node_key"].as_str().unwrap(),
            &Signed {
                method: "POST",
                path,
                timestamp,
                nonce: &nonce,
                body: b"",
            },
        );
        http.post(format!("{}{path}", deployment.url))
            .header(HEADER_NODE, cpu["node_id"].as_str().unwrap())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce)
            .header(HEADER_SIGNATURE, signature)
            .send()
    };
    let renewed = renew().await.unwrap();
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    assert_ne!(renewed["access_key_id"], issued["access_key_id"]);
    let renewed_sqs = aws_sdk_sqs::Client::new(&sdk_config(&renewed));
    renewed_sqs
        .receive_message()
        .queue_url(&jobs)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("the renewed credentials work");
    assert!(denied(
        renewed_sqs.receive_message().queue_url(&dlq).send().await
    ));
    // Unsigned, it is refused.
    let unsigned = http
        .post(format!("{}{path}", deployment.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    // A disabled node finishes its jobs on what it has: no fresh credentials. A revoked
    // node is refused everything at once.
    let admin = deployment.admin_token().await;
    for (action, status, code) in [
        ("disable", 403, ErrorCode::NodeDisabled),
        ("revoke", 401, ErrorCode::NodeRevoked),
    ] {
        let changed = http
            .post(format!(
                "{}/v1/admin/nodes/cpu-box/{action}",
                deployment.url
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200, "{action}");
        let refused = renew().await.unwrap();
        assert_eq!(refused.status(), status, "{action}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], code.as_str(), "{body}");
    }
    deployment.shutdown();
}
