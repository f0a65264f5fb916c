//! Steps of `audit.feature`: reading the trail back and checking what it holds.

use super::*;

fn events(w: &GatewayWorld) -> &Vec<Value> {
    w.reply().body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("an audit list: {}", w.reply().body))
}

#[when(expr = "{string} lists the audit trail of {string}")]
async fn trail_of(w: &mut GatewayWorld, alias: String, whose: String) {
    let handle = w.user(&whose).await.handle;
    let path = format!("/v1/audit?user={handle}&limit=200");
    w.as_user(&alias, Method::GET, &path, None).await;
}

#[then(expr = "the trail holds {string} with outcome {string}")]
async fn holds(w: &mut GatewayWorld, action: String, outcome: String) {
    let found = events(w)
        .iter()
        .any(|event| event["action"] == action.as_str() && event["outcome"] == outcome.as_str());
    assert!(found, "{}", w.reply().body);
    for event in events(w) {
        for field in ["event_id", "at", "actor", "subject"] {
            assert!(
                event[field].as_str().is_some_and(|v| !v.is_empty()),
                "{event}"
            );
        }
    }
}

#[then(expr = "the trail does not hold {string}")]
async fn lacks(w: &mut GatewayWorld, action: String) {
    assert!(
        events(w)
            .iter()
            .all(|event| event["action"] != action.as_str()),
        "{}",
        w.reply().body
    );
}

#[then(expr = "the trail holds {string} on {string}")]
async fn holds_on(w: &mut GatewayWorld, action: String, alias: String) {
    let subject = format!("user:{}", w.users[&alias].handle);
    let found = events(w)
        .iter()
        .any(|event| event["action"] == action.as_str() && event["subject"] == subject.as_str());
    assert!(found, "no {action} on {subject}: {}", w.reply().body);
}

#[then(expr = "every event on the trail is a {string} failure")]
async fn only(w: &mut GatewayWorld, action: String) {
    assert!(!events(w).is_empty());
    for event in events(w) {
        assert_eq!(event["action"], action.as_str(), "{event}");
        assert_eq!(event["outcome"], "failure", "{event}");
    }
}
