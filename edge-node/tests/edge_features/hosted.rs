//! Steps of `hosted.feature`: jobs whose model is hosted, on real nodes, their calls
//! relayed through the gateway's egress to the stand-in provider.

use super::*;
use cynode_testkit::provider::StandInProvider;

fn standin() -> &'static StandInProvider {
    StandInProvider::shared()
}

/// How many of the stand-in's calls came before this scenario's (its key is shared).
static EARLIER_CALLS: Mutex<usize> = Mutex::new(0);

#[given(expr = "{string} has the key {string} attached to the stand-in provider {string}")]
async fn key_attached(w: &mut EdgeWorld, _alias: String, key: String, provider: String) {
    // Registered once per deployment (an admin's act); later scenarios find it there.
    standin()
        .register(&api(), &env().admin_token, &provider)
        .await;
    standin()
        .attach_key(&api(), w.token(), &provider, ("standin-key", &key), false)
        .await;
    *EARLIER_CALLS.lock().unwrap() = standin().requests_with(&key).len();
}

#[given("the only node running is a node without models")]
async fn only_plain_node(w: &mut EdgeWorld) {
    // Stopped with SIGTERM (it has no jobs), then the node without models started.
    let main = env().edge.lock().expect("lock").take();
    tokio::task::spawn_blocking(move || drop(main))
        .await
        .unwrap();
    super::running::plain_node(w).await;
}

#[given(expr = "{string} prefers {string} to be {string}")]
async fn prefers_text(w: &mut EdgeWorld, _alias: String, key: String, value: String) {
    super::running::set_preference(w, &key, json!(value)).await;
}

#[then(expr = "its routing is {string} because {string}")]
async fn routing_is(w: &mut EdgeWorld, via: String, reason: String) {
    let view = api()
        .get_ok(&format!("/v1/tasks/{}", w.task()), w.token())
        .await;
    assert_eq!(view["routing"]["via"], json!(via), "{view}");
    let said = view["routing"]["reason"].as_str().unwrap_or_default();
    assert!(said.contains(&reason), "{view}");
}

#[then("the node without models ran it")]
async fn plain_ran_it(w: &mut EdgeWorld) {
    let log = {
        let plain = env().plain_edge.lock().expect("lock");
        plain.as_ref().expect("the node without models").output()
    };
    assert!(log.contains(w.task()), "{log}");
    assert!(
        !log.contains("model jobs"),
        "it polls the inference queue: {log}"
    );
}

/// The stand-in's calls with `key` in this scenario.
fn calls_with(key: &str) -> Vec<cynode_testkit::provider::ProviderRequest> {
    let earlier = *EARLIER_CALLS.lock().unwrap();
    standin()
        .requests_with(key)
        .into_iter()
        .skip(earlier)
        .collect()
}

#[then(expr = "the stand-in provider answered the agent's calls with the key {string}")]
async fn provider_answered(_w: &mut EdgeWorld, key: String) {
    let calls = calls_with(&key);
    assert!(
        !calls.is_empty(),
        "no call reached the stand-in with the key"
    );
    assert!(
        calls
            .iter()
            .all(|c| c.status == 200 && c.body["model"] == cynode_testkit::TEST_MODEL),
        "{calls:?}"
    );
}

#[then("the stand-in provider got no call for the task")]
async fn provider_unused(_w: &mut EdgeWorld) {
    let calls = calls_with("sk-standin-edge-5e1f");
    assert!(calls.is_empty(), "{calls:?}");
}

#[then("the audit trail has the task's hosted model calls as \"alice\", without the key")]
async fn audited(w: &mut EdgeWorld) {
    let trail = api()
        .get_ok("/v1/audit?action=egress.call&limit=200", &env().admin_token)
        .await;
    let calls: Vec<&Value> = trail["events"]
        .as_array()
        .expect("an audit list")
        .iter()
        .filter(|event| event["task_id"] == w.task())
        .collect();
    assert!(!calls.is_empty(), "{trail}");
    for event in calls {
        assert_eq!(event["outcome"], "success", "{event}");
        let actor = event["actor"].as_str().unwrap_or_default();
        assert!(actor.starts_with("user:alice"), "{event}");
        assert_eq!(event["subject"], "standin/smollm2:135m", "{event}");
    }
    assert!(!trail.to_string().contains("sk-standin-edge-5e1f"));
}

#[then(expr = "{string}'s usage shows the task's calls of {string} with their cost")]
async fn usage_costs(w: &mut EdgeWorld, _alias: String, model: String) {
    let usage = api().get_ok("/v1/usage?days=1", w.token()).await;
    let rows = usage["rows"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["model"] == json!(model))
        .unwrap_or_else(|| panic!("no row for {model}: {usage}"));
    assert!(row["calls"].as_u64() >= Some(1), "{row}");
    assert!(row["cost_micro_usd"].as_u64() > Some(0), "{row}");
    // Counted once: by the egress, not again under the agent's name from the result.
    assert!(!rows.iter().any(|r| r["model"] == "cynodeai.pm"), "{usage}");
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut found = vec![];
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => found.extend(files_holding(&path, needle)),
            Ok(kind) if kind.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path);
                }
            }
            _ => {}
        }
    }
    found
}

#[then(expr = "no node's log or state directory, nor the gateway's log, contains the key {string}")]
async fn nodes_lack_key(_w: &mut EdgeWorld, key: String) {
    logs_lack_key(&key);
    // The nodes' state directories (spooled results, registration, scratch space) sit
    // beside their logs.
    let logs = &env().deployment.logs;
    let states: Vec<_> = std::fs::read_dir(logs)
        .expect("the deployment's directory")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir() && path.to_string_lossy().ends_with("-state"))
        .collect();
    assert!(
        !states.is_empty(),
        "no node state directory in {}",
        logs.display()
    );
    // Nor does the gateway log it, which opens it for each call.
    let gateway = std::fs::read_to_string(logs.join("gateway.log")).expect("the gateway's log");
    assert!(gateway.contains("/inference"), "the log is the gateway's");
    assert!(!gateway.contains(&key));
    for state in states {
        let holding = files_holding(&state, key.as_bytes());
        assert!(holding.is_empty(), "{holding:?}");
    }
}

fn logs_lack_key(key: &str) {
    let plain = env()
        .plain_edge
        .lock()
        .expect("lock")
        .as_ref()
        .map(Service::output)
        .unwrap_or_default();
    let main = edge_log();
    assert!(!main.is_empty() || !plain.is_empty(), "no node logged");
    assert!(!main.contains(key) && !plain.contains(key));
}

#[when(
    expr = "{string} asks cynodeai.pm {string} through the OpenAI API, answered by calls with the key {string}"
)]
async fn agent_chat(w: &mut EdgeWorld, _alias: String, question: String, key: String) {
    let before = standin().requests_with(&key).len();
    let body = json!({"model": "cynodeai.pm",
        "messages": [{"role": "user", "content": question}]});
    let reply = api()
        .post("/v1/chat/completions", Some(w.token()), &body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let text = reply.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!text.trim().is_empty(), "{}", reply.body);
    assert!(
        standin().requests_with(&key).len() > before,
        "the agent's thinking did not go through the provider"
    );
}
