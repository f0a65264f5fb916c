//! Test support for CyNode's integration tests and features, all against the real local
//! stack: LocalStack (SQS, DynamoDB, S3) and, where needed, Podman.
//!
//! - [`Stack`] provisions a throwaway copy of `infra/template.yaml` on LocalStack under a
//!   unique prefix (through `localstack/provision`, the same path `localstack/up` uses) and
//!   deletes it when dropped, so test runs never see each other's tables or queues.
//! - [`Service`] runs one of the workspace's binaries (gateway, edge node) as a child
//!   process with its output in a log file, and kills it when dropped.
//! - [`binary`] finds a workspace binary that `cargo test --workspace` built.
//! - [`Deployment`] is a stack plus a running gateway (`cynode-gateway`), and can start
//!   edge nodes (`cynode-edge`) against it; [`Api`] is a small HTTP client for steps.

pub mod anthropic;
pub mod forge;
pub mod lambda;
pub mod localstack;
pub mod provider;
pub mod stub_http;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

/// The LocalStack endpoint tests talk to: this process's own (see [`localstack`]),
/// started on first use.
pub fn endpoint() -> String {
    localstack::endpoint().unwrap_or_else(|err| panic!("{err:#}"))
}

/// The standard AWS environment for LocalStack: endpoint, region, static test creds.
pub fn aws_env() -> Vec<(String, String)> {
    let get = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint()),
        ("AWS_REGION".into(), get("AWS_REGION", "us-east-1")),
        ("AWS_ACCESS_KEY_ID".into(), get("AWS_ACCESS_KEY_ID", "test")),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            get("AWS_SECRET_ACCESS_KEY", "test"),
        ),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// Sets [`aws_env`] in this process, for tests that use the adapters in-process.
pub fn use_aws_env() {
    for (name, value) in aws_env() {
        std::env::set_var(name, value);
    }
}

/// The model tests use: what `scripts/model-server` serves.
pub const TEST_MODEL: &str = "smollm2:135m";

/// The real model server tests use (`CYNODE_TEST_MODEL_URL`, default
/// http://127.0.0.1:11434, where `scripts/test` starts `scripts/model-server`).
pub fn model_url() -> String {
    std::env::var("CYNODE_TEST_MODEL_URL").unwrap_or_else(|_| "http://127.0.0.1:11434".into())
}

/// Where the test model's embeddings are made (`CYNODE_TEST_EMBEDDINGS_URL`, default the
/// port after [`model_url`]'s, where `scripts/model-server` starts its second server).
pub fn embeddings_url() -> String {
    std::env::var("CYNODE_TEST_EMBEDDINGS_URL").unwrap_or_else(|_| {
        let url = model_url();
        match url.rsplit_once(':') {
            Some((host, port)) => match port.trim_end_matches('/').parse::<u16>() {
                Ok(port) => format!("{host}:{}", port + 1),
                Err(_) => url,
            },
            None => url,
        }
    })
}

/// Fails with a clear message when the model server does not serve [`TEST_MODEL`].
pub fn require_model_server() -> Result<String> {
    let url = model_url();
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let models = http_get(host, "/v1/models").with_context(|| {
        format!("no model server at {url}; start it with scripts/model-server start")
    })?;
    if !models.contains(TEST_MODEL) {
        bail!("the model server at {url} does not serve {TEST_MODEL}: {models}");
    }
    Ok(url)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives two levels below the root")
        .to_path_buf()
}

/// Where every test's scratch directories are (`target/cynode-tests`).
pub fn scratch_root() -> PathBuf {
    target_dir().join("cynode-tests")
}

/// The remote policy every test node gets unless its configuration has its own: the test
/// repositories under [`scratch_root`] (`file://`), and the forge contract server on
/// loopback.
pub fn test_remotes() -> String {
    format!(
        "\n[remotes]\nfile_roots = [\"{}\"]\nprivate_hosts = [\"127.0.0.1\"]\n",
        scratch_root().display()
    )
}

/// A directory for this run's logs and scratch files, under `target/`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch_root().join(format!("{name}-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

fn target_dir() -> PathBuf {
    // target/debug/deps/<test binary> → target/
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// A workspace binary built by `cargo test --workspace` (or `cargo build`): the newer of
/// the running test's profile's and the debug one (benchmarks run under the release
/// profile, and `cargo bench -p X` builds only X's binaries: another package's release
/// binary may be left from an older build).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let path = [profile.join(name), target_dir().join("debug").join(name)]
        .into_iter()
        .filter(|path| path.exists())
        .max_by_key(|path| modified(path))
        .unwrap_or_else(|| profile.join(name));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding an ephemeral port")
}

/// Fails with a clear message when LocalStack is not running (or cannot be started).
pub fn require_localstack() -> Result<()> {
    let url = localstack::endpoint()?;
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let health = http_get(host, "/_localstack/health")
        .with_context(|| format!("LocalStack is not reachable at {url}"))?;
    if !health.contains("\"dynamodb\"") {
        bail!("{url} answers, but not like LocalStack: {health}");
    }
    Ok(())
}

/// A minimal HTTP/1.0 GET (no dependency needed for a health probe).
fn http_get(host: &str, path: &str) -> Result<String> {
    use std::io::Write;
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// A copy of the deployment on LocalStack under its own prefix.
pub struct Stack {
    pub prefix: String,
    /// `CYNODE_*` resource variables from the stack's outputs (the secrets' ARNs among
    /// them, never their values).
    pub resources: Vec<(String, String)>,
    /// The values Secrets Manager generated for this stack's secrets, read back from
    /// LocalStack (tests log in as the admin, register nodes, mint tokens).
    pub secrets: Secrets,
}

impl Stack {
    /// Provisions a fresh stack. `visibility_timeout_secs` sets the job queue's.
    pub fn provision(visibility_timeout_secs: u32) -> Result<Stack> {
        require_localstack()?;
        let prefix = format!("t{}", unique_suffix());
        let env_file = std::env::temp_dir().join(format!("{prefix}.env"));
        let secrets_file = std::env::temp_dir().join(format!("{prefix}.secrets"));
        let status = Command::new(repo_root().join("localstack/provision"))
            .args(["--prefix", &prefix, "--env-out"])
            .arg(&env_file)
            .args(["--all-secrets", "--secrets-out"])
            .arg(&secrets_file)
            .args(["--visibility-timeout", &visibility_timeout_secs.to_string()])
            .envs(aws_env())
            .status()
            .context("running localstack/provision")?;
        if !status.success() {
            bail!("localstack/provision failed for {prefix}");
        }
        let read = |path: &Path| -> Result<Vec<(String, String)>> {
            let text = std::fs::read_to_string(path)?;
            let _ = std::fs::remove_file(path);
            Ok(text
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect())
        };
        let resources = read(&env_file)?;
        let values = read(&secrets_file)?;
        let value = |name: &str| {
            values
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .with_context(|| format!("provision wrote no {name}"))
        };
        let secrets = Secrets {
            jwt_secret: value("CYNODE_JWT_SECRET")?,
            node_key_secret: value("CYNODE_NODE_KEY_SECRET")?,
            node_psk: value("CYNODE_NODE_PSK")?,
            admin_password: value("CYNODE_ADMIN_PASSWORD")?,
        };
        Ok(Stack {
            prefix,
            resources,
            secrets,
        })
    }

    /// A `CYNODE_*` output of the stack, if it has it.
    pub fn get(&self, name: &str) -> Option<String> {
        self.resources
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn resource(&self, name: &str) -> String {
        self.get(name)
            .unwrap_or_else(|| panic!("stack output {name} missing"))
    }

    /// AWS and resource variables for a process that uses this stack.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = aws_env();
        env.extend(self.resources.iter().cloned());
        env
    }

    /// Sets [`Stack::env`] in this process.
    pub fn use_env(&self) {
        for (name, value) in self.env() {
            std::env::set_var(name, value);
        }
    }
}

impl Stack {
    /// Deletes the stack (unless `CYNODE_KEEP_STACKS` is set, to inspect a failure).
    pub fn delete(&self) {
        if std::env::var_os("CYNODE_KEEP_STACKS").is_some() {
            return;
        }
        let _ = Command::new(repo_root().join("localstack/provision"))
            .args(["--prefix", &self.prefix, "--delete"])
            .envs(aws_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

static SHARED_STACK: std::sync::OnceLock<Stack> = std::sync::OnceLock::new();

extern "C" fn delete_shared_stack() {
    if let Some(stack) = SHARED_STACK.get() {
        stack.delete();
    }
}

impl Stack {
    /// One stack for the whole test process, deleted when the process exits. For test
    /// binaries whose tests share a deployment (statics are never dropped).
    pub fn shared() -> &'static Stack {
        SHARED_STACK.get_or_init(|| {
            let stack = Stack::provision(5)
                .unwrap_or_else(|err| panic!("cannot provision a test stack: {err:#}"));
            // SAFETY: registering a plain extern "C" function; it runs once at exit.
            unsafe {
                libc::atexit(delete_shared_stack);
            }
            stack
        })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.delete();
    }
}

/// A child process with its output captured to a log file; killed on drop.
pub struct Service {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    /// Dropping it sends SIGTERM first (see [`Service::stop_gracefully`]).
    graceful: bool,
}

impl Service {
    pub fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        log_dir: &Path,
    ) -> Result<Service> {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        // A child gets AWS credentials only when `env` gives them (not inherited from a
        // test process that set them for its own in-process clients).
        let child = Command::new(program)
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Service {
            name: name.into(),
            log,
            child,
            graceful: false,
        })
    }

    /// When dropped, the service gets SIGTERM and 10 s to exit before SIGKILL, so that
    /// it cleans up (an edge node removes its warm sandboxes).
    pub fn stop_gracefully(mut self) -> Self {
        self.graceful = true;
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's output so far (for failure messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until `ready` holds, failing early if the process exits.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited ({status}) before {what}:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "{} did not get {what} within {timeout:?}:\n{}",
            self.name,
            self.output()
        )
    }

    /// Sends a signal (`kill -<signal>`).
    pub fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {} failed", self.pid());
        }
        Ok(())
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("{} still running after {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Ends a features run: stops the deployment, points at its logs on failure, and exits
/// with the run's outcome.
pub fn finish_features(failed: bool, deployment: &Deployment) {
    deployment.shutdown();
    if failed {
        eprintln!("gateway and edge node logs: {}", deployment.logs.display());
        std::process::exit(1);
    }
}

impl Drop for Service {
    /// SIGKILL; for a service that stops gracefully, SIGTERM first.
    fn drop(&mut self) {
        if self.graceful && self.exited().is_none() {
            // SAFETY: kill has no memory-safety preconditions; the pid is our child's,
            // not yet reaped.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The values of a test stack's secrets, as Secrets Manager (LocalStack's) generated them.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub jwt_secret: String,
    pub node_key_secret: String,
    pub node_psk: String,
    pub admin_password: String,
}

/// Knobs of a test deployment.
#[derive(Debug, Clone)]
pub struct DeploymentOptions {
    /// The job queue's visibility timeout (how soon an abandoned job comes back).
    pub visibility_timeout_secs: u32,
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    /// More `CYNODE_*` settings for the gateway.
    pub gateway_env: Vec<(String, String)>,
}

impl Default for DeploymentOptions {
    fn default() -> Self {
        Self {
            visibility_timeout_secs: 30,
            lease_secs: 30,
            heartbeat_secs: 2,
            gateway_env: vec![],
        }
    }
}

impl DeploymentOptions {
    /// These options, with the egress allowed to call plain-HTTP providers on the loopback
    /// (the stand-in provider).
    pub fn with_loopback_egress(mut self) -> Self {
        self.gateway_env
            .push(("CYNODE_EGRESS_PLAIN_HTTP_HOSTS".into(), "127.0.0.1".into()));
        self
    }

    /// For edge features: jobs of a killed node come back quickly (short leases and
    /// visibility timeout), and heartbeats (which carry a job's progress) every second.
    pub fn quick_leases() -> Self {
        Self {
            visibility_timeout_secs: 6,
            lease_secs: 10,
            heartbeat_secs: 1,
            gateway_env: vec![],
        }
    }
}

/// Exits 1 with what to do unless the sandbox image and the model server edge features
/// need are there.
pub fn require_edge_prerequisites() {
    let image = Command::new("podman")
        .args(["image", "exists", "localhost/cynode-sandbox:latest"])
        .status();
    if !image.is_ok_and(|s| s.success()) {
        eprintln!("the sandbox image is missing: run edge-node/sandbox/build-image.sh (scripts/test does)");
        std::process::exit(1);
    }
    if let Err(err) = require_model_server() {
        eprintln!("{err:#}");
        std::process::exit(1);
    }
}

/// A feature suite's deployment, with the standard AWS environment set for its steps,
/// and the admin's access token. Panics with the reason if it cannot start.
pub fn feature_deployment(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    options: DeploymentOptions,
) -> (Deployment, String) {
    let deployment = Deployment::start(name, options)
        .unwrap_or_else(|err| panic!("cannot start the test deployment: {err:#}"));
    use_aws_env();
    let admin_token = runtime.block_on(deployment.admin_token());
    (deployment, admin_token)
}

/// A provisioned stack with a gateway serving it on a local port.
pub struct Deployment {
    pub stack: Stack,
    pub secrets: Secrets,
    pub port: u16,
    pub url: String,
    pub logs: PathBuf,
    options: DeploymentOptions,
    gateway: std::sync::Mutex<Option<Service>>,
}

impl Deployment {
    pub fn start(name: &str, options: DeploymentOptions) -> Result<Deployment> {
        let stack = Stack::provision(options.visibility_timeout_secs)?;
        let port = free_port();
        let logs = scratch_dir(name);
        // The deploy-time step: the admin user, once, from the admin password secret.
        let bootstrap = Command::new(binary("cynode-bootstrap"))
            .envs(stack.env())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.join("bootstrap.log"))?)
            .status()
            .context("running cynode-bootstrap")?;
        if !bootstrap.success() {
            bail!(
                "cynode-bootstrap failed; see {}",
                logs.join("bootstrap.log").display()
            );
        }
        let deployment = Deployment {
            secrets: stack.secrets.clone(),
            stack,
            port,
            url: format!("http://127.0.0.1:{port}"),
            logs,
            options,
            gateway: std::sync::Mutex::new(None),
        };
        deployment.start_gateway()?;
        Ok(deployment)
    }

    /// The gateway's environment: the stack (with the secrets' ARNs: the gateway fetches
    /// their values from LocalStack's Secrets Manager, as a function does on AWS) and the
    /// settings.
    pub fn gateway_env(&self) -> Vec<(String, String)> {
        let mut env = self.stack.env();
        env.extend([
            (
                "CYNODE_LISTEN".to_owned(),
                format!("127.0.0.1:{}", self.port),
            ),
            (
                "CYNODE_JOB_LEASE_SECS".to_owned(),
                self.options.lease_secs.to_string(),
            ),
            (
                "CYNODE_HEARTBEAT_INTERVAL_SECS".to_owned(),
                self.options.heartbeat_secs.to_string(),
            ),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ]);
        env.extend(self.options.gateway_env.iter().cloned());
        env
    }

    pub fn start_gateway(&self) -> Result<()> {
        let mut slot = self.gateway.lock().expect("gateway lock");
        if slot.is_some() {
            return Ok(());
        }
        let mut gateway = Service::start(
            "gateway",
            &binary("cynode-gateway"),
            &[],
            &self.gateway_env(),
            &self.logs,
        )?;
        let port = self.port;
        gateway.wait_until("listening", Duration::from_secs(30), || port_open(port))?;
        *slot = Some(gateway);
        Ok(())
    }

    pub fn stop_gateway(&self) {
        self.gateway.lock().expect("gateway lock").take();
    }

    /// Stops the gateway and deletes the stack, for deployments kept in statics (which
    /// are never dropped).
    pub fn shutdown(&self) {
        self.stop_gateway();
        self.stack.delete();
    }

    /// Logs in as the bootstrapped admin; returns the access token.
    pub async fn admin_token(&self) -> String {
        Api::new(&self.url)
            .login("admin", &self.secrets.admin_password)
            .await
            .unwrap_or_else(|err| panic!("admin login: {err:#}"))
            .0
    }

    /// The environment an edge node named `name` runs with: the LocalStack endpoint and
    /// region, but no AWS credentials (the gateway issues the node its own).
    pub fn edge_env(&self, name: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = aws_env()
            .into_iter()
            .filter(|(name, _)| {
                !name.starts_with("AWS_ACCESS_KEY") && !name.starts_with("AWS_SECRET")
            })
            .collect();
        env.extend([
            ("CYNODE_GATEWAY_URL".to_owned(), self.url.clone()),
            ("CYNODE_NODE_PSK".to_owned(), self.secrets.node_psk.clone()),
            ("CYNODE_NODE_NAME".to_owned(), name.to_owned()),
            (
                "CYNODE_EDGE_STATE_DIR".to_owned(),
                self.logs
                    .join(format!("{name}-state"))
                    .display()
                    .to_string(),
            ),
            ("RUST_LOG".to_owned(), "info".to_owned()),
            // Nodes serve the real test model unless a scenario says otherwise.
            ("CYNODE_INFERENCE_URL".to_owned(), model_url()),
            ("CYNODE_EMBEDDINGS_URL".to_owned(), embeddings_url()),
            // A proxy setting of the node's (unused: all its traffic here is plain
            // HTTP) that must never reach a job.
            (
                "HTTPS_PROXY".to_owned(),
                "http://proxy.invalid:3128".to_owned(),
            ),
        ]);
        env
    }

    /// Starts an edge node and waits until it polls for jobs. `config` is the TOML
    /// config file's text, if any; without a `[remotes]` section of its own it gets
    /// [`test_remotes`].
    pub fn start_edge(&self, name: &str, config: Option<&str>) -> Result<Service> {
        self.start_edge_with(name, config, &[])
    }

    /// [`Deployment::start_edge`] with more environment (later entries win), e.g.
    /// `CYNODE_INFERENCE_URL=""` for a node without models.
    pub fn start_edge_with(
        &self,
        name: &str,
        config: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Service> {
        let mut text = config.unwrap_or_default().to_owned();
        if !text.contains("[remotes]") {
            text.push_str(&test_remotes());
        }
        let path = self.logs.join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        let args: Vec<String> = vec!["--config".to_owned(), path.display().to_string()];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let before =
            std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default();
        let started = before.matches("waiting for jobs").count();
        let mut full_env = self.edge_env(name);
        full_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut edge = Service::start(name, &binary("cynode-edge"), &args, &full_env, &self.logs)?
            .stop_gracefully();
        let log = edge.log.clone();
        edge.wait_until("to poll for jobs", Duration::from_secs(60), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("waiting for jobs")
                .count()
                > started
        })?;
        Ok(edge)
    }
}

/// A minimal JSON-over-HTTP client for steps.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

/// A response: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// `body.error.code`, if this is an error.
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(|v| v.as_str())
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("reading a response");
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// `GET path`, which must answer 200; its body.
    pub async fn get_ok(&self, path: &str, token: &str) -> serde_json::Value {
        let reply = self.get(path, Some(token)).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        reply.body
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            token,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Uploads `content` as an attachment named `name` (through its presigned URL);
    /// returns its id.
    pub async fn upload_attachment(&self, token: &str, name: &str, content: &str) -> String {
        let reply = self
            .post(
                "/v1/attachments",
                Some(token),
                &serde_json::json!({"name": name, "size": content.len()}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let put = self
            .http
            .put(reply.body["upload_url"].as_str().expect("an upload URL"))
            .body(content.to_owned())
            .send()
            .await
            .expect("the bucket answers");
        assert!(put.status().is_success(), "upload: {}", put.status());
        reply.body["attachment_id"]
            .as_str()
            .expect("an attachment id")
            .to_owned()
    }

    /// Logs in; returns the access token and refresh token.
    pub async fn login(&self, handle: &str, password: &str) -> Result<(String, String)> {
        let reply = self
            .post(
                "/v1/auth/login",
                None,
                &serde_json::json!({"handle": handle, "password": password}),
            )
            .await;
        if reply.status != 200 {
            bail!("login of {handle} failed: {} {}", reply.status, reply.body);
        }
        let field = |name: &str| reply.body[name].as_str().unwrap_or_default().to_owned();
        Ok((field("access_token"), field("refresh_token")))
    }

    /// Creates a user (as admin) and logs them in; returns their access token.
    pub async fn new_user(
        &self,
        admin_token: &str,
        handle: &str,
        password: &str,
    ) -> Result<String> {
        let reply = self
            .post(
                "/v1/users",
                Some(admin_token),
                &serde_json::json!({"handle": handle, "password": password}),
            )
            .await;
        if reply.status != 201 {
            bail!("creating {handle} failed: {} {}", reply.status, reply.body);
        }
        Ok(self.login(handle, password).await?.0)
    }

    /// Polls a task until `done` holds for it or `timeout` passes.
    pub async fn wait_for_task(
        &self,
        token: &str,
        task: &str,
        timeout: Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.get(&format!("/v1/tasks/{task}"), Some(token)).await;
            if reply.status == 200 && done(&reply.body) {
                return Ok(reply.body);
            }
            if Instant::now() > deadline {
                bail!(
                    "task {task} did not get there within {timeout:?}; last seen: {}",
                    reply.body
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A unique handle for a test user.
pub fn unique_handle(prefix: &str) -> String {
    format!("{prefix}-{}", unique_suffix())
}

/// Prints one benchmark line (p50, p99, max in milliseconds) and returns the p50.
/// Prints the p50 of `rates` (tokens a second) under `name`; returns it.
pub fn summarize_rates(name: &str, mut rates: Vec<f64>) -> f64 {
    assert!(!rates.is_empty(), "no rates for {name}");
    rates.sort_by(f64::total_cmp);
    let p50 = rates[rates.len() / 2];
    println!("{name:<48} n={:<4} p50={p50:>8.1} tokens/s", rates.len());
    p50
}

pub fn summarize(name: &str, mut samples: Vec<Duration>) -> Duration {
    assert!(!samples.is_empty(), "no samples for {name}");
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<48} n={:<4} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*samples.last().expect("not empty"))
    );
    at(0.5)
}
