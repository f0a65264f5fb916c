//! The inference routes a job may call through its pod's proxy, and nothing else.
//!
//! A model server has more than inference on it: llama-server's `/slots` and `/props`
//! show (and change) other jobs' state, Ollama's `/api/pull`, `/api/delete`, `/api/create`,
//! `/api/copy`, `/api/push` and `/api/blobs` replace or remove the models every job runs
//! on. So the proxy matches each request against an allowlist of exact (method, path)
//! pairs and builds the upstream URL from the matched route, never from the request's
//! path: dot segments (raw or percent-encoded), doubled slashes, encoded slashes and
//! queries have no route and are refused before anything reaches the server.

use axum::http::Method;

/// One inference route of Ollama's or OpenAI's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InferenceRoute {
    OllamaChat,
    OllamaGenerate,
    OllamaEmbed,
    OllamaEmbeddings,
    OllamaTags,
    OllamaShow,
    OpenAiModels,
    OpenAiChatCompletions,
    OpenAiCompletions,
    OpenAiEmbeddings,
    OpenAiResponses,
}

impl InferenceRoute {
    pub const ALL: [InferenceRoute; 11] = [
        InferenceRoute::OllamaChat,
        InferenceRoute::OllamaGenerate,
        InferenceRoute::OllamaEmbed,
        InferenceRoute::OllamaEmbeddings,
        InferenceRoute::OllamaTags,
        InferenceRoute::OllamaShow,
        InferenceRoute::OpenAiModels,
        InferenceRoute::OpenAiChatCompletions,
        InferenceRoute::OpenAiCompletions,
        InferenceRoute::OpenAiEmbeddings,
        InferenceRoute::OpenAiResponses,
    ];

    /// The path, exactly as it is sent upstream.
    pub fn path(self) -> &'static str {
        match self {
            InferenceRoute::OllamaChat => "/api/chat",
            InferenceRoute::OllamaGenerate => "/api/generate",
            InferenceRoute::OllamaEmbed => "/api/embed",
            InferenceRoute::OllamaEmbeddings => "/api/embeddings",
            InferenceRoute::OllamaTags => "/api/tags",
            InferenceRoute::OllamaShow => "/api/show",
            InferenceRoute::OpenAiModels => "/v1/models",
            InferenceRoute::OpenAiChatCompletions => "/v1/chat/completions",
            InferenceRoute::OpenAiCompletions => "/v1/completions",
            InferenceRoute::OpenAiEmbeddings => "/v1/embeddings",
            InferenceRoute::OpenAiResponses => "/v1/responses",
        }
    }

    pub fn method(self) -> Method {
        match self.method_name() {
            "GET" => Method::GET,
            _ => Method::POST,
        }
    }

    fn method_name(self) -> &'static str {
        match self {
            InferenceRoute::OllamaTags | InferenceRoute::OpenAiModels => "GET",
            _ => "POST",
        }
    }

    /// Whether the request body names a model (which must be one the node serves).
    pub fn names_model(self) -> bool {
        self.method() == Method::POST
    }

    /// Whether errors are in OpenAI's shape (else Ollama's).
    pub fn is_openai(self) -> bool {
        self.path().starts_with("/v1/")
    }
}

/// Why a request has no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// `.`/`..` segments, raw or percent-encoded, or an encoded slash.
    DotSegments,
    /// An empty segment (`//`, or a trailing `/`).
    EmptySegment,
    /// A query string: no inference route takes one.
    Query,
    /// The path is an inference route, but not with this method.
    Method(&'static str),
    /// Not an inference route.
    Unknown,
}

impl NoRoute {
    pub fn status(&self) -> u16 {
        match self {
            NoRoute::Method(_) => 405,
            NoRoute::Unknown => 404,
            NoRoute::DotSegments | NoRoute::EmptySegment | NoRoute::Query => 400,
        }
    }

    pub fn message(&self, path: &str) -> String {
        match self {
            NoRoute::DotSegments => {
                "paths with dot segments or encoded characters are refused by the inference proxy"
                    .into()
            }
            NoRoute::EmptySegment => {
                "paths with empty segments ('//' or a trailing '/') are refused by the inference proxy"
                    .into()
            }
            NoRoute::Query => "inference routes take no query string".into(),
            NoRoute::Method(allowed) => {
                format!("{path} takes only {allowed} through the inference proxy")
            }
            NoRoute::Unknown => format!(
                "{path} is not an inference route; the proxy forwards only: {}",
                InferenceRoute::ALL
                    .iter()
                    .map(|r| format!("{} {}", r.method(), r.path()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The route for a request line's method and raw (undecoded) path and query.
pub fn route_for(
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Result<InferenceRoute, NoRoute> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    if path.contains('%')
        || segments
            .iter()
            .any(|segment| *segment == "." || *segment == "..")
    {
        return Err(NoRoute::DotSegments);
    }
    if segments.iter().any(|segment| segment.is_empty()) {
        return Err(NoRoute::EmptySegment);
    }
    if query.is_some() {
        return Err(NoRoute::Query);
    }
    let route = InferenceRoute::ALL
        .into_iter()
        .find(|route| route.path() == path)
        .ok_or(NoRoute::Unknown)?;
    if route.method() != *method {
        return Err(NoRoute::Method(route.method_name()));
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_inference_routes_match() {
        for route in InferenceRoute::ALL {
            assert_eq!(route_for(&route.method(), route.path(), None), Ok(route));
        }
        let post = Method::POST;
        let get = Method::GET;
        for (method, path, query, refusal) in [
            (&get, "/v1/../slots", None, NoRoute::DotSegments),
            (&get, "/v1/%2e%2e/slots", None, NoRoute::DotSegments),
            (&get, "/v1/%2E%2E/props", None, NoRoute::DotSegments),
            (&get, "/v1%2fmodels", None, NoRoute::DotSegments),
            (&get, "/v1/./models", None, NoRoute::DotSegments),
            (&get, "//v1/models", None, NoRoute::EmptySegment),
            (&get, "/v1//models", None, NoRoute::EmptySegment),
            (&get, "/v1/models/", None, NoRoute::EmptySegment),
            (&get, "/v1/models", Some(""), NoRoute::Query),
            (&get, "/v1/models", Some("a=1"), NoRoute::Query),
            (&post, "/api/pull", None, NoRoute::Unknown),
            (&post, "/api/delete", None, NoRoute::Unknown),
            (&get, "/slots", None, NoRoute::Unknown),
            (&get, "/v1/chat/completions", None, NoRoute::Method("POST")),
            (&post, "/v1/models", None, NoRoute::Method("GET")),
        ] {
            assert_eq!(
                route_for(method, path, query),
                Err(refusal),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn refusals_say_what_is_forwarded() {
        let message = NoRoute::Unknown.message("/api/pull");
        assert!(message.contains("POST /api/chat"), "{message}");
        assert!(message.contains("GET /v1/models"), "{message}");
        assert_eq!(NoRoute::Unknown.status(), 404);
        assert_eq!(NoRoute::DotSegments.status(), 400);
    }
}
