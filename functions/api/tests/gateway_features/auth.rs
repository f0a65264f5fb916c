//! Steps of `auth.feature` and `bad_input.feature`'s sign-in cases: users, logins, tokens, sessions.

use super::*;

#[given(expr = "a user {string}")]
async fn a_user(w: &mut GatewayWorld, alias: String) {
    w.user(&alias).await;
}

#[given(expr = "a user {string} who is logged in")]
async fn a_user_logged_in(w: &mut GatewayWorld, alias: String) {
    w.login(&alias).await;
}

#[given(expr = "{string} is logged in")]
async fn is_logged_in(w: &mut GatewayWorld, alias: String) {
    w.login(&alias).await;
}

#[when(expr = "{string} logs in")]
async fn logs_in(w: &mut GatewayWorld, alias: String) {
    let user = w.user(&alias).await;
    w.last = Some(
        w.api()
            .post(
                "/v1/auth/login",
                None,
                &json!({"handle": user.handle, "password": user.password}),
            )
            .await,
    );
    if let Some(entry) = w.users.get_mut(&alias) {
        let body = &w.last.as_ref().unwrap().body;
        entry.token = body["access_token"].as_str().map(str::to_owned);
        entry.refresh = body["refresh_token"].as_str().map(str::to_owned);
    }
}

async fn login_attempt(w: &mut GatewayWorld, alias: &str, password: &str) {
    let handle = match w.users.get(alias) {
        Some(user) => user.handle.clone(),
        None => unique_handle(alias),
    };
    w.last = Some(
        w.api()
            .post(
                "/v1/auth/login",
                None,
                &json!({"handle": handle, "password": password}),
            )
            .await,
    );
}

#[when(expr = "{string} logs in with the password {string}")]
async fn logs_in_with(w: &mut GatewayWorld, alias: String, password: String) {
    login_attempt(w, &alias, &password).await;
}

#[when(expr = "{int} wrong passwords for {string} arrive at once from {word}")]
async fn spray(w: &mut GatewayWorld, count: u32, alias: String, source: String) {
    let handle = w.users[&alias].handle.clone();
    let url = format!("{}/v1/auth/login", w.deployment().url);
    let http = w.api().http.clone();
    let attempts = (0..count).map(|i| {
        let (http, url, handle, source) =
            (http.clone(), url.clone(), handle.clone(), source.clone());
        tokio::spawn(async move {
            http.post(&url)
                .header("x-forwarded-for", source)
                .json(&json!({"handle": handle, "password": format!("spray-{i}")}))
                .send()
                .await
                .expect("the gateway answers")
                .status()
                .as_u16()
        })
    });
    w.statuses.clear();
    for attempt in attempts {
        w.statuses.push(attempt.await.unwrap());
    }
}

#[then(expr = "at most {int} of them were checked and the rest got 429")]
async fn at_most_checked(w: &mut GatewayWorld, limit: usize) {
    let checked = w.statuses.iter().filter(|s| **s == 401).count();
    let throttled = w.statuses.iter().filter(|s| **s == 429).count();
    assert!(
        checked <= limit,
        "{checked} passwords were checked: {:?}",
        w.statuses
    );
    assert_eq!(checked + throttled, w.statuses.len(), "{:?}", w.statuses);
}

#[when(expr = "{string} logs in from {word}")]
async fn logs_in_from(w: &mut GatewayWorld, alias: String, source: String) {
    let user = &w.users[&alias];
    let body = json!({"handle": user.handle, "password": user.password});
    let response = w
        .api()
        .http
        .post(format!("{}/v1/auth/login", w.deployment().url))
        .header("x-forwarded-for", source)
        .json(&body)
        .send()
        .await;
    w.last = Some(to_reply(response.expect("gateway answers")).await);
}

#[when(expr = "{string} creates a task with commands {string} and the Idempotency-Key {string}")]
async fn creates_idempotent(w: &mut GatewayWorld, alias: String, commands: String, key: String) {
    let token = w.users[&alias].token.clone().expect("has a token");
    let response = w
        .api()
        .http
        .post(format!("{}/v1/tasks", w.deployment().url))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"commands": [commands]}))
        .send()
        .await;
    let reply = to_reply(response.expect("gateway answers")).await;
    w.statuses.push(reply.status);
    w.tasks.push(
        reply.body["task_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    w.last = Some(reply);
}

#[then(expr = "both answers name the same task, the first 201 and the second 200")]
async fn same_task_twice(w: &mut GatewayWorld) {
    assert_eq!(w.statuses, vec![201, 200]);
    assert_eq!(w.tasks.len(), 2);
    assert_eq!(w.tasks[0], w.tasks[1]);
    assert!(!w.tasks[0].is_empty());
}

#[when(expr = "{string} logs in with the password {string} {int} times")]
async fn logs_in_with_times(w: &mut GatewayWorld, alias: String, password: String, times: u32) {
    for _ in 0..times {
        login_attempt(w, &alias, &password).await;
        assert_eq!(w.reply().status, 401, "{}", w.reply().body);
    }
}

#[when(regex = r#"^"(\w[\w-]*)" asks who (?:she|he) is$"#)]
async fn asks_who(w: &mut GatewayWorld, alias: String) {
    let token = w.users[&alias].token.clone().expect("has a token");
    w.last = Some(w.api().get("/v1/users/me", Some(&token)).await);
}

#[then(regex = r#"^"(\w[\w-]*)" can ask who (?:she|he) is$"#)]
async fn can_ask_who(w: &mut GatewayWorld, alias: String) {
    asks_who(w, alias).await;
    assert_eq!(w.reply().status, 200, "{}", w.reply().body);
}

#[when(expr = "{string} refreshes her session")]
async fn refreshes(w: &mut GatewayWorld, alias: String) {
    let refresh = w.users[&alias]
        .refresh
        .clone()
        .expect("has a refresh token");
    let reply = w
        .api()
        .post("/v1/auth/refresh", None, &json!({"refresh_token": refresh}))
        .await;
    if reply.status == 200 {
        let entry = w.users.get_mut(&alias).unwrap();
        w.replaced_refresh = entry.refresh.take();
        entry.token = reply.body["access_token"].as_str().map(str::to_owned);
        entry.refresh = reply.body["refresh_token"].as_str().map(str::to_owned);
    }
    w.last = Some(reply);
}

#[when(expr = "{string} refreshes with the replaced refresh token")]
async fn refreshes_with_replaced(w: &mut GatewayWorld, _alias: String) {
    let refresh = w
        .replaced_refresh
        .clone()
        .expect("a replaced refresh token");
    w.last = Some(
        w.api()
            .post("/v1/auth/refresh", None, &json!({"refresh_token": refresh}))
            .await,
    );
}

#[then("the new refresh token differs from the old one")]
async fn refresh_differs(w: &mut GatewayWorld) {
    let new = w.reply().body["refresh_token"]
        .as_str()
        .expect("new refresh token");
    assert_ne!(Some(new), w.replaced_refresh.as_deref());
}

#[when(expr = "{string} logs out")]
async fn logs_out(w: &mut GatewayWorld, alias: String) {
    w.as_user(&alias, Method::POST, "/v1/auth/logout", None)
        .await;
}

#[when(expr = "{string} creates a user {string}")]
async fn creates_user(w: &mut GatewayWorld, alias: String, new: String) {
    let body = json!({"handle": unique_handle(&new), "password": "a-long-password"});
    w.as_user(&alias, Method::POST, "/v1/users", Some(body))
        .await;
}

fn claims_of(token: &str) -> AccessClaims {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64 payload");
    serde_json::from_slice(&bytes).expect("claims")
}

#[when(regex = r"^I ask who I am with (.+)$")]
async fn ask_with(w: &mut GatewayWorld, how: String) {
    let token: Option<String> = if how == "no token" {
        None
    } else if let Some(raw) = how.strip_prefix("the token ") {
        Some(raw.trim_matches('"').to_owned())
    } else if how == "a token signed with another key" {
        let claims = AccessClaims {
            sub: UserId::generate(),
            handle: "x".into(),
            adm: true,
            sid: SessionId::generate(),
            iat: 0,
            exp: i64::MAX / 2,
        };
        Some(
            AccessTokens::new(b"some-other-key-some-other-key-1234", 60)
                .sign(&claims)
                .unwrap(),
        )
    } else if let Some(alias) = how.strip_prefix("an expired token of ") {
        let alias = alias.trim_matches('"');
        let real = w.token(alias).await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            iat: now - 120,
            exp: now - 60,
            ..claims_of(&real)
        };
        Some(
            AccessTokens::new(w.deployment().secrets.jwt_secret.as_bytes(), 60)
                .sign(&claims)
                .unwrap(),
        )
    } else {
        panic!("unknown token kind: {how}");
    };
    w.last = Some(w.api().get("/v1/users/me", token.as_deref()).await);
}
