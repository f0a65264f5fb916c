//! cynork's features (`features/cli/*.feature`): the built `cynork` binary against the
//! real local stack (LocalStack, the `cynode-gateway` binary and a `cynode-edge` node
//! running jobs in Podman). Every scenario gets its own home directory and user.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use cucumber::writer::Stats as _;
use cucumber::{given, then, when, World};
use serde_json::Value;

use cynode_domain::session::AccessTokens;
use cynode_protocol::wire::AccessClaims;
use cynode_testkit::{
    free_port, scratch_dir, unique_handle, Api, Deployment, DeploymentOptions, Service,
};

struct Env {
    deployment: Deployment,
    admin_token: String,
    edge: std::sync::Mutex<Option<Service>>,
    node_name: String,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get()
        .expect("environment is set up before the features run")
}

#[derive(Debug, Clone)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

#[derive(Debug, World)]
#[world(init = Self::new)]
struct CliWorld {
    home: PathBuf,
    handle: String,
    password: String,
    gateway_url: String,
    last: Option<Run>,
    remembered_token: Option<String>,
    remembered_refresh_token: Option<String>,
    saved_token: Option<String>,
    next_cursor: Option<String>,
    /// Two runs made at the same time.
    pair: Option<(Run, Run)>,
    /// The id of the API key last created.
    key_id: Option<String>,
    /// A run id `task runs` listed (`{run}` in a command line).
    run_id: Option<String>,
    /// A handle for a user the scenario has an admin create.
    other: String,
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

impl CliWorld {
    fn new() -> Self {
        Self {
            home: scratch_dir("cli-home"),
            handle: String::new(),
            password: String::new(),
            gateway_url: env().deployment.url.clone(),
            last: None,
            remembered_token: None,
            remembered_refresh_token: None,
            saved_token: None,
            next_cursor: None,
            pair: None,
            key_id: None,
            run_id: None,
            other: unique_handle("other"),
        }
    }

    fn config_path(&self) -> PathBuf {
        self.home.join(".config/cynork/config.yaml")
    }

    fn config(&self) -> serde_yaml_ng::Value {
        let text = std::fs::read_to_string(self.config_path()).unwrap_or_default();
        serde_yaml_ng::from_str(&text).unwrap_or(serde_yaml_ng::Value::Null)
    }

    fn saved_token(&self) -> Option<String> {
        self.config()
            .get("token")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    }

    fn run(&self) -> &Run {
        self.last.as_ref().expect("cynork ran")
    }

    fn expand(&self, text: &str) -> String {
        text.replace("{handle}", &self.handle)
            .replace("{password}", &self.password)
            .replace("{next_cursor}", self.next_cursor.as_deref().unwrap_or(""))
            .replace("{key_id}", self.key_id.as_deref().unwrap_or(""))
            .replace("{run}", self.run_id.as_deref().unwrap_or(""))
            .replace("{node}", &env().node_name)
            .replace("{other}", &self.other)
    }

    async fn cynork(&mut self, line: &str, stdin: Option<&str>, token: Option<&str>) -> Run {
        let words = shell_words::split(&self.expand(line)).expect("a shell-like command line");
        assert_eq!(
            words.first().map(String::as_str),
            Some("cynork"),
            "commands start with cynork"
        );
        let (home, url) = (self.home.clone(), self.gateway_url.clone());
        let stdin = stdin.map(|s| self.expand(&unescape(s)));
        let token = token.map(str::to_owned);
        let run = tokio::task::spawn_blocking(move || {
            let mut command = Command::new(cynode_testkit::binary("cynork"));
            command
                .args(&words[1..])
                .current_dir(&home)
                .env("HOME", &home)
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("XDG_STATE_HOME")
                .env_remove("CYNORK_TOKEN")
                .env("CYNORK_GATEWAY_URL", url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(token) = token {
                command.env("CYNORK_TOKEN", token);
            }
            let mut child = command.spawn().expect("cynork starts");
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                let _ = input.write_all(text.as_bytes());
            }
            drop(input);
            let out = child.wait_with_output().expect("cynork finishes");
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("cynork ran");
        self.last = Some(run.clone());
        run
    }

    async fn new_user(&mut self) {
        self.handle = unique_handle("cli");
        self.password = format!("{}-password", self.handle);
        Api::new(&env().deployment.url)
            .new_user(&env().admin_token, &self.handle, &self.password)
            .await
            .expect("a user");
    }

    async fn log_in(&mut self) {
        let run = self
            .cynork(
                "cynork auth login -u {handle} --password-stdin",
                Some("{password}"),
                None,
            )
            .await;
        assert_eq!(run.code, 0, "login failed: {run:?}");
    }
}

// ------------------------------------------------------------------ setup

#[given("a user exists")]
async fn a_user(w: &mut CliWorld) {
    w.new_user().await;
}

#[given("I am logged in")]
async fn logged_in(w: &mut CliWorld) {
    w.new_user().await;
    w.log_in().await;
}

#[given("I am logged in as the admin")]
async fn logged_in_admin(w: &mut CliWorld) {
    w.handle = "admin".into();
    w.password = env().deployment.secrets.admin_password.clone();
    w.log_in().await;
}

#[given("I am logged in as a new admin")]
async fn logged_in_new_admin(w: &mut CliWorld) {
    w.handle = unique_handle("cli-admin");
    w.password = format!("{}-password", w.handle);
    let body = serde_json::json!({"handle": w.handle, "password": w.password, "is_admin": true});
    let reply = Api::new(&env().deployment.url)
        .post("/v1/users", Some(&env().admin_token), &body)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    w.log_in().await;
}

#[then(expr = "the file {string} holds the bytes {string}")]
async fn file_bytes(w: &mut CliWorld, name: String, hex: String) {
    let bytes = std::fs::read(w.home.join(&name)).expect("the file");
    let expected: Vec<u8> = hex
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex bytes"))
        .collect();
    assert_eq!(bytes, expected);
}

#[when("I log in")]
async fn log_in(w: &mut CliWorld) {
    w.log_in().await;
}

#[given(expr = "the config file contains {string}")]
async fn config_contains(w: &mut CliWorld, text: String) {
    std::fs::create_dir_all(w.config_path().parent().unwrap()).unwrap();
    std::fs::write(w.config_path(), unescape(&text)).unwrap();
}

#[given(expr = "a file {string} containing {string}")]
async fn a_file(w: &mut CliWorld, name: String, content: String) {
    if name != "none" {
        std::fs::write(w.home.join(name), unescape(&content)).unwrap();
    }
}

#[given(expr = "a file {string} of {int} bytes")]
async fn a_sized_file(w: &mut CliWorld, name: String, size: usize) {
    std::fs::write(w.home.join(name), vec![b'#'; size]).unwrap();
}

#[given(expr = "a directory {string}")]
async fn a_directory(w: &mut CliWorld, name: String) {
    std::fs::create_dir_all(w.home.join(name)).unwrap();
}

#[given(expr = "a symlink {string} to {string}")]
async fn a_symlink(w: &mut CliWorld, name: String, target: String) {
    let _ = std::fs::remove_file(w.home.join(&name));
    std::os::unix::fs::symlink(w.home.join(target), w.home.join(name)).unwrap();
}

#[given(regex = r"^I have created (\d+) tasks? that completed$")]
async fn created_completed(w: &mut CliWorld, count: usize) {
    for i in 0..count {
        let run = w
            .cynork(
                &format!("cynork task create --command 'echo {i}' --result"),
                None,
                None,
            )
            .await;
        assert_eq!(run.code, 0, "{run:?}");
    }
}

#[given("I remember my access token")]
async fn remember_token(w: &mut CliWorld) {
    w.remembered_token = w.saved_token();
    assert!(w.remembered_token.is_some());
}

#[then("I remember the first run it listed")]
async fn remember_run(w: &mut CliWorld) {
    w.run_id = w
        .run()
        .stdout
        .split_whitespace()
        .find_map(|word| word.strip_prefix("run="))
        .map(str::to_owned);
    assert!(w.run_id.is_some(), "{:?}", w.run());
}

#[given("I remember the API key it printed as JSON")]
#[when("I remember the API key it printed as JSON")]
#[then("I remember the API key it printed as JSON")]
async fn remember_api_key(w: &mut CliWorld) {
    let created: serde_json::Value =
        serde_json::from_str(w.run().stdout.trim()).expect("one JSON value");
    w.remembered_token = created["key"].as_str().map(str::to_owned);
    w.key_id = created["api_key"]["id"].as_str().map(str::to_owned);
    assert!(
        w.remembered_token
            .as_deref()
            .is_some_and(|k| k.starts_with("cyk_")),
        "{created}"
    );
}

#[when(expr = "I run {string} in two processes at once")]
async fn run_twice_at_once(w: &mut CliWorld, line: String) {
    let mut twin = CliWorld {
        home: w.home.clone(),
        handle: w.handle.clone(),
        password: w.password.clone(),
        ..CliWorld::new()
    };
    let (first, second) = tokio::join!(w.cynork(&line, None, None), twin.cynork(&line, None, None));
    w.pair = Some((first, second));
}

#[then(expr = "both exit with code {int}")]
async fn both_exit(w: &mut CliWorld, code: i32) {
    let (first, second) = w.pair.as_ref().expect("two runs");
    assert_eq!(
        (first.code, second.code),
        (code, code),
        "{first:?}\n{second:?}"
    );
}

#[when("my saved access token expires")]
async fn token_expires(w: &mut CliWorld) {
    let token = w.saved_token().expect("a saved token");
    let payload = token.split('.').nth(1).unwrap();
    let claims: AccessClaims = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = AccessClaims {
        iat: now - 120,
        exp: now - 60,
        ..claims
    };
    let minted = AccessTokens::new(env().deployment.secrets.jwt_secret.as_bytes(), 60)
        .sign(&expired)
        .unwrap();
    let mut config = w.config();
    config["token"] = serde_yaml_ng::Value::String(minted.clone());
    std::fs::write(w.config_path(), serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    w.saved_token = Some(minted);
}

#[when("the gateway address is unreachable")]
async fn gateway_unreachable(w: &mut CliWorld) {
    w.gateway_url = format!("http://127.0.0.1:{}", free_port());
}

#[when("the gateway address is restored")]
async fn gateway_restored(w: &mut CliWorld) {
    w.gateway_url = env().deployment.url.clone();
}

#[when("the gateway address is LocalStack's")]
async fn gateway_is_localstack(w: &mut CliWorld) {
    w.gateway_url = cynode_testkit::endpoint();
}

// ------------------------------------------------------------------ running

#[when(expr = "I run {string}")]
async fn i_run(w: &mut CliWorld, line: String) {
    w.cynork(&line, None, None).await;
}

#[when(expr = "I run {string} with stdin {string}")]
async fn i_run_with_stdin(w: &mut CliWorld, line: String, stdin: String) {
    w.cynork(&line, Some(&stdin), None).await;
}

#[when(expr = "I run {string} with my remembered token in CYNORK_TOKEN")]
async fn i_run_with_token(w: &mut CliWorld, line: String) {
    let token = w.remembered_token.clone().expect("a remembered token");
    w.cynork(&line, None, Some(&token)).await;
}

// ------------------------------------------------------------------ assertions

#[then(expr = "the exit code is {int}")]
async fn exit_code(w: &mut CliWorld, code: i32) {
    assert_eq!(w.run().code, code, "{:?}", w.run());
}

#[then(expr = "stdout is {string}")]
async fn stdout_is(w: &mut CliWorld, expected: String) {
    assert_eq!(
        w.run().stdout.trim_end_matches('\n'),
        unescape(&expected),
        "{:?}",
        w.run()
    );
}

#[then(expr = "stdout mentions {string}")]
async fn stdout_mentions(w: &mut CliWorld, expected: String) {
    assert!(
        w.run().stdout.contains(&unescape(&w.expand(&expected))),
        "{:?}",
        w.run()
    );
}

#[then(expr = "stdout does not mention {string}")]
async fn stdout_lacks(w: &mut CliWorld, unwanted: String) {
    let run = w.run();
    assert!(
        !run.stdout.contains(&unwanted) && !run.stderr.contains(&unwanted),
        "{run:?}"
    );
}

#[then(expr = "stdout mentions {string} followed by my handle")]
async fn stdout_mentions_handle(w: &mut CliWorld, prefix: String) {
    assert!(
        w.run().stdout.contains(&format!("{prefix}{}", w.handle)),
        "{:?}",
        w.run()
    );
}

#[then(expr = "stderr mentions {string}")]
async fn stderr_mentions(w: &mut CliWorld, expected: String) {
    assert!(
        w.run().stderr.contains(&unescape(&expected)),
        "{:?}",
        w.run()
    );
}

fn one_json_value(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON value ({err}): {run:?}"))
}

#[then(regex = r#"^stdout is exactly one JSON value with "([\w.]+)" = (.+)$"#)]
async fn json_value_with(w: &mut CliWorld, path: String, expected: String) {
    let value = one_json_value(w.run());
    let pointer = format!("/{}", path.replace('.', "/"));
    let expected: Value = serde_json::from_str(&expected).expect("a JSON literal");
    assert_eq!(value.pointer(&pointer), Some(&expected), "{value}");
}

#[then(expr = "stdout is exactly one JSON value with a {string} list")]
async fn json_with_list(w: &mut CliWorld, field: String) {
    let value = one_json_value(w.run());
    assert!(
        value[&field]
            .as_array()
            .is_some_and(|list| !list.is_empty()),
        "{value}"
    );
}

#[then("the config file holds a token and has mode 600")]
async fn config_private(w: &mut CliWorld) {
    use std::os::unix::fs::PermissionsExt;
    assert!(w.saved_token().is_some_and(|t| t.split('.').count() == 3));
    let mode = std::fs::metadata(w.config_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[then("the config file holds no token")]
async fn config_no_token(w: &mut CliWorld) {
    assert_eq!(w.saved_token(), None);
    assert!(w.config().get("refresh_token").is_none());
}

fn saved_refresh_token(w: &CliWorld) -> Option<String> {
    w.config()
        .get("refresh_token")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
}

#[given("I remember my refresh token")]
async fn remember_refresh(w: &mut CliWorld) {
    w.remembered_refresh_token = saved_refresh_token(w);
    assert!(w.remembered_refresh_token.is_some());
}

#[then("the saved refresh token has rotated")]
async fn refresh_rotated(w: &mut CliWorld) {
    let now = saved_refresh_token(w).expect("a refresh token");
    assert_ne!(Some(now), w.remembered_refresh_token);
}

#[then("stdout is not empty")]
async fn stdout_not_empty(w: &mut CliWorld) {
    assert!(!w.run().stdout.trim().is_empty(), "{:?}", w.run());
}

#[then(expr = "the line starting {string} has an answer")]
async fn line_has_answer(w: &mut CliWorld, prefix: String) {
    let stdout = &w.run().stdout;
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix}: {stdout}"));
    assert!(line.len() > prefix.len(), "an empty answer: {stdout}");
}

#[then("the saved access token has changed")]
async fn token_changed(w: &mut CliWorld) {
    let now = w.saved_token().expect("a token");
    assert_ne!(Some(now), w.saved_token);
}

#[then(regex = r"^stdout has (\d+) task lines? and (a|no) next_cursor$")]
async fn task_lines(w: &mut CliWorld, count: usize, cursor: String) {
    let lines: Vec<&str> = w.run().stdout.lines().collect();
    let tasks = lines.iter().filter(|l| l.starts_with("task_id=")).count();
    assert_eq!(tasks, count, "{:?}", w.run());
    let next = lines
        .iter()
        .find_map(|l| l.strip_prefix("next_cursor="))
        .map(str::to_owned);
    assert_eq!(next.is_some(), cursor == "a", "{:?}", w.run());
    if next.is_some() {
        w.next_cursor = next;
    }
}

#[then("stdout is one task id")]
async fn one_task_id(w: &mut CliWorld) {
    let out = w.run().stdout.trim();
    assert!(
        out.starts_with("task_") && !out.contains(char::is_whitespace),
        "{:?}",
        w.run()
    );
}

#[then(expr = "the last line of stdout mentions {string}")]
async fn last_line(w: &mut CliWorld, expected: String) {
    let last = w.run().stdout.lines().last().unwrap_or_default().to_owned();
    assert!(last.contains(&expected), "{:?}", w.run());
    assert!(
        w.run().stdout.lines().count() >= 2,
        "watch printed one state only: {:?}",
        w.run()
    );
}

#[then(expr = "the task {string} is not canceled")]
async fn not_canceled(w: &mut CliWorld, name: String) {
    let run = w
        .cynork(&format!("cynork -o json task get {name}"), None, None)
        .await;
    let value = one_json_value(&run);
    assert_ne!(value["status"], "canceled", "{value}");
}

fn history(w: &CliWorld) -> String {
    std::fs::read_to_string(w.home.join(".local/state/cynork/history")).unwrap_or_default()
}

#[then(expr = "the shell history contains {string}")]
async fn history_contains(w: &mut CliWorld, text: String) {
    assert!(history(w).contains(&text), "history: {}", history(w));
}

#[then(expr = "the shell history does not contain {string}")]
async fn history_lacks(w: &mut CliWorld, text: String) {
    assert!(!history(w).contains(&text), "history: {}", history(w));
}

fn main() {
    if let Err(err) = cynode_testkit::require_model_server() {
        eprintln!("{err:#}");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let deployment = Deployment::start("cli-features", DeploymentOptions::default())
        .unwrap_or_else(|err| panic!("cannot start the test deployment: {err:#}"));
    let node_name = unique_handle("cli-edge");
    let edge = deployment
        .start_edge(&node_name, None)
        .unwrap_or_else(|err| panic!("cannot start an edge node: {err:#}"));
    let admin_token = runtime.block_on(deployment.admin_token());
    let _ = ENV.set(Env {
        deployment,
        admin_token,
        edge: std::sync::Mutex::new(Some(edge)),
        node_name,
    });
    // CYNODE_FEATURE=planning.feature runs one file (the harness takes no arguments).
    let features = cynode_testkit::repo_root()
        .join("features/cli")
        .join(std::env::var("CYNODE_FEATURE").unwrap_or_default());
    let failed = runtime.block_on(async {
        CliWorld::cucumber()
            .max_concurrent_scenarios(4)
            .fail_on_skipped()
            .with_default_cli()
            .run(features)
            .await
            .execution_has_failed()
    });
    env().edge.lock().expect("edge lock").take();
    cynode_testkit::finish_features(failed, &env().deployment);
}
