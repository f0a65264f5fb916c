//! Which models the node's inference endpoint serves: Ollama's `GET /api/tags`, else the
//! OpenAI-compatible `GET /v1/models` (llama.cpp's server, vLLM, LM Studio …).

use std::time::Duration;

use cynode_protocol::wire::InferenceStatus;
use serde::Deserialize;

#[derive(Deserialize)]
struct OllamaTags {
    models: Vec<OllamaModel>,
}
#[derive(Deserialize)]
struct OllamaModel {
    name: String,
}
#[derive(Deserialize)]
struct OpenAiModels {
    data: Vec<OpenAiModel>,
}
#[derive(Deserialize)]
struct OpenAiModel {
    id: String,
}

/// Parses either listing; `None` when the body is neither.
pub fn parse_model_list(body: &[u8]) -> Option<Vec<String>> {
    if let Ok(tags) = serde_json::from_slice::<OllamaTags>(body) {
        return Some(tags.models.into_iter().map(|m| m.name).collect());
    }
    serde_json::from_slice::<OpenAiModels>(body)
        .ok()
        .map(|list| list.data.into_iter().map(|m| m.id).collect())
}

/// Asks the endpoint which models it serves. Unreachable (or answering neither listing)
/// means `reachable: false` and no models.
pub async fn probe(endpoint: &str) -> InferenceStatus {
    let base = endpoint.trim_end_matches('/');
    let mut status = InferenceStatus {
        endpoint: base.to_owned(),
        reachable: false,
        models: vec![],
    };
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return status;
    };
    for path in ["/api/tags", "/v1/models"] {
        let Ok(response) = client.get(format!("{base}{path}")).send().await else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        let Ok(body) = response.bytes().await else {
            continue;
        };
        if let Some(mut models) = parse_model_list(&body) {
            models.sort();
            models.dedup();
            status.reachable = true;
            status.models = models;
            break;
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ollama_and_openai_listings() {
        assert_eq!(
            parse_model_list(br#"{"models":[{"name":"llama3.2:3b","size":1}]}"#),
            Some(vec!["llama3.2:3b".to_string()])
        );
        assert_eq!(
            parse_model_list(
                br#"{"object":"list","data":[{"id":"smollm2:135m","object":"model"}]}"#
            ),
            Some(vec!["smollm2:135m".to_string()])
        );
        assert_eq!(parse_model_list(b"<html>"), None);
    }
}
