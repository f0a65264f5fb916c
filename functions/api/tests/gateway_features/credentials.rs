//! Steps of `credentials.feature` beyond the generic request steps: a planned worker's
//! claim held back while the credential its project names is disabled.

use super::*;

#[then(expr = "the worker's claim waits: {string}")]
async fn claim_waits(w: &mut GatewayWorld, reason: String) {
    let job = w.queued_run("worker", Some(1)).await;
    let task = w.task().to_owned();
    let boot = w.node.as_ref().expect("a node claimed before").boot.clone();
    let claim = w.claim_job(&task, &job, &boot).await.body;
    assert_eq!(claim["decision"], "elsewhere", "{claim}");
    let said = claim["reason"].as_str().unwrap_or_default();
    assert!(said.contains(&reason), "{claim}");
    assert!(claim.get("spec").is_none(), "nothing to run: {claim}");
}
