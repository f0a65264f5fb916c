//! The web console's features (`features/console/*.feature`) in headless Chromium,
//! against the real stack: LocalStack, the `cynode-gateway` binary serving the console
//! and the API on one port, a real `cynode-edge` node with Podman and the model server.
//! Scenarios run one at a time (one node, and the admin scenario drains it). Every page
//! a step looks at is saved as a screenshot under
//! `target/cynode-tests/console-screenshots/`.
//!
//! This file holds the world, the shared deployment, signing in and the admin steps;
//! tasks, chat and planned work are in `work.rs`.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use fantoccini::key::Key;
use serde_json::{json, Value};

use cynode_browser::{Browser, Driver};
use cynode_testkit::{unique_handle, Api, Deployment, DeploymentOptions, Service};

mod work;

const NODE_CONFIG: &str = r#"
job_slots = 2
shutdown_grace_secs = 3
[sandbox]
memory = "128m"
pids = 64
cpus = 1.0
workspace_size = "16m"
"#;

struct Env {
    deployment: Deployment,
    admin_token: String,
    node_name: String,
    edge: Mutex<Option<Service>>,
    driver: Driver,
    screenshots: PathBuf,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get()
        .expect("environment is set up before the features run")
}

fn api() -> Api {
    Api::new(&env().deployment.url)
}

#[derive(Default, World)]
#[world(init = Self::default)]
pub struct ConsoleWorld {
    browser: Option<Browser>,
    /// The scenario's user: alias → (handle, access token).
    users: std::collections::HashMap<String, (String, String)>,
    /// Screenshots taken so far in this scenario.
    shots: u32,
    scenario: String,
    task: Option<String>,
    planned: Option<work::PlannedWork>,
}

impl std::fmt::Debug for ConsoleWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleWorld")
            .field("scenario", &self.scenario)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

impl ConsoleWorld {
    fn browser(&self) -> &Browser {
        self.browser.as_ref().expect("a browser (Given a browser)")
    }

    fn handle(&self, alias: &str) -> String {
        self.users[alias].0.clone()
    }

    fn token(&self, alias: &str) -> String {
        self.users[alias].1.clone()
    }

    /// Saves the window as the scenario's next screenshot, named for what it shows.
    async fn shot(&mut self, what: &str) {
        self.shots += 1;
        let name = format!("{}-{:02}-{what}", self.scenario, self.shots);
        if let Err(err) = self.browser().screenshot(&env().screenshots, &name).await {
            eprintln!("screenshot {name}: {err:#}");
        }
    }

    async fn open(&mut self, fragment: &str) {
        let url = format!("{}/{fragment}", env().deployment.url);
        self.browser().goto(&url).await.expect("the page opens");
    }

    /// Signs in through the sign-in form (the page must show it).
    async fn sign_in(&mut self, handle: &str, password: &str) {
        let browser = self.browser();
        browser
            .fill("handle", handle)
            .await
            .expect("the user field");
        browser
            .fill("password", password)
            .await
            .expect("the password field");
        browser
            .click("button[type=submit]", "Sign in")
            .await
            .expect("the sign-in button");
    }
}

fn ensure_edge() {
    let mut edge = env().edge.lock().expect("edge lock");
    if edge
        .as_mut()
        .is_some_and(|service| service.exited().is_none())
    {
        return;
    }
    *edge = Some(
        env()
            .deployment
            .start_edge(&env().node_name, Some(NODE_CONFIG))
            .unwrap_or_else(|err| panic!("cannot start the edge node: {err:#}")),
    );
}

// ------------------------------------------------------------------ setup

#[given("an edge node is running")]
async fn edge_running(_w: &mut ConsoleWorld) {
    tokio::task::spawn_blocking(ensure_edge).await.unwrap();
    // A scenario before may have drained it.
    let node = &env().node_name;
    let reply = api()
        .post(
            &format!("/v1/admin/nodes/{node}/enable"),
            Some(&env().admin_token),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[given(expr = "a user {string} with the password {string}")]
async fn user_with_password(w: &mut ConsoleWorld, alias: String, password: String) {
    let handle = unique_handle(&alias);
    let token = api()
        .new_user(&env().admin_token, &handle, &password)
        .await
        .expect("a user");
    w.users.insert(alias, (handle, token));
}

#[given("a browser")]
async fn browser(w: &mut ConsoleWorld) {
    w.browser = Some(env().driver.browser(1280, 900).await.expect("a browser"));
}

#[given("a browser the size of a phone")]
async fn phone(w: &mut ConsoleWorld) {
    w.browser = Some(env().driver.browser(390, 844).await.expect("a browser"));
}

#[given(expr = "{string} is signed in")]
async fn signed_in(w: &mut ConsoleWorld, alias: String) {
    w.open("").await;
    let handle = w.handle(&alias);
    w.sign_in(&handle, &format!("{alias}-long-password")).await;
    w.browser()
        .with_text("main h1", "Tasks")
        .await
        .expect("signed in");
}

#[given("the admin is signed in")]
async fn admin_signed_in(w: &mut ConsoleWorld) {
    w.open("").await;
    let password = env().deployment.secrets.admin_password.clone();
    w.sign_in("admin", &password).await;
    w.browser()
        .with_text("header", "(admin)")
        .await
        .expect("signed in as admin");
}

// ------------------------------------------------------------------ signing in

#[when(expr = "{string} signs in with the password {string}")]
async fn signs_in_with(w: &mut ConsoleWorld, alias: String, password: String) {
    w.open("").await;
    w.shot("sign-in").await;
    let handle = w.handle(&alias);
    w.sign_in(&handle, &password).await;
}

#[when(expr = "{string} signs in from the keyboard alone with the password {string}")]
async fn signs_in_by_keyboard(w: &mut ConsoleWorld, alias: String, password: String) {
    let handle = w.handle(&alias);
    // A fresh sign-in page puts the focus in its first field; from there the handle, Tab
    // to the password, the password, Enter: no mouse.
    w.browser().client.refresh().await.expect("reloaded");
    w.browser().find("[name=handle]").await.expect("the form");
    let focused = w.browser().client.active_element().await.expect("a focus");
    let keys = format!(
        "{handle}{}{password}{}",
        char::from(Key::Tab),
        char::from(Key::Enter)
    );
    focused.send_keys(&keys).await.expect("typed");
}

#[then(expr = "the page says {string}")]
async fn page_says(w: &mut ConsoleWorld, text: String) {
    w.browser()
        .with_text("[role=alert]", &text)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    w.shot("says").await;
}

#[then(expr = "the page shows the heading {string}")]
async fn heading(w: &mut ConsoleWorld, text: String) {
    w.browser()
        .with_text("main h1", &text)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    w.shot(&text.to_lowercase()).await;
}

#[then("no part of the page is wider than the screen")]
async fn fits(w: &mut ConsoleWorld) {
    let widths = w
        .browser()
        .client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("measured");
    let (page, screen) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        page <= screen,
        "the page is {page}px wide on a {screen}px screen"
    );
}

#[when("the page is reloaded")]
async fn reload(w: &mut ConsoleWorld) {
    w.browser().client.refresh().await.expect("reloaded");
}

#[then("the browser's storage holds no access token")]
async fn no_access_token(w: &mut ConsoleWorld) {
    let stored = w
        .browser()
        .client
        .execute(
            "return JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage), document.cookie]);",
            vec![],
        )
        .await
        .expect("read the storage");
    let stored = stored.as_str().unwrap_or_default().to_owned();
    // The refresh token is kept for this tab (a reload stays signed in); the access
    // token, which the API takes, lives only in the page's memory.
    assert!(stored.contains("cynode.refresh"), "{stored}");
    assert!(!stored.contains("eyJ"), "a JWT in storage: {stored}");
}

// ------------------------------------------------------------------ admin

#[when("the admin drains the edge node from the nodes page")]
async fn drains(w: &mut ConsoleWorld) {
    w.open("#/admin/nodes").await;
    let node = env().node_name.clone();
    let row = format!("tr[data-node='{node}']");
    w.browser().find(&row).await.expect("the node's row");
    w.shot("nodes").await;
    w.browser().accept_confirmations().await.expect("confirm");
    w.browser()
        .click(&format!("{row} button"), "Drain")
        .await
        .expect("the drain button");
}

#[then(expr = "the node's row says {string}")]
async fn row_says(w: &mut ConsoleWorld, state: String) {
    let row = format!("tr[data-node='{}']", env().node_name);
    w.browser()
        .with_text(&row, &state)
        .await
        .unwrap_or_else(|err| panic!("{err:#}"));
    w.shot("drained").await;
}

#[then(expr = "the gateway lists the node as {string}")]
async fn gateway_lists(_w: &mut ConsoleWorld, state: String) {
    let node = api()
        .get_ok(
            &format!("/v1/admin/nodes/{}", env().node_name),
            &env().admin_token,
        )
        .await;
    assert_eq!(node["state"], json!(state), "{node}");
}

fn scenario_slug(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '-',
        })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-")
}

fn value_text(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string())
}

fn main() {
    cynode_testkit::require_edge_prerequisites();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (deployment, admin_token) = cynode_testkit::feature_deployment(
        &runtime,
        "console-features",
        DeploymentOptions::quick_leases(),
    );
    let driver = Driver::start(&deployment.logs).unwrap_or_else(|err| {
        eprintln!("{err:#}");
        std::process::exit(1);
    });
    let screenshots = cynode_testkit::scratch_root().join("console-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let _ = ENV.set(Env {
        deployment,
        admin_token,
        node_name: unique_handle("console-edge"),
        edge: Mutex::new(None),
        driver,
        screenshots,
    });
    let features = cynode_testkit::repo_root().join("features/console");
    let failed = runtime.block_on(async {
        ConsoleWorld::cucumber()
            .max_concurrent_scenarios(1)
            .fail_on_skipped()
            .before(|_, _, scenario, world| {
                Box::pin(async move {
                    world.scenario = scenario_slug(&scenario.name);
                })
            })
            .after(|_, _, _, _, world| {
                Box::pin(async move {
                    let Some(world) = world else { return };
                    if world.browser.is_some() {
                        // How the page looked at the end, passed or failed.
                        world.shot("end").await;
                    }
                    if let Some(browser) = world.browser.take() {
                        browser.close().await;
                    }
                })
            })
            .with_default_cli()
            .run(features)
            .await
            .execution_has_failed()
    });
    println!("console screenshots: {}", env().screenshots.display());
    env().edge.lock().unwrap().take();
    cynode_testkit::finish_features(failed, &env().deployment);
}

/// How long a step waits for work (a task, a plan) to reach a state.
const WORK_WAIT: Duration = Duration::from_secs(60);
