//! Request extractors that answer bad input in the gateway's one error shape: JSON bodies
//! with a size limit, query strings, users (access tokens and API keys, by scope), and
//! signed node requests.

use cynode_domain::ErrorCode;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use cynode_domain::ids::{JobId, LeaseId};
use cynode_domain::limits::MAX_SMALL_BODY_BYTES;
use cynode_domain::service::{AuthService, NodeService, Principal, SignedRequest, SigningKey};
use cynode_domain::signing::{HEADER_NODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use cynode_domain::{node::Node, Error};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads a body of at most `limit` bytes; more is 413.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::request(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|err| {
        let code = if err.is_data() {
            ErrorCode::InvalidBody
        } else {
            ErrorCode::MalformedJson
        };
        ApiError::request(
            StatusCode::BAD_REQUEST,
            code,
            format!("request body: {err}"),
        )
    })
}

/// `value` as `T`, refused as [`JsonBody`] refuses a body that is not a `T` (a route
/// that reads a body as JSON first, to route on one field).
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|err| {
        ApiError::request(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            format!("request body: {err}"),
        )
    })
}

/// A JSON body of at most `LIMIT` bytes.
pub struct JsonBody<T, const LIMIT: usize = MAX_SMALL_BODY_BYTES>(pub T);

impl<S, T, const LIMIT: usize> FromRequest<S> for JsonBody<T, LIMIT>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request.into_body(), LIMIT).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Like [`JsonBody`], but an empty body means `T::default()`.
pub struct OptionalJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request.into_body(), MAX_SMALL_BODY_BYTES).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// Query parameters; a malformed query string is a 400 in the error shape.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|query| QueryParams(query.0))
            .map_err(|err| {
                ApiError::request(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    err.body_text(),
                )
            })
    }
}

/// The credential a request carries: `Authorization: Bearer <access token or API key>`,
/// or `x-api-key: <API key>` (what Anthropic-style clients send).
fn credential(parts: &Parts) -> Option<&str> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

async fn authenticate<S>(parts: &Parts, state: &S) -> Result<Principal, ApiError>
where
    Arc<AuthService>: FromRef<S>,
{
    let Some(token) = credential(parts) else {
        return Err(ApiError::Domain(Error::unauthenticated(
            ErrorCode::MissingToken,
            "this route needs an 'Authorization: Bearer <access token or API key>' header; \
             log in first, or create an API key",
        )));
    };
    let auth = Arc::<AuthService>::from_ref(state);
    let principal = auth.authenticate(token).await?;
    tracing::Span::current().record("user_id", principal.user_id.as_str());
    Ok(principal)
}

/// The user behind the request's credential, with a credential that reaches every route
/// (an access token, or an API key of scope `all`); a key scoped to the model routes gets
/// 403 `api_key_scope`.
pub struct Authenticated(pub Principal);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<AuthService>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        if !principal.has_full_scope() {
            return Err(ApiError::Domain(Error::forbidden(
                ErrorCode::ApiKeyScope,
                "this API key reaches only the model routes (/v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /api/*); \
                 use a key of scope 'all' or an access token",
            )));
        }
        Ok(Authenticated(principal))
    }
}

/// The user behind a request to a model route: any credential, keys of either scope.
pub struct ModelCaller(pub Principal);

impl<S> FromRequestParts<S> for ModelCaller
where
    S: Send + Sync,
    Arc<AuthService>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(ModelCaller)
    }
}

/// A node request, read whole so that its signature can be checked over the exact bytes.
pub struct SignedBody<const LIMIT: usize = MAX_SMALL_BODY_BYTES> {
    parts: Parts,
    pub body: Bytes,
}

impl<S, const LIMIT: usize> FromRequest<S> for SignedBody<LIMIT>
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = read_body(body, LIMIT).await?;
        Ok(SignedBody { parts, body })
    }
}

impl<const LIMIT: usize> SignedBody<LIMIT> {
    fn header(&self, name: &str) -> &str {
        self.parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Authenticates the request with the given key; returns the node.
    pub async fn authenticate(
        &self,
        nodes: &NodeService,
        key: SigningKey<'_>,
    ) -> Result<Node, ApiError> {
        let request = SignedRequest {
            node_id: self.header(HEADER_NODE),
            timestamp: self.header(HEADER_TIMESTAMP),
            nonce: self.header(HEADER_NONCE),
            signature: self.header(HEADER_SIGNATURE),
            method: self.parts.method.as_str(),
            path: self.parts.uri.path(),
            body: &self.body,
        };
        let node = nodes.authenticate(request, key).await?;
        tracing::Span::current().record("node_id", node.id.as_str());
        Ok(node)
    }

    /// Authenticates a job callback: signed with the job token of the claim `lease`.
    pub async fn authenticate_job(
        &self,
        nodes: &NodeService,
        job: &JobId,
        lease: &LeaseId,
    ) -> Result<Node, ApiError> {
        self.authenticate(nodes, SigningKey::Job { job, lease })
            .await
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.body)
    }
}

/// The caller's address, for throttling: API Gateway's `sourceIp` under Lambda; locally
/// the peer address, or the first `X-Forwarded-For` hop when `CYNODE_TRUST_FORWARDED_FOR`
/// is set (only behind a proxy that sets it: clients can write that header).
pub struct SourceAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        if let Some(context) = parts.extensions.get::<RequestContext>() {
            let ip = match context {
                RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
                RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.clone(),
                _ => None,
            };
            if let Some(ip) = ip {
                return Ok(SourceAddr(ip));
            }
        }
        if trust_forwarded_for() {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .map(|hop| hop.trim().to_owned())
                .filter(|hop| !hop.is_empty() && hop.len() <= 64);
            if let Some(hop) = forwarded {
                return Ok(SourceAddr(hop));
            }
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        Ok(SourceAddr(peer.unwrap_or_else(|| "unknown".into())))
    }
}

fn trust_forwarded_for() -> bool {
    static TRUST: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRUST.get_or_init(|| std::env::var_os("CYNODE_TRUST_FORWARDED_FOR").is_some_and(|v| v == "1"))
}
