//! Steps of `api_keys.feature` and `usage.feature`: personal API keys used as credentials,
//! and the usage a job's result adds.

use super::*;

/// A key the scenario created: its id and its secret.
#[derive(Debug, Clone)]
pub struct TestKey {
    id: String,
    secret: String,
}

impl GatewayWorld {
    fn key(&self, name: &str) -> TestKey {
        self.api_keys
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the scenario created no key '{name}'"))
    }

    async fn with_key(&mut self, secret: &str, method: Method, path: &str, body: Option<String>) {
        let path = self.path(path);
        self.last = Some(
            self.api()
                .send(method, &path, Some(secret), body.map(String::into_bytes))
                .await,
        );
    }

    fn listed_key(&self, name: &str) -> Value {
        let body = &self.reply().body;
        body["api_keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no key '{name}' in {body}"))
    }
}

#[when(expr = "{string} creates an API key {string} of scope {string}")]
async fn creates_key(w: &mut GatewayWorld, alias: String, name: String, scope: String) {
    let reply = w
        .as_user(
            &alias,
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": name, "scope": scope})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let key = TestKey {
        id: reply.body["api_key"]["id"].as_str().expect("id").to_owned(),
        secret: reply.body["key"].as_str().expect("secret").to_owned(),
    };
    w.api_keys.insert(name, key);
}

#[then("the answer shows the key's secret once, and its prefix")]
async fn shows_secret(w: &mut GatewayWorld) {
    let body = &w.reply().body;
    let secret = body["key"].as_str().expect("the secret");
    assert!(secret.starts_with("cyk_") && secret.len() > 60, "{body}");
    let prefix = body["api_key"]["prefix"].as_str().expect("a prefix");
    assert!(secret.starts_with(prefix) && prefix.len() < 20, "{body}");
    // The key as listed never carries the secret or its hash.
    let listed = body["api_key"].to_string();
    assert!(!listed.contains(&secret[prefix.len()..]), "{listed}");
    assert!(body["api_key"].get("hash").is_none(), "{listed}");
}

#[when(expr = "the key {string} gets {string}")]
async fn key_gets(w: &mut GatewayWorld, name: String, path: String) {
    let secret = w.key(&name).secret;
    w.with_key(&secret, Method::GET, &path, None).await;
}

#[when(expr = "the key {string} with its secret changed gets {string}")]
async fn forged_key_gets(w: &mut GatewayWorld, name: String, path: String) {
    let mut secret = w.key(&name).secret;
    let last = secret.pop().expect("a secret");
    secret.push(if last == 'A' { 'B' } else { 'A' });
    w.with_key(&secret, Method::GET, &path, None).await;
}

#[when(expr = "the key {string} gets {string} through the x-api-key header")]
async fn key_gets_by_header(w: &mut GatewayWorld, name: String, path: String) {
    let secret = w.key(&name).secret;
    let response = w
        .api()
        .http
        .get(format!("{}{path}", w.deployment().url))
        .header("x-api-key", secret)
        .send()
        .await;
    w.last = Some(to_reply(response.expect("the gateway answers")).await);
}

#[when(regex = r#"^the key "([^"]+)" posts to "([^"]+)" the body (.+)$"#)]
async fn key_posts(w: &mut GatewayWorld, name: String, path: String, body: String) {
    let secret = w.key(&name).secret;
    w.with_key(&secret, Method::POST, &path, Some(body)).await;
}

#[when(expr = "{string} revokes the key {string}")]
async fn revokes(w: &mut GatewayWorld, alias: String, name: String) {
    let id = w.key(&name).id;
    w.as_user(&alias, Method::DELETE, &format!("/v1/api-keys/{id}"), None)
        .await;
}

#[when(expr = "an admin revokes the key {string}")]
async fn admin_revokes(w: &mut GatewayWorld, name: String) {
    let id = w.key(&name).id;
    let token = env().admin_token.clone();
    w.last = Some(
        w.api()
            .send(
                Method::DELETE,
                &format!("/v1/api-keys/{id}"),
                Some(&token),
                None,
            )
            .await,
    );
}

#[when(expr = "{string} lists the API keys of {string}")]
async fn lists_keys_of(w: &mut GatewayWorld, alias: String, owner: String) {
    let handle = w.user(&owner).await.handle;
    w.as_user(
        &alias,
        Method::GET,
        &format!("/v1/api-keys?user={handle}"),
        None,
    )
    .await;
}

#[when(expr = "an admin lists the API keys of {string}")]
async fn admin_lists_keys_of(w: &mut GatewayWorld, owner: String) {
    let handle = w.user(&owner).await.handle;
    let token = env().admin_token.clone();
    w.last = Some(
        w.api()
            .get(&format!("/v1/api-keys?user={handle}"), Some(&token))
            .await,
    );
}

#[then(regex = r#"^the list holds the key "([^"]+)", (used|unused), without its secret$"#)]
async fn list_holds(w: &mut GatewayWorld, name: String, used: String) {
    let listed = w.listed_key(&name);
    assert_eq!(listed["id"].as_str(), Some(w.key(&name).id.as_str()));
    assert_eq!(
        listed["last_used_at"].is_string(),
        used == "used",
        "{listed}"
    );
    let body = w.reply().body.to_string();
    assert!(!body.contains(&w.key(&name).secret), "{body}");
    assert!(
        listed.get("hash").is_none() && listed.get("key").is_none(),
        "{listed}"
    );
}

#[when(
    expr = "the test node reports the job completed having used {int} prompt and {int} completion tokens in {int} calls"
)]
async fn reports_usage(w: &mut GatewayWorld, prompt: u64, completion: u64, calls: u64) {
    let claim = w
        .claims
        .iter()
        .rev()
        .find(|c| c["decision"] == "run")
        .cloned()
        .expect("a run claim");
    let usage = json!({"calls": calls, "prompt_tokens": prompt, "completion_tokens": completion});
    let reply = w.report_fields(&claim, json!({ "usage": usage })).await;
    w.last = Some(reply);
}

#[then(expr = "today's usage of {string} is {int} calls, {int} prompt and {int} completion tokens")]
async fn usage_of_today(
    w: &mut GatewayWorld,
    model: String,
    calls: u64,
    prompt: u64,
    completion: u64,
) {
    let body = &w.reply().body;
    let today = cynode_domain::usage::day_of(time::OffsetDateTime::now_utc());
    let row = body["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["model"] == model.as_str() && r["day"] == today.as_str())
        })
        .unwrap_or_else(|| panic!("no row of {model} on {today}: {body}"));
    assert_eq!(
        (
            &row["calls"],
            &row["prompt_tokens"],
            &row["completion_tokens"]
        ),
        (&json!(calls), &json!(prompt), &json!(completion)),
        "{body}"
    );
}

#[then(expr = "the usage totals are {int} calls, {int} prompt and {int} completion tokens")]
async fn usage_totals(w: &mut GatewayWorld, calls: u64, prompt: u64, completion: u64) {
    let body = &w.reply().body;
    assert_eq!(
        (
            &body["calls"],
            &body["prompt_tokens"],
            &body["completion_tokens"]
        ),
        (&json!(calls), &json!(prompt), &json!(completion)),
        "{body}"
    );
}
