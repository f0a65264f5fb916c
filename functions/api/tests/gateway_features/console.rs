//! Steps of `console.feature`: the console's page and assets as the gateway serves them.

use super::*;

/// A fetched page: status, headers, body.
struct Page(u16, reqwest::header::HeaderMap, String);

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn fetch(w: &mut GatewayWorld, path: &str) -> Page {
    let url = format!("{}{path}", w.deployment().url);
    let response = w
        .api()
        .http
        .get(url)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Page(status, headers, body)
}

#[when(expr = "a browser asks for {string}")]
async fn asks(w: &mut GatewayWorld, path: String) {
    let Page(status, headers, body) = fetch(w, &path).await;
    w.last = Some(Reply {
        status,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        headers,
    });
    w.page = body;
}

fn last(w: &GatewayWorld) -> &Reply {
    w.last.as_ref().expect("a fetched page")
}

#[then(expr = "it gets {int} {string} with {string}")]
async fn gets(w: &mut GatewayWorld, status: u16, content_type: String, cache: String) {
    let reply = last(w);
    assert_eq!(reply.status, status, "{}", w.page);
    assert_eq!(header(&reply.headers, "content-type"), content_type);
    assert_eq!(header(&reply.headers, "cache-control"), cache);
    assert!(w.page.contains("<div id=\"app\">"), "{}", w.page);
}

#[then("its content security policy allows scripts, styles and connections from this origin only, and no framing")]
async fn policy(w: &mut GatewayWorld) {
    let headers = &last(w).headers;
    let policy = header(headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self';",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{directive} missing from {policy}"
        );
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(headers, "x-frame-options"), "DENY");
}

#[then("every asset it names is served with its type and cached for a year")]
async fn assets(w: &mut GatewayWorld) {
    let body = w.page.clone();
    let assets: Vec<&str> = body
        .split('"')
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "{body}"
    );
    for asset in assets {
        let Page(status, headers, text) = fetch(w, asset).await;
        assert_eq!(status, 200, "{asset}");
        let wanted = match asset.ends_with(".js") {
            true => "text/javascript; charset=utf-8",
            false => "text/css; charset=utf-8",
        };
        assert_eq!(header(&headers, "content-type"), wanted, "{asset}");
        assert_eq!(
            header(&headers, "cache-control"),
            "public, max-age=31536000, immutable",
            "{asset}"
        );
        assert!(!text.is_empty(), "{asset}");
    }
}
