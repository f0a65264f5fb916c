//! `GET /` and `GET /assets/*`: the web console (`console/`, TypeScript), served by the
//! deployment itself so that its pages and the API share one origin (no CORS, and the
//! console's requests carry only the bearer token it holds in memory).
//!
//! The built files are embedded at compile time (`build.rs`). `index.html` is never
//! cached (it names the current assets); assets have content hashes in their names and
//! are cached for a year. Every answer carries a content security policy that allows
//! only this origin's scripts, styles and connections, and no framing.
//!
//! On AWS the API Gateway buffers responses, so streams (live logs, task events, chat
//! answers) come from the chat function's URL: `CYNODE_CONSOLE_STREAM_URL` names it, the
//! page learns it from a `<meta name="cynode-stream-url">` tag and the policy allows
//! connections to it. Locally it is unset: everything is one origin.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;

use cynode_domain::ErrorCode;

use crate::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

const SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Where `index.html` leaves the streams' origin for the deployment to fill in.
const STREAM_URL_TAG: &str = r#"<meta name="cynode-stream-url" content="">"#;

/// The page and its policy, once per process.
struct Page {
    html: Vec<u8>,
    policy: HeaderValue,
}

fn page() -> Option<&'static Page> {
    static PAGE: OnceLock<Option<Page>> = OnceLock::new();
    PAGE.get_or_init(|| {
        let html = std::str::from_utf8(find("index.html")?).ok()?;
        let stream = std::env::var("CYNODE_CONSOLE_STREAM_URL").unwrap_or_default();
        Some(with_stream_url(html, stream.trim()))
    })
    .as_ref()
}

/// `html` pointed at the streams' `url` (an `https://` origin, or none: this origin).
fn with_stream_url(html: &str, url: &str) -> Page {
    let origin = url
        .strip_prefix("https://")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':')
        })
        .map(|host| format!("https://{host}"));
    let (html, policy) = match &origin {
        Some(origin) => (
            html.replace(
                STREAM_URL_TAG,
                &format!(r#"<meta name="cynode-stream-url" content="{origin}">"#),
            ),
            SECURITY_POLICY.replace(
                "connect-src 'self'",
                &format!("connect-src 'self' {origin}"),
            ),
        ),
        None => (html.to_owned(), SECURITY_POLICY.to_owned()),
    };
    Page {
        html: html.into_bytes(),
        policy: HeaderValue::from_str(&policy)
            .unwrap_or_else(|_| HeaderValue::from_static(SECURITY_POLICY)),
    }
}

/// The console's routes; they read no state, so any app can hold them.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*file}", get(asset))
}

fn find(name: &str) -> Option<&'static [u8]> {
    CONSOLE_ASSETS
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
}

async fn index() -> Response {
    let Some(page) = page() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The web console was not built into this gateway: run console/build, then \
             build the gateway again (scripts/up does both).\n",
        )
            .into_response();
    };
    let mut response = respond(&page.html, "text/html; charset=utf-8", "no-cache");
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, page.policy.clone());
    response
}

async fn asset(Path(file): Path<String>) -> Response {
    match find(&format!("assets/{file}")) {
        Some(bytes) => respond(
            bytes,
            content_type(&file),
            "public, max-age=31536000, immutable",
        ),
        None => ApiError::request(
            StatusCode::NOT_FOUND,
            ErrorCode::RouteNotFound,
            "no such console asset",
        )
        .into_response(),
    }
}

fn respond(bytes: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("map") | Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_get_their_types() {
        assert_eq!(
            content_type("app-1A2B.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("app-1A2B.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("no-extension"), "application/octet-stream");
    }

    #[test]
    fn the_stream_origin_is_named_in_the_page_and_allowed_by_its_policy() {
        let html = format!("<head>{STREAM_URL_TAG}</head>");
        let page = with_stream_url(&html, "https://abc.lambda-url.eu-west-1.on.aws/");
        let text = String::from_utf8(page.html).unwrap();
        assert!(text.contains(r#"content="https://abc.lambda-url.eu-west-1.on.aws">"#));
        let policy = page.policy.to_str().unwrap();
        assert!(policy.contains("connect-src 'self' https://abc.lambda-url.eu-west-1.on.aws;"));
        for hostile in [
            "",
            "http://plain.example",
            "https://a.example\"><script>",
            "https://",
        ] {
            let page = with_stream_url(&html, hostile);
            assert_eq!(String::from_utf8(page.html).unwrap(), html, "{hostile}");
            assert_eq!(page.policy.to_str().unwrap(), SECURITY_POLICY, "{hostile}");
        }
    }

    #[test]
    fn only_embedded_files_are_found() {
        assert!(find("../Cargo.toml").is_none());
        assert!(find("assets/../index.html").is_none());
    }
}
