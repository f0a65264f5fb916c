//! The LocalStack a test process talks to. By default each test process starts its own
//! through testcontainers: the image `localstack/build-image` builds locally (the same
//! pinned LocalStack `localstack/up` installs), run by Podman behind its Docker-compatible
//! API (`podman system service`), on the host's network at a free port. Suites no longer
//! share one LocalStack or depend on one being started first.
//!
//! `CYNODE_LOCALSTACK=host` uses the LocalStack at `AWS_ENDPOINT_URL` (default
//! localhost:4566) instead: the one `localstack/up` runs, for the benchmarks (which
//! freeze its process) or a quick loop against a running stack.
//!
//! The container lives as long as the test process: it is removed at exit, and one a
//! killed process left behind is removed by the next test process (or `scripts/test`).

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use crate::{free_port, repo_root};

/// Podman's Docker-compatible API, as `scripts/test` and this module start it.
const PODMAN_SOCKET: &str = "/run/podman/podman.sock";
/// The label on every LocalStack a test process starts: its pid.
const OWNER_LABEL: &str = "cynode.test.owner";

struct Started {
    endpoint: String,
    /// Kept so that the container is not removed while the process runs.
    _container: Option<Container<GenericImage>>,
}

static LOCALSTACK: OnceLock<std::result::Result<Started, String>> = OnceLock::new();
static CONTAINER_ID: OnceLock<String> = OnceLock::new();

/// The endpoint of this process's LocalStack, starting it on first use.
pub fn endpoint() -> Result<String> {
    // On a thread of its own: the blocking runner cannot run inside a test's runtime.
    let started = LOCALSTACK.get_or_init(|| {
        std::thread::spawn(|| start().map_err(|err| format!("{err:#}")))
            .join()
            .unwrap_or_else(|_| Err("starting LocalStack panicked".into()))
    });
    match started {
        Ok(started) => Ok(started.endpoint.clone()),
        Err(err) => bail!("cannot start LocalStack for the tests: {err}"),
    }
}

fn start() -> Result<Started> {
    if std::env::var("CYNODE_LOCALSTACK").as_deref() == Ok("host") {
        let endpoint =
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://localhost:4566".into());
        return Ok(Started {
            endpoint,
            _container: None,
        });
    }
    ensure_podman_service()?;
    remove_orphans();
    let image = build_image()?;
    let (name, tag) = image
        .rsplit_once(':')
        .with_context(|| format!("image name without a tag: {image}"))?;
    let port = free_port();
    let started = Instant::now();
    let container = GenericImage::new(name, tag)
        // The host's network (Podman lists no "host" network for `with_network`).
        .with_host_config_modifier(|config| config.network_mode = Some("host".into()))
        .with_env_var("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .with_env_var("LOCALSTACK_HOST", format!("localhost:{port}"))
        .with_label(OWNER_LABEL, std::process::id().to_string())
        .start()
        .context("starting the LocalStack container (is `podman system service` running?)")?;
    let _ = CONTAINER_ID.set(container.id().to_owned());
    // SAFETY: registering a plain `extern "C" fn` with atexit has no preconditions.
    unsafe { libc::atexit(remove_at_exit) };
    let endpoint = format!("http://localhost:{port}");
    wait_healthy(&endpoint, Duration::from_secs(120))?;
    eprintln!(
        "testkit: LocalStack in container {} at {endpoint} (ready in {:.1} s)",
        &container.id()[..12],
        started.elapsed().as_secs_f64()
    );
    Ok(Started {
        endpoint,
        _container: Some(container),
    })
}

/// Builds (or finds) the image; its name is the script's last line.
fn build_image() -> Result<String> {
    let out = Command::new(repo_root().join("localstack/build-image"))
        .output()
        .context("running localstack/build-image")?;
    if !out.status.success() {
        bail!(
            "localstack/build-image failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(str::to_owned)
        .context("localstack/build-image named no image")
}

/// Points testcontainers at Podman's API, starting the service if nothing answers.
fn ensure_podman_service() -> Result<()> {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            return Ok(());
        }
    }
    std::env::set_var("DOCKER_HOST", format!("unix://{PODMAN_SOCKET}"));
    if std::os::unix::net::UnixStream::connect(PODMAN_SOCKET).is_ok() {
        return Ok(());
    }
    std::fs::create_dir_all("/run/podman").context("creating /run/podman")?;
    // Idle for a minute after the last call, it stops by itself.
    Command::new("podman")
        .args(["system", "service", "--time=60"])
        .arg(format!("unix://{PODMAN_SOCKET}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting `podman system service` (is Podman installed? scripts/install-deps)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(PODMAN_SOCKET).is_err() {
        if Instant::now() > deadline {
            bail!("podman system service did not open {PODMAN_SOCKET}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn wait_healthy(endpoint: &str, within: Duration) -> Result<()> {
    let host = endpoint.trim_start_matches("http://");
    let deadline = Instant::now() + within;
    loop {
        if let Ok(health) = crate::http_get(host, "/_localstack/health") {
            if health.contains("\"sqs\": \"available\"") || health.contains("\"sqs\": \"running\"")
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("LocalStack at {endpoint} was not healthy within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Removes the LocalStack containers of test processes that are gone.
fn remove_orphans() {
    let listed = Command::new("podman")
        .args(["ps", "--all", "--filter"])
        .arg(format!("label={OWNER_LABEL}"))
        .args(["--format"])
        .arg(format!(
            "{{{{.ID}}}} {{{{index .Labels \"{OWNER_LABEL}\"}}}}"
        ))
        .output();
    let Ok(listed) = listed else { return };
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let Some((id, pid)) = line.split_once(' ') else {
            continue;
        };
        let alive = pid
            .parse::<i32>()
            .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = Command::new("podman").args(["rm", "--force", id]).output();
        }
    }
}

extern "C" fn remove_at_exit() {
    if let Some(id) = CONTAINER_ID.get() {
        let _ = Command::new("podman")
            .args(["rm", "--force", "--time=1", id])
            .output();
    }
}
