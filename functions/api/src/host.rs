//! Runs an app on whichever host it finds itself on: the Lambda runtime when
//! `AWS_LAMBDA_RUNTIME_API` is set, otherwise a plain HTTP listener.

use crate::routing::{Function, Responses};
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;

/// Structured logs: JSON under Lambda (CloudWatch), compact text locally. `RUST_LOG`
/// filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if running_in_lambda() {
        builder.json().with_current_span(true).without_time().init();
    } else {
        builder.compact().init();
    }
}

pub fn running_in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Serves `app` until the Lambda runtime ends it, or until SIGINT/SIGTERM locally.
/// Locally it listens on `CYNODE_LISTEN` (default `127.0.0.1:8080`) and always streams.
pub async fn serve(app: Router, responses: Responses) -> anyhow::Result<()> {
    if running_in_lambda() {
        let ran = match responses {
            Responses::Buffered => lambda_http::run(app).await,
            Responses::Streamed => lambda_http::run_with_streaming_response(app).await,
        };
        return ran.map_err(|err| anyhow::anyhow!("lambda runtime: {err}"));
    }
    let listen = std::env::var("CYNODE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("CYNODE_LISTEN '{listen}' is not host:port"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another gateway running?)"))?;
    tracing::info!(%addr, "listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// The whole of a function binary: tracing, state, serve.
///
/// `routes` is the function's own routes function (`routing::auth_routes` …), named by
/// its binary so that the binary links only those handlers.
pub async fn run_function(
    function: Function,
    routes: fn() -> axum::Router<crate::state::AppState>,
) -> anyhow::Result<()> {
    init_tracing();
    let started = std::time::Instant::now();
    let state = crate::state::AppState::from_env(function.secrets()).await?;
    log_init(function.name(), started);
    serve(
        crate::routing::app_of(routes(), state),
        function.responses(),
    )
    .await
}

/// The console function: static pages embedded in the binary, so it builds no state,
/// fetches no secret and talks to no AWS service.
pub async fn run_console() -> anyhow::Result<()> {
    init_tracing();
    let started = std::time::Instant::now();
    let app = crate::routing::app_of(crate::routes::console::router::<()>(), ());
    log_init(crate::routing::Function::Console.name(), started);
    serve(app, crate::routing::Function::Console.responses()).await
}

/// Logs how long the process took from `main` to ready (AWS configuration, secrets):
/// the part of a cold start that is ours. `scripts/lambda-report` reads it.
fn log_init(function: &str, started: std::time::Instant) {
    tracing::info!(
        function,
        init_ms = started.elapsed().as_secs_f64() * 1000.0,
        "initialised"
    );
}

/// Runs the recovery sweep every `every` in the background (the local gateway's stand-in
/// for the scheduled sweeper function).
pub fn sweep_periodically(state: crate::state::AppState, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            log_sweep(state.sweep().await);
        }
    });
}

fn log_sweep(
    swept: Result<cynode_domain::wire::SweepReport, cynode_domain::Error>,
) -> Option<cynode_domain::wire::SweepReport> {
    match swept {
        Ok(report) => {
            if report.requeued + report.ended + report.dead_letters + report.expired_tasks > 0 {
                tracing::info!(?report, "recovery sweep");
            } else {
                tracing::debug!(?report, "recovery sweep");
            }
            Some(report)
        }
        Err(err) => {
            tracing::warn!(error = %err, "recovery sweep failed; the next one retries");
            None
        }
    }
}

/// The whole of an event-driven function (not HTTP): tracing, state with `secrets`, then
/// `job` once per Lambda event, or, outside Lambda, once now with its JSON printed (for
/// operators and scripts).
async fn run_per_event<F, Fut>(
    name: &str,
    secrets: &[crate::config::SecretName],
    job: F,
) -> anyhow::Result<()>
where
    F: Fn(crate::state::AppState) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<serde_json::Value>>,
{
    init_tracing();
    let started = std::time::Instant::now();
    let state = crate::state::AppState::from_env(secrets).await?;
    log_init(name, started);
    if running_in_lambda() {
        let handler = lambda_http::lambda_runtime::service_fn(
            |_: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
                let done = job(state.clone());
                async move {
                    done.await
                        .map_err(|err| lambda_http::Error::from(format!("{err:#}")))
                }
            },
        );
        return lambda_http::lambda_runtime::run(handler)
            .await
            .map_err(|err| anyhow::anyhow!("lambda runtime: {err}"));
    }
    println!("{}", job(state).await?);
    Ok(())
}

/// The sweeper function: one recovery sweep per scheduled event. It has no user or node
/// routes, so it fetches no secret at all.
pub async fn run_sweeper() -> anyhow::Result<()> {
    run_per_event("sweeper", &[], |state| async move {
        let report = state
            .sweep()
            .await
            .map_err(|err| anyhow::anyhow!("recovery sweep failed: {err}"))?;
        log_sweep(Ok(report.clone()));
        Ok(serde_json::to_value(report)?)
    })
    .await
}

/// The bootstrap step: creates the admin user (`CYNODE_ADMIN_HANDLE`, default `admin`)
/// with the admin password secret, unless a user with that handle exists. Run once per
/// deployment: under Lambda, each invocation is one attempt (`aws lambda invoke`);
/// elsewhere it runs once and exits. Idempotent.
pub async fn run_bootstrap() -> anyhow::Result<()> {
    use crate::config::SecretName;
    run_per_event(
        "bootstrap",
        &[SecretName::AdminPassword],
        |state| async move {
            let (handle, password) = state.admin_login();
            let password = password.ok_or_else(|| anyhow::anyhow!("no admin password"))?;
            state
                .auth()
                .bootstrap_admin(&handle, &password)
                .await
                .map_err(|err| anyhow::anyhow!("creating the admin user '{handle}': {err}"))?;
            tracing::info!(%handle, "admin user present");
            Ok(serde_json::json!({ "admin": handle }))
        },
    )
    .await
}
