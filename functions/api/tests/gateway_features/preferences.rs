//! Steps of `preferences.feature`, `settings.feature` and `skills.feature`: what a user
//! and an admin set, and what of it reaches a claimed job.

use super::*;

#[when(regex = r#"^"(\w+)" puts to "([^"]+)" the body (.+)$"#)]
async fn puts_body(w: &mut GatewayWorld, alias: String, path: String, body: String) {
    let (path, body) = (w.path(&path), w.path(&body));
    let token = w.token(&alias).await;
    w.last = Some(
        w.api()
            .send(Method::PUT, &path, Some(&token), Some(body.into_bytes()))
            .await,
    );
}

#[then("the response field \"scope_id\" is the task's id")]
async fn scope_id_is_task(w: &mut GatewayWorld) {
    let task = w.task().to_owned();
    assert_eq!(
        w.reply().body["scope_id"],
        task.as_str(),
        "{}",
        w.reply().body
    );
}

#[then(regex = r#"^the effective "([^"]+)" is (.+) from "(\w+)"$"#)]
async fn effective_is(w: &mut GatewayWorld, key: String, value: String, source: String) {
    let expected: Value = serde_json::from_str(&value).expect("a JSON literal");
    let body = &w.reply().body;
    let found = body["preferences"]
        .as_array()
        .and_then(|all| all.iter().find(|pref| pref["key"] == key.as_str()))
        .unwrap_or_else(|| panic!("no {key} in {body}"));
    assert_eq!(found["value"], expected, "{found}");
    assert_eq!(found["source"], source.as_str(), "{found}");
    assert!(
        !found["description"].as_str().unwrap_or_default().is_empty(),
        "{found}"
    );
}

#[then(regex = r#"^the claim's spec field "(\w+)" is (.+)$"#)]
async fn claim_spec_field(w: &mut GatewayWorld, field: String, value: String) {
    let expected: Value = serde_json::from_str(&value).expect("a JSON literal");
    let spec = &w.claims.last().expect("a claim")["spec"];
    assert_eq!(spec[&field], expected, "{spec}");
}

#[then(expr = "the list holds only {string}")]
async fn list_holds_only(w: &mut GatewayWorld, key: String) {
    let keys: Vec<&str> = preference_keys(&w.reply().body);
    assert_eq!(keys, vec![key.as_str()], "{}", w.reply().body);
}

#[then("the list holds nothing")]
async fn list_holds_nothing(w: &mut GatewayWorld) {
    assert_eq!(w.reply().status, 200, "{}", w.reply().body);
    assert!(
        preference_keys(&w.reply().body).is_empty(),
        "{}",
        w.reply().body
    );
}

fn preference_keys(body: &Value) -> Vec<&str> {
    body["preferences"]
        .as_array()
        .expect("a preference list")
        .iter()
        .filter_map(|pref| pref["key"].as_str())
        .collect()
}

#[then(regex = r#"^the setting "([^"]+)" is (\d+) from "(\w+)"$"#)]
async fn setting_is(w: &mut GatewayWorld, key: String, value: u64, source: String) {
    let body = &w.reply().body;
    let found = body["settings"]
        .as_array()
        .and_then(|all| all.iter().find(|setting| setting["key"] == key.as_str()))
        .unwrap_or_else(|| panic!("no {key} in {body}"));
    assert_eq!(found["value"], value, "{found}");
    assert_eq!(found["source"], source.as_str(), "{found}");
}

#[then(expr = "the skill list holds {string} without its body")]
async fn skill_listed(w: &mut GatewayWorld, name: String) {
    let body = &w.reply().body;
    let skills = body["skills"].as_array().expect("a skill list");
    let found = skills
        .iter()
        .find(|skill| skill["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    assert!(found.get("body").is_none(), "{found}");
    assert!(
        found["size"].as_u64().is_some_and(|size| size > 0),
        "{found}"
    );
}

#[then(expr = "the claim carries the skills {string}")]
async fn claim_skills(w: &mut GatewayWorld, names: String) {
    let spec = &w.claims.last().expect("a claim")["spec"];
    let carried: Vec<&str> = spec["skills"]
        .as_array()
        .map(|skills| skills.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    let wanted: Vec<&str> = names.split(", ").collect();
    assert_eq!(carried, wanted, "{spec}");
    assert!(
        spec["skills"][0]["body"]
            .as_str()
            .is_some_and(|b| !b.is_empty()),
        "{spec}"
    );
}

#[then("the claim carries no skills")]
async fn claim_no_skills(w: &mut GatewayWorld) {
    let spec = &w.claims.last().expect("a claim")["spec"];
    assert!(spec.get("skills").is_none(), "{spec}");
}
