//! The Lambda runtime API emulator (`cargo lambda watch --only-lambda-apis`), with built
//! function binaries attached to it as their own processes: requests reach a function
//! through the emulator's function URL endpoint (`/lambda-url/<function>/<path>`) or its
//! invoke API, and the function serves them through its real Lambda entry point
//! (`lambda_http::run`, `run_with_streaming_response`, `lambda_runtime::run`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{binary, free_port, port_open, Service};

/// A running emulator; stopped on drop.
pub struct LambdaEmulator {
    pub port: u16,
    log_dir: PathBuf,
    child: Child,
}

impl LambdaEmulator {
    /// Starts the emulator on a free port (`cargo lambda`, from `pip install
    /// cargo-lambda`, must be on the PATH).
    pub fn start(log_dir: &Path) -> Result<LambdaEmulator> {
        let port = free_port();
        let log = std::fs::File::create(log_dir.join("lambda-emulator.log"))?;
        let child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(crate::repo_root())
            // It stops when its standard input closes: keep a pipe open until drop.
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting `cargo lambda watch` (pip install cargo-lambda)")?;
        let mut emulator = LambdaEmulator {
            port,
            log_dir: log_dir.to_owned(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_open(port) {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                bail!(
                    "cargo lambda watch exited ({status}): {}",
                    std::fs::read_to_string(log_dir.join("lambda-emulator.log"))
                        .unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("cargo lambda watch did not listen on {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(emulator)
    }

    /// The environment Lambda gives a function named `name`.
    pub fn function_env(&self, name: &str, memory_mb: u32) -> Vec<(String, String)> {
        vec![
            (
                "AWS_LAMBDA_RUNTIME_API".into(),
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), name.into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "1".into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                memory_mb.to_string(),
            ),
        ]
    }

    /// Starts the built binary `name` (e.g. `cynode-chat`) as that function, with `env`
    /// besides Lambda's own variables.
    pub fn start_function(&self, name: &str, env: &[(String, String)]) -> Result<Service> {
        let mut full = env.to_vec();
        full.extend(self.function_env(name, 256));
        Service::start(name, &binary(name), &[], &full, &self.log_dir)
    }

    /// The function URL of `name` for `path` (starting with `/`).
    pub fn url(&self, name: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/{name}{path}", self.port)
    }

    /// The invoke API of `name` (what `aws lambda invoke` calls).
    pub fn invoke_url(&self, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{name}/invocations",
            self.port
        )
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
