//! Which function serves which path: the same table as the HTTP API's routes in
//! `infra/template.yaml` (a test keeps them equal), so the local gateway routes exactly
//! as the deployed API does.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::Router;
use cynode_domain::ErrorCode;
use tower::ServiceExt;

use crate::config::SecretName;
use crate::error::ApiError;
use crate::request_id::with_request_id;
use crate::routes;
use crate::state::AppState;

/// How a function's responses leave Lambda: buffered, or streamed as they are written
/// (function URL invoke mode `RESPONSE_STREAM`, for answers that arrive token by token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responses {
    Buffered,
    Streamed,
}

/// The gateway's Lambda functions, one per route group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Auth,
    Tasks,
    Nodes,
    Callbacks,
    Chat,
    /// The web console's pages: no secrets, no tables, no permissions at all.
    Console,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Function::Auth,
        Function::Tasks,
        Function::Nodes,
        Function::Callbacks,
        Function::Chat,
        Function::Console,
    ];

    /// Its name in the template (`<Name>Function`) and binary (`cynode-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Auth => "auth",
            Function::Tasks => "tasks",
            Function::Nodes => "nodes",
            Function::Callbacks => "callbacks",
            Function::Chat => "chat",
            Function::Console => "console",
        }
    }

    /// The secrets this function fetches at start; its role may read only these.
    pub fn secrets(self) -> &'static [SecretName] {
        match self {
            Function::Auth | Function::Tasks | Function::Chat => &[SecretName::JwtKey],
            Function::Nodes => &[SecretName::JwtKey, SecretName::NodeKey, SecretName::NodePsk],
            Function::Callbacks => &[SecretName::NodeKey],
            Function::Console => &[],
        }
    }

    pub fn responses(self) -> Responses {
        match self {
            Function::Chat => Responses::Streamed,
            _ => Responses::Buffered,
        }
    }

    /// This function's routes. Each binary names its own routes function
    /// ([`auth_routes`] …) instead, so that a function's zip holds only its own handlers.
    pub fn routes(self) -> Router<AppState> {
        match self {
            Function::Auth => auth_routes(),
            Function::Tasks => tasks_routes(),
            Function::Nodes => nodes_routes(),
            Function::Callbacks => callbacks_routes(),
            Function::Chat => chat_routes(),
            Function::Console => routes::console::router(),
        }
    }

    /// This function's complete app: its routes, the request-id middleware, and the
    /// error shape for unknown paths and wrong methods.
    pub fn app(self, state: AppState) -> Router {
        app_of(self.routes(), state)
    }
}

pub fn auth_routes() -> Router<AppState> {
    routes::auth::router()
        .merge(routes::users::router())
        .merge(routes::api_keys::router())
        .merge(routes::audit::router())
        .merge(routes::settings::router())
}

pub fn tasks_routes() -> Router<AppState> {
    routes::tasks::router()
        .merge(routes::usage::router())
        .merge(routes::projects::router())
        .merge(routes::plans::router())
        .merge(routes::preferences::router())
        .merge(routes::skills::router())
        .merge(routes::credentials::router())
        .merge(routes::providers::router())
}

pub fn nodes_routes() -> Router<AppState> {
    routes::nodes::router()
        .merge(routes::health::router())
        .merge(routes::admin::router())
}

pub fn callbacks_routes() -> Router<AppState> {
    routes::jobs::router()
}

pub fn chat_routes() -> Router<AppState> {
    routes::chat::router()
        .merge(routes::ollama::router())
        .merge(routes::events::router())
        .merge(routes::log_stream::router())
}

/// A function's complete app from its routes: the request-id middleware, and the error
/// shape for unknown paths and wrong methods.
pub fn app_of<S: Clone + Send + Sync + 'static>(routes: Router<S>, state: S) -> Router {
    routes
        .fallback(|| async {
            ApiError::request(
                StatusCode::NOT_FOUND,
                ErrorCode::RouteNotFound,
                "no such route",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::request(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            )
        })
        .layer(middleware::from_fn(with_request_id))
        .with_state(state)
}

/// The API's route keys and the function each reaches (`ANY` routes; `{proxy+}` matches
/// one or more path segments). Paths no route matches go to [`DEFAULT_FUNCTION`].
pub const ROUTES: &[(&str, Function)] = &[
    ("ANY /v1/auth/{proxy+}", Function::Auth),
    ("ANY /v1/users", Function::Auth),
    ("ANY /v1/users/{proxy+}", Function::Auth),
    ("ANY /v1/api-keys", Function::Auth),
    ("ANY /v1/api-keys/{proxy+}", Function::Auth),
    ("ANY /v1/audit", Function::Auth),
    ("ANY /v1/settings", Function::Auth),
    ("ANY /v1/settings/{proxy+}", Function::Auth),
    ("ANY /v1/usage", Function::Tasks),
    ("ANY /v1/tasks", Function::Tasks),
    ("ANY /v1/tasks/{proxy+}", Function::Tasks),
    ("ANY /v1/tasks/{task}/logs/stream", Function::Chat),
    ("ANY /v1/attachments", Function::Tasks),
    ("ANY /v1/projects", Function::Tasks),
    ("ANY /v1/projects/{proxy+}", Function::Tasks),
    ("ANY /v1/preferences", Function::Tasks),
    ("ANY /v1/preferences/{proxy+}", Function::Tasks),
    ("ANY /v1/skills", Function::Tasks),
    ("ANY /v1/skills/{proxy+}", Function::Tasks),
    ("ANY /v1/credentials", Function::Tasks),
    ("ANY /v1/credentials/{proxy+}", Function::Tasks),
    ("ANY /v1/providers", Function::Tasks),
    ("ANY /v1/providers/{proxy+}", Function::Tasks),
    ("ANY /v1/nodes/{proxy+}", Function::Nodes),
    ("ANY /v1/admin/{proxy+}", Function::Nodes),
    ("ANY /healthz", Function::Nodes),
    ("ANY /readyz", Function::Nodes),
    ("ANY /v1/jobs/{proxy+}", Function::Callbacks),
    ("ANY /v1/chat", Function::Chat),
    ("ANY /v1/chat/{proxy+}", Function::Chat),
    ("ANY /v1/models", Function::Chat),
    ("ANY /v1/responses", Function::Chat),
    ("ANY /v1/completions", Function::Chat),
    ("ANY /v1/embeddings", Function::Chat),
    ("ANY /api/{proxy+}", Function::Chat),
    ("ANY /v1/events/{proxy+}", Function::Chat),
    ("ANY /", Function::Console),
    ("ANY /assets/{proxy+}", Function::Console),
];

/// The `$default` route's function.
pub const DEFAULT_FUNCTION: Function = Function::Nodes;

/// The function API Gateway would invoke for `path`: a route without a greedy part
/// (exact, or with `{param}` segments that match one segment each) before a greedy one.
pub fn function_for(path: &str) -> Function {
    let route_path = |key: &'static str| key.strip_prefix("ANY ").unwrap_or(key);
    let segments: Vec<&str> = path.split('/').collect();
    let matches_exactly = |route: &str| {
        let parts: Vec<&str> = route.split('/').collect();
        parts.len() == segments.len()
            && parts.iter().zip(&segments).all(|(part, segment)| {
                part == segment
                    || (part.starts_with('{') && !part.ends_with("+}") && !segment.is_empty())
            })
    };
    if let Some((_, function)) = ROUTES
        .iter()
        .find(|(key, _)| !key.ends_with("+}") && matches_exactly(route_path(key)))
    {
        return *function;
    }
    ROUTES
        .iter()
        .filter_map(|(key, function)| {
            let prefix = route_path(key).strip_suffix("{proxy+}")?;
            let rest = path.strip_prefix(prefix)?;
            (!rest.is_empty()).then_some((prefix.len(), *function))
        })
        .max_by_key(|(len, _)| *len)
        .map_or(DEFAULT_FUNCTION, |(_, function)| function)
}

/// All functions behind one listener, dispatched by [`function_for`]: the local gateway.
pub fn local_gateway(state: AppState) -> Router {
    let apps: Vec<(Function, Router)> = Function::ALL
        .iter()
        .map(|f| (*f, f.app(state.clone())))
        .collect();
    Router::new().fallback(move |request: Request| {
        let function = function_for(request.uri().path());
        let app = apps
            .iter()
            .find(|(f, _)| *f == function)
            .map(|(_, app)| app.clone());
        async move {
            match app {
                Some(app) => app.oneshot(request).await.into_response(),
                None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_like_the_http_api() {
        for (path, function) in [
            ("/v1/auth/login", Function::Auth),
            ("/v1/users", Function::Auth),
            ("/v1/users/me", Function::Auth),
            ("/v1/tasks", Function::Tasks),
            ("/v1/tasks/task_1/logs", Function::Tasks),
            ("/v1/attachments", Function::Tasks),
            ("/v1/nodes/register", Function::Nodes),
            ("/readyz", Function::Nodes),
            ("/v1/jobs/job_1/result", Function::Callbacks),
            ("/v1/jobs/job_1/inference", Function::Callbacks),
            ("/v1/responses", Function::Chat),
            ("/v1/completions", Function::Chat),
            ("/v1/embeddings", Function::Chat),
            ("/api/chat", Function::Chat),
            ("/api/embed", Function::Chat),
            ("/v1/api-keys/key_1", Function::Auth),
            ("/v1/audit", Function::Auth),
            ("/v1/settings/nodes.stale_secs", Function::Auth),
            ("/v1/usage", Function::Tasks),
            ("/v1/preferences", Function::Tasks),
            ("/v1/preferences/effective", Function::Tasks),
            ("/v1/skills/house-style", Function::Tasks),
            ("/v1/credentials", Function::Tasks),
            ("/v1/credentials/forge-bot/rotate", Function::Tasks),
            ("/v1/providers", Function::Tasks),
            ("/v1/providers/openrouter/credential", Function::Tasks),
            ("/v1/tasks/task_1/logs/stream", Function::Chat),
            ("/v1/tasks/task_1/logs", Function::Tasks),
            ("/v1/tasks/task_1/logs/stream/x", Function::Tasks),
            ("/v1/auth", Function::Nodes),
            ("/", Function::Console),
            ("/assets/app-1234.js", Function::Console),
            ("/assets", DEFAULT_FUNCTION),
            ("/nowhere", DEFAULT_FUNCTION),
        ] {
            assert_eq!(function_for(path), function, "{path}");
        }
    }

    /// The deployment's HTTP API routes are the same table as [`ROUTES`].
    #[test]
    fn the_deployment_template_declares_the_same_routes() {
        let template = TEMPLATE;
        let mut declared = Vec::new();
        for line in template.lines().filter(|l| l.contains("RouteKey:")) {
            let key = line
                .split("RouteKey: \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap();
            let target = line
                .split("integrations/${")
                .nth(1)
                .and_then(|rest| rest.split("Integration}").next())
                .unwrap();
            declared.push((key.to_owned(), target.to_lowercase()));
        }
        let mut expected: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(key, f)| (key.to_string(), f.name().to_owned()))
            .collect();
        expected.push(("$default".into(), DEFAULT_FUNCTION.name().to_owned()));
        declared.sort();
        expected.sort();
        assert_eq!(declared, expected);
        for function in Function::ALL {
            let resource = format!("{}Function:", capitalize(function.name()));
            assert!(template.contains(&resource), "template lacks {resource}");
        }
    }

    const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

    /// One top-level resource of the template, as text.
    fn block(name: &str) -> String {
        let template = TEMPLATE;
        let start = template
            .find(&format!("\n  {name}:\n"))
            .unwrap_or_else(|| panic!("template lacks {name}"));
        let rest = &template[start + 1..];
        let end = rest
            .match_indices("\n  ")
            .map(|(i, _)| i)
            .find(|&i| rest[i + 3..].starts_with(|c: char| c.is_ascii_alphabetic()))
            .unwrap_or(rest.len());
        rest[..end].to_owned()
    }

    /// Every function role's actions on `resource` (an `Allow` statement naming it).
    fn actions_on(role: &str, resource: &str) -> Vec<String> {
        block(role)
            .split("- Effect: Allow")
            .filter(|statement| statement.contains(resource))
            .flat_map(|statement| {
                let action = statement
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("Action:"))
                    .unwrap_or_default();
                action
                    .split(['[', ']', ',', '"'])
                    .map(str::trim)
                    .filter(|a| a.contains(':'))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Credentials: only the callbacks function (to hand a claimed job its credential)
    /// and the chat function (whose egress opens a hosted model provider's key) read
    /// them; the tasks function writes and deletes them; no other role touches the table.
    #[test]
    fn only_the_callbacks_and_chat_functions_read_credentials() {
        let roles: Vec<&str> = TEMPLATE
            .lines()
            .filter_map(|line| line.strip_prefix("  ")?.strip_suffix("FunctionRole:"))
            .collect();
        assert!(roles.len() >= 7, "{roles:?}");
        for role in roles {
            let mut actions = actions_on(&format!("{role}FunctionRole"), "CredentialsTable");
            actions.sort();
            let expected: &[&str] = match role {
                "Callbacks" | "Chat" => &["dynamodb:GetItem"],
                "Tasks" => &["dynamodb:DeleteItem", "dynamodb:PutItem"],
                _ => &[],
            };
            assert_eq!(actions, expected, "{role}");
        }
    }

    /// Users' stored credentials: only the tasks function seals values (and cannot open
    /// them); only the callbacks function (for a job) and the chat function (for the
    /// egress) open them; only those three know the key.
    #[test]
    fn only_the_callbacks_and_chat_functions_open_stored_credentials() {
        for function in Function::ALL {
            let name = capitalize(function.name());
            let mut actions = actions_on(&format!("{name}FunctionRole"), "CredentialsKey");
            actions.sort();
            let expected: &[&str] = match function {
                Function::Callbacks | Function::Chat => &["kms:Decrypt"],
                Function::Tasks => &["kms:Encrypt"],
                _ => &[],
            };
            assert_eq!(actions, expected, "{name}");
            let env = block(&format!("{name}Function"));
            assert_eq!(
                env.contains("CYNODE_CREDENTIALS_KEY_ID"),
                !expected.is_empty(),
                "{name}"
            );
        }
        let sweeper = actions_on("SweeperFunctionRole", "CredentialsKey");
        assert!(sweeper.is_empty(), "{sweeper:?}");
    }

    /// Each function's role may read exactly the secrets the function fetches, and its
    /// environment names exactly those.
    #[test]
    fn each_function_reads_only_the_secrets_it_needs() {
        let resource = |secret: SecretName| match secret {
            SecretName::JwtKey => "JwtKeySecret",
            SecretName::NodeKey => "NodeKeySecret",
            SecretName::NodePsk => "NodePskSecret",
            SecretName::AdminPassword => "AdminPasswordSecret",
        };
        for function in Function::ALL {
            let name = capitalize(function.name());
            let role = block(&format!("{name}FunctionRole"));
            let env = block(&format!("{name}Function"));
            for secret in SecretName::ALL {
                let wanted = function.secrets().contains(&secret);
                let in_role = role.contains(&format!("!Ref {}", resource(secret)));
                let in_env = env.contains(secret.id_variable());
                assert_eq!(
                    (in_role, in_env),
                    (wanted, wanted),
                    "{name}: {secret:?} (role, environment)"
                );
            }
            assert!(
                !env.contains("_SECRET:") && !env.contains("CYNODE_NODE_PSK:"),
                "{name} has a secret value in its environment"
            );
        }
    }

    fn capitalize(name: &str) -> String {
        let mut chars = name.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}
