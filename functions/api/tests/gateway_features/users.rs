//! Steps of `users.feature`: changing one's own password, and admins administering users.
//!
//! Password checks and sign-ins here come from an address of the scenario's own (through
//! `X-Forwarded-For`, which this deployment trusts), so that the failures they count do
//! not add up with other scenarios' against the one local address.

use super::*;

impl GatewayWorld {
    /// The scenario's own source address: derived from its first user's unique handle.
    fn source(&self) -> String {
        let seed = self
            .users
            .values()
            .map(|user| user.handle.as_str())
            .min()
            .unwrap_or("none");
        let hash = seed
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        format!("198.18.{}.{}", hash % 250 + 1, (hash / 250) % 250 + 1)
    }

    async fn send_from_own_address(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Reply {
        let mut request = self
            .api()
            .http
            .request(method, format!("{}{path}", self.deployment().url))
            .header("x-forwarded-for", self.source())
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = to_reply(request.send().await.expect("the gateway answers")).await;
        self.last = Some(reply.clone());
        reply
    }

    /// `PATCH /v1/users/{handle of whom}` (an alias the scenario made, or a handle as is).
    async fn change_user(&mut self, who: &str, whom: &str, body: &str) -> Reply {
        let handle = self
            .users
            .get(whom)
            .map_or_else(|| whom.to_owned(), |user| user.handle.clone());
        let token = self.token(who).await;
        let reply = self
            .api()
            .send(
                Method::PATCH,
                &format!("/v1/users/{handle}"),
                Some(&token),
                Some(body.as_bytes().to_vec()),
            )
            .await;
        self.last = Some(reply.clone());
        reply
    }

    async fn change_own_password(&mut self, alias: &str, current: &str, new: &str) -> Reply {
        let token = self.token(alias).await;
        let body = json!({"current_password": current, "new_password": new});
        let reply = self
            .send_from_own_address(Method::POST, "/v1/users/me/password", Some(&token), body)
            .await;
        if reply.status == 200 {
            self.sessions
                .insert("replaced by the change".into(), token.clone());
            let user = self.users.get_mut(alias).expect("a user of the scenario");
            user.password = new.to_owned();
            user.token = reply.body["access_token"].as_str().map(str::to_owned);
            user.refresh = reply.body["refresh_token"].as_str().map(str::to_owned);
        }
        reply
    }
}

#[given(expr = "a user {string} who is an admin")]
async fn an_admin(w: &mut GatewayWorld, alias: String) {
    let handle = unique_handle(&alias);
    let password = format!("{alias}-password-1");
    let body = json!({"handle": handle, "password": password, "is_admin": true});
    let admin = w.admin_token().await;
    let reply = w.api().post("/v1/users", Some(&admin), &body).await;
    assert_eq!(reply.status, 201, "creating {alias}: {}", reply.body);
    w.users.insert(
        alias,
        TestUser {
            handle,
            password,
            token: None,
            refresh: None,
        },
    );
}

#[given(expr = "{string} signs in again as {string}")]
async fn signs_in_again(w: &mut GatewayWorld, alias: String, session: String) {
    let user = w.user(&alias).await;
    let body = json!({"handle": user.handle, "password": user.password});
    let reply = w.api().post("/v1/auth/login", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.body["access_token"].as_str().expect("a token");
    w.sessions.insert(session, token.to_owned());
}

#[when(expr = "the session {string} gets {string}")]
async fn session_gets(w: &mut GatewayWorld, session: String, path: String) {
    let token = w.sessions[&session].clone();
    w.last = Some(w.api().get(&path, Some(&token)).await);
}

#[when(expr = "{string} signs in with the password {string}")]
async fn signs_in_with(w: &mut GatewayWorld, alias: String, password: String) {
    let handle = w.users[&alias].handle.clone();
    let body = json!({"handle": handle, "password": password});
    w.send_from_own_address(Method::POST, "/v1/auth/login", None, body)
        .await;
}

#[when(expr = "{string} changes her password to {string}")]
async fn changes_password(w: &mut GatewayWorld, alias: String, new: String) {
    let current = w.user(&alias).await.password;
    w.change_own_password(&alias, &current, &new).await;
}

#[when(expr = "{string} changes her password giving the current password {string} {int} times")]
async fn changes_with_wrong(w: &mut GatewayWorld, alias: String, wrong: String, times: u32) {
    for _ in 0..times {
        let reply = w
            .change_own_password(&alias, &wrong, "whatever-new-password")
            .await;
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
}

#[when(expr = "{string} lists users {int} at a time until the end")]
async fn lists_users(w: &mut GatewayWorld, alias: String, limit: u32) {
    let token = w.token(&alias).await;
    w.pages.clear();
    let mut cursor: Option<String> = None;
    // Other scenarios' users share the deployment: page through all of them.
    for _ in 0..10_000 {
        let mut path = format!("/v1/users?limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let reply = w.api().get(&path, Some(&token)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let handles: Vec<String> = reply.body["users"]
            .as_array()
            .expect("a users list")
            .iter()
            .map(|user| user["handle"].as_str().expect("a handle").to_owned())
            .collect();
        assert!(handles.len() <= limit as usize, "{handles:?}");
        w.pages.push(handles);
        cursor = reply.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return;
        }
    }
    panic!("the user list did not end");
}

#[then(expr = "the pages hold {string}, {string} and {string} in handle order, one a page")]
async fn pages_hold(w: &mut GatewayWorld, a: String, b: String, c: String) {
    let all: Vec<&String> = w.pages.iter().flatten().collect();
    assert!(w.pages.iter().all(|page| page.len() <= 1), "{:?}", w.pages);
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(all, sorted, "in handle order, each once");
    for alias in [a, b, c] {
        let handle = &w.users[&alias].handle;
        assert!(all.contains(&handle), "{handle} is listed");
    }
}

#[when(regex = r#"^"(\w+)" changes the user "(\w+)" with (.+)$"#)]
async fn changes_user(w: &mut GatewayWorld, who: String, whom: String, body: String) {
    w.change_user(&who, &whom, &body).await;
}

#[when(expr = "{string} resets the password of {string} to {string}")]
async fn resets(w: &mut GatewayWorld, who: String, whom: String, password: String) {
    let handle = w.users[&whom].handle.clone();
    let reply = w
        .as_user(
            &who,
            Method::POST,
            &format!("/v1/users/{handle}/password"),
            Some(json!({"new_password": password})),
        )
        .await;
    if reply.status == 204 {
        w.users.get_mut(&whom).unwrap().password = password;
    }
}

#[when(expr = "{string} creates the user {string} in capitals")]
async fn creates_in_capitals(w: &mut GatewayWorld, who: String, handle: String) {
    let raw = handle.replace(handle.trim(), &unique_handle(handle.trim()).to_uppercase());
    w.created_handle = Some((raw.trim().to_lowercase(), raw.clone()));
    let body = json!({"handle": raw, "password": "a-long-password"});
    w.as_user(&who, Method::POST, "/v1/users", Some(body)).await;
}

#[then("the response field \"handle\" is the created handle in lower case")]
async fn handle_lowered(w: &mut GatewayWorld) {
    let (lowered, raw) = w.created_handle.clone().expect("a user was created");
    assert_ne!(lowered, raw);
    assert_eq!(w.reply().body["handle"], lowered.as_str());
}

#[when(expr = "{string} creates the same user again in lower case")]
async fn creates_again(w: &mut GatewayWorld, who: String) {
    let (lowered, _) = w.created_handle.clone().expect("a user was created");
    let body = json!({"handle": lowered, "password": "a-long-password"});
    w.as_user(&who, Method::POST, "/v1/users", Some(body)).await;
}

#[given(expr = "the fresh deployment's admin {string} and a second admin {string}")]
async fn fresh_admins(w: &mut GatewayWorld, first: String, second: String) {
    let password = w.deployment().secrets.admin_password.clone();
    w.users.insert(
        first.clone(),
        TestUser {
            handle: "admin".into(),
            password,
            token: None,
            refresh: None,
        },
    );
    let handle = unique_handle(&second);
    let body = json!({"handle": handle, "password": "second-password-1", "is_admin": true});
    let reply = w
        .as_user(&first, Method::POST, "/v1/users", Some(body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    w.users.insert(
        second,
        TestUser {
            handle,
            password: "second-password-1".into(),
            token: None,
            refresh: None,
        },
    );
}

#[when(expr = "{string} and {string} drop each other's admin rights at once")]
async fn drop_each_other(w: &mut GatewayWorld, a: String, b: String) {
    let (token_a, token_b) = (w.token(&a).await, w.token(&b).await);
    let (handle_a, handle_b) = (w.users[&a].handle.clone(), w.users[&b].handle.clone());
    let api = w.api();
    let body = || Some(br#"{"is_admin": false}"#.to_vec());
    let (path_a, path_b) = (
        format!("/v1/users/{handle_a}"),
        format!("/v1/users/{handle_b}"),
    );
    let (one, two) = tokio::join!(
        api.send(Method::PATCH, &path_b, Some(&token_a), body()),
        api.send(Method::PATCH, &path_a, Some(&token_b), body()),
    );
    w.statuses = vec![one.status, two.status];
}

#[then("one of them succeeded and the other got 409")]
async fn one_won(w: &mut GatewayWorld) {
    let mut statuses = w.statuses.clone();
    statuses.sort();
    assert_eq!(statuses, vec![200, 409]);
}

#[then(expr = "exactly one of {string} and {string} is still an admin")]
async fn one_admin_left(w: &mut GatewayWorld, a: String, b: String) {
    let mut admins = 0;
    for alias in [a, b] {
        let reply = w.as_user(&alias, Method::GET, "/v1/users/me", None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        admins += usize::from(reply.body["is_admin"] == true);
    }
    assert_eq!(admins, 1);
}
