//! Generic steps: statuses, error codes, bodies, headers.

use super::*;

#[then(expr = "the response status is {int}")]
async fn status_is(w: &mut GatewayWorld, status: u16) {
    assert_eq!(w.reply().status, status, "body: {}", w.reply().body);
}

#[then(expr = "the error code is {string}")]
async fn error_code_is(w: &mut GatewayWorld, code: String) {
    assert_eq!(
        w.reply().error_code(),
        Some(code.as_str()),
        "body: {}",
        w.reply().body
    );
}

#[then("the error has a message and a request id")]
async fn error_has_message(w: &mut GatewayWorld) {
    let error = &w.reply().body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    assert!(
        error["request_id"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
}

#[then(regex = r#"^the response field "([^"]+)" is ("(?:[^"\\]|\\.)*"|true|false|-?\d+)$"#)]
async fn field_is(w: &mut GatewayWorld, field: String, expected: String) {
    let expected: Value =
        if let Some(text) = expected.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
            Value::String(unescape(text))
        } else {
            serde_json::from_str(&expected).expect("a JSON literal")
        };
    // `a.0.b` reaches into objects and arrays.
    let body = &w.reply().body;
    let found = body
        .pointer(&format!("/{}", field.replace('.', "/")))
        .unwrap_or(&Value::Null);
    assert_eq!(found, &expected, "body: {body}");
}

#[then(regex = r#"^the response field "([^"]+)" is (\w+)'s handle$"#)]
async fn field_is_handle(w: &mut GatewayWorld, field: String, alias: String) {
    assert_eq!(
        w.reply().body[&field].as_str(),
        Some(w.users[&alias].handle.as_str())
    );
}

#[then(expr = "the response has no field {string}")]
async fn no_field(w: &mut GatewayWorld, field: String) {
    assert!(
        w.reply().body.get(&field).is_none(),
        "body: {}",
        w.reply().body
    );
}

#[then("the response has an access token and a refresh token")]
async fn has_tokens(w: &mut GatewayWorld) {
    let body = &w.reply().body;
    assert_eq!(
        body["access_token"].as_str().map(|t| t.split('.').count()),
        Some(3),
        "{body}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("rt_")),
        "{body}"
    );
    assert_eq!(body["token_type"], "Bearer");
}

#[then(regex = r"^the response has an? ([A-Za-z-]+) header$")]
async fn has_header(w: &mut GatewayWorld, header: String) {
    assert!(
        w.reply().headers.contains_key(header.as_str()),
        "headers: {:?}",
        w.reply().headers
    );
}

#[then("I remember the response")]
async fn remember(w: &mut GatewayWorld) {
    w.remembered = w.last.clone();
}

#[then("the response is the same error as the one I remembered")]
async fn same_error(w: &mut GatewayWorld) {
    let (a, b) = (w.remembered.as_ref().unwrap(), w.reply());
    assert_eq!(a.status, b.status);
    assert_eq!(a.body["error"]["code"], b.body["error"]["code"]);
    assert_eq!(a.body["error"]["message"], b.body["error"]["message"]);
}

#[when(expr = "I get {string}")]
async fn i_get(w: &mut GatewayWorld, path: String) {
    w.last = Some(w.api().get(&path, None).await);
}

#[when(expr = "{string} gets {string}")]
async fn user_gets(w: &mut GatewayWorld, alias: String, path: String) {
    let path = w.path(&path);
    w.as_user(&alias, Method::GET, &path, None).await;
}

#[when(expr = "{string} sends DELETE to {string}")]
async fn user_deletes(w: &mut GatewayWorld, alias: String, path: String) {
    let path = w.path(&path);
    w.as_user(&alias, Method::DELETE, &path, None).await;
}

#[when(regex = r#"^"(\w+)" posts to "([^"]+)" the body (.+)$"#)]
async fn posts_body(w: &mut GatewayWorld, alias: String, path: String, body: String) {
    let path = w.path(&path);
    // "nobody" sends no token.
    let token = match alias.as_str() {
        "nobody" => None,
        _ => Some(w.token(&alias).await),
    };
    w.last = Some(
        w.api()
            .send(
                Method::POST,
                &path,
                token.as_deref(),
                Some(body.into_bytes()),
            )
            .await,
    );
}

#[when(regex = r#"^"(\w+)" patches "([^"]+)" with the body (.+)$"#)]
async fn patches_body(w: &mut GatewayWorld, alias: String, path: String, body: String) {
    let token = w.token(&alias).await;
    w.last = Some(
        w.api()
            .send(Method::PATCH, &path, Some(&token), Some(body.into_bytes()))
            .await,
    );
}

#[then(expr = "the response body does not contain {string}")]
async fn body_lacks(w: &mut GatewayWorld, text: String) {
    let body = w.reply().body.to_string();
    assert!(!body.contains(&text), "{body}");
}

#[when(expr = "{string} posts to {string} a body of {int} bytes")]
async fn posts_size(w: &mut GatewayWorld, alias: String, path: String, size: usize) {
    let frame = r#"{"prompt": ""}"#.len();
    let body = format!(r#"{{"prompt": "{}"}}"#, "x".repeat(size - frame));
    assert_eq!(body.len(), size);
    let token = w.token(&alias).await;
    w.last = Some(
        w.api()
            .send(Method::POST, &path, Some(&token), Some(body.into_bytes()))
            .await,
    );
}
