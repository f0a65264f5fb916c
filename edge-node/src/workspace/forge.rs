//! Opening a worker's pull request on the project's forge, at an endpoint the node's
//! policy allowed (see [`super::policy::RemotePolicy::forge`]): pinned addresses, no
//! redirects, the credential only in this call's header. A forge's error body is never
//! passed on: the user sees its status and a short reason of the node's.

use serde::Deserialize;
use serde_json::json;

use cynode_protocol::plan::PullRequest;
use cynode_protocol::wire::ForgeTarget;

use super::policy::ForgeEndpoint;
use super::PullRequestText;

#[derive(Deserialize)]
struct CreatedPull {
    number: u64,
    html_url: String,
}

impl CreatedPull {
    fn checked(self) -> Result<PullRequest, String> {
        if !(self.html_url.starts_with("https://") || self.html_url.starts_with("http://"))
            || self.html_url.len() > 2048
        {
            return Err("the forge answered with a pull request link that is not a web URL".into());
        }
        Ok(PullRequest {
            number: self.number,
            url: self.html_url,
        })
    }
}

/// What a refusal means, in the node's words.
fn refusal(status: reqwest::StatusCode) -> String {
    let why = match status.as_u16() {
        300..=399 => "the forge redirected, and the node follows no redirects",
        401 => "the project's credential was not accepted",
        403 => "the project's credential may not open pull requests there",
        404 => "the forge has no such repository (or the credential cannot see it)",
        422 => "the forge found the pull request invalid",
        429 => "the forge is rate-limiting",
        500..=599 => "the forge failed",
        _ => "the forge did not accept it",
    };
    format!("the forge refused the pull request ({status}): {why}")
}

/// `POST {api}/repos/{owner}/{repo}/pulls` as GitHub documents it (also Gitea's and
/// GitHub Enterprise's). A pull request that already exists for the branch (a retried
/// attempt) is looked up instead.
pub async fn open_pull_request(
    endpoint: &ForgeEndpoint,
    forge: &ForgeTarget,
    credential: Option<&str>,
    base_branch: &str,
    branch: &str,
    text: PullRequestText,
) -> Result<PullRequest, String> {
    let http = endpoint.client()?;
    let mut url = endpoint.base.clone();
    url.path_segments_mut()
        .map_err(|_| "the forge URL cannot take a path".to_owned())?
        .pop_if_empty()
        .extend(["repos", &forge.owner, &forge.repo, "pulls"]);
    let with_headers = |request: reqwest::RequestBuilder| {
        let request = request
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "cynode-edge");
        match credential {
            Some(credential) => request.bearer_auth(credential),
            None => request,
        }
    };
    let body = json!({
        "title": text.title,
        "head": branch,
        "base": base_branch,
        "body": text.body,
    });
    let response = with_headers(http.post(url.clone()))
        .json(&body)
        .send()
        .await
        .map_err(|err| format!("opening the pull request: {}", err.without_url()))?;
    let status = response.status();
    if status.is_success() {
        let pull: CreatedPull = response.json().await.map_err(|_| {
            "the forge's answer to the pull request is not what GitHub's API documents".to_owned()
        })?;
        return pull.checked();
    }
    if status.as_u16() == 422 {
        let mut query = url.clone();
        query
            .query_pairs_mut()
            .append_pair("state", "open")
            .append_pair("head", &format!("{}:{branch}", forge.owner));
        let existing: Vec<CreatedPull> = with_headers(http.get(query))
            .send()
            .await
            .map_err(|err| format!("looking up the pull request: {}", err.without_url()))?
            .json()
            .await
            .map_err(|_| {
                "the forge's list of pull requests is not what GitHub's API documents".to_owned()
            })?;
        if let Some(pull) = existing.into_iter().next() {
            return pull.checked();
        }
    }
    Err(refusal(status))
}
