//! The node's own git processes, run so that nothing but their arguments decides what
//! they do: no system or user configuration (only the workspace's own file), no hooks,
//! no terminal or askpass prompts, no inherited `GIT_*` variables, one allowed transport,
//! no redirects, and the credential only as a header bound to the repository's origin
//! (or, for ssh, only the project's deploy key with a fixed known-hosts file).
//!
//! Git never runs in a directory a sandbox wrote: the node's repositories are its own,
//! and a worker's change reaches them only as a bundle file (see [`super::change`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;

use super::policy::Remote;

/// How long one git command may take (a clone of a large repository included).
const GIT_DEADLINE: Duration = Duration::from_secs(600);
/// Characters of git's own words kept in an error.
const GIT_WORDS: usize = 300;

/// How git reaches a remote: the transport it may use, and what it authenticates with.
#[derive(Clone, Default)]
pub struct Access {
    /// `GIT_ALLOW_PROTOCOL`: the one transport allowed (none: local work only, `file`).
    protocol: Option<&'static str>,
    /// `-c` settings beyond the fixed ones (`http.<origin>.extraHeader`, pinning).
    config: Vec<(String, String)>,
    /// `GIT_SSH_COMMAND`, for ssh remotes.
    ssh_command: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Local work (clones between the node's own directories, reading a bundle).
    pub fn local() -> Access {
        Access {
            protocol: Some("file"),
            ..Access::default()
        }
    }

    /// Access to `remote` with the project's `credential`: for http(s), a Basic header
    /// (`x-access-token:<token>`, which GitHub, Gitea and GitLab accept) sent only to the
    /// repository's origin, with the resolved address pinned; for ssh, the deploy key
    /// written to `key_file` (0600) and nothing else of the node's.
    pub fn remote(
        remote: &Remote,
        credential: Option<&str>,
        key_file: &Path,
    ) -> Result<Access, String> {
        let mut access = Access {
            protocol: Some(remote.protocol()),
            ..Access::default()
        };
        match remote {
            Remote::Http { origin, pin, .. } => {
                access
                    .config
                    .push(("http.curloptResolve".into(), pin.clone()));
                if let Some(token) = credential {
                    let pair = format!("x-access-token:{token}");
                    access.config.push((
                        format!("http.{origin}.extraHeader"),
                        format!(
                            "Authorization: Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        ),
                    ));
                }
            }
            Remote::File { .. } => {}
            Remote::Ssh { known_hosts, .. } => {
                let key = credential.ok_or("an ssh repository needs the project's deploy key")?;
                write_private(key_file, key)
                    .map_err(|err| format!("writing the deploy key: {err}"))?;
                access.ssh_command = Some(ssh_command(key_file, known_hosts));
            }
        }
        Ok(access)
    }
}

/// `ssh` with only the given key and known hosts: no config file, agent, other
/// identities, prompts or host-key trust on first use.
fn ssh_command(key: &Path, known_hosts: &Path) -> String {
    format!(
        "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes \
         -o StrictHostKeyChecking=yes -o UserKnownHostsFile='{}' -o GlobalKnownHostsFile=/dev/null \
         -o ProxyCommand=none -o ProxyJump=none -o PermitLocalCommand=no -o ForwardAgent=no",
        key.display(),
        known_hosts.display()
    )
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Runs git for one workspace: its configuration file is the only one git reads.
#[derive(Debug, Clone)]
pub struct Git {
    config: PathBuf,
}

/// A failed git command: the node's description, and git's own words (for the node's
/// log; shown to a user only when they came from the user's own remote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitError {
    pub command: String,
    pub words: String,
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "git {} failed: {}", self.command, self.words)
    }
}

impl Git {
    /// Git configured by the file `config` alone (written empty if absent).
    pub fn new(config: PathBuf) -> std::io::Result<Git> {
        if !config.exists() {
            std::fs::write(&config, "")?;
        }
        Ok(Git { config })
    }

    /// Runs `git args` in `dir` with `access`; returns stdout.
    pub async fn run(
        &self,
        dir: Option<&Path>,
        access: &Access,
        args: &[&str],
    ) -> Result<String, GitError> {
        let mut command = tokio::process::Command::new("git");
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("GIT_") {
                command.env_remove(name);
            }
        }
        command
            .args(["-c", "core.hooksPath=/dev/null"])
            .args(["-c", "core.fsmonitor=false"])
            .args(["-c", "http.followRedirects=false"])
            .args(["-c", "transfer.fsckObjects=true"])
            .args(["-c", "credential.helper="])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", &self.config)
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .env("GIT_ALLOW_PROTOCOL", access.protocol.unwrap_or("file"))
            .env_remove("SSH_ASKPASS")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // Settings that carry a credential go through the environment, never argv.
        command.env("GIT_CONFIG_COUNT", access.config.len().to_string());
        for (i, (key, value)) in access.config.iter().enumerate() {
            command
                .env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        match &access.ssh_command {
            Some(ssh) => command.env("GIT_SSH_COMMAND", ssh),
            None => command.env("GIT_SSH_COMMAND", "false"),
        };
        let name = args
            .iter()
            .find(|a| !a.starts_with('-') && !a.contains('='))
            .copied()
            .unwrap_or_default()
            .to_owned();
        let failed = |words: String| GitError {
            command: name.clone(),
            words,
        };
        let output = tokio::time::timeout(GIT_DEADLINE, command.output())
            .await
            .map_err(|_| failed(format!("took longer than {GIT_DEADLINE:?}")))?
            .map_err(|err| failed(format!("cannot run git: {err}")))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        // git's own verdict (`fatal:`/`error:`), else its last words.
        let last = stderr
            .lines()
            .find_map(|line| {
                line.strip_prefix("fatal: ")
                    .or_else(|| line.strip_prefix("error: "))
            })
            .or_else(|| stderr.lines().rev().find(|line| !line.trim().is_empty()))
            .unwrap_or("no message");
        Err(failed(last.trim().chars().take(GIT_WORDS).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_header_is_bound_to_the_repositorys_origin() {
        let remote = Remote::Http {
            url: "https://git.example/acme/w.git".into(),
            origin: "https://git.example/".into(),
            pin: "git.example:443:1.1.1.1".into(),
        };
        let access = Access::remote(&remote, Some("tok"), Path::new("/nonexistent")).unwrap();
        assert_eq!(access.protocol, Some("https"));
        assert_eq!(
            access.config,
            vec![
                (
                    "http.curloptResolve".to_owned(),
                    "git.example:443:1.1.1.1".to_owned()
                ),
                (
                    "http.https://git.example/.extraHeader".to_owned(),
                    "Authorization: Basic eC1hY2Nlc3MtdG9rZW46dG9r".to_owned()
                ),
            ]
        );
        assert!(
            !format!("{access:?}").contains("Basic"),
            "no credential in Debug"
        );
    }

    #[test]
    fn ssh_uses_the_deploy_key_alone() {
        let dir = std::env::temp_dir().join(format!("cynode-git-ssh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("deploy_key");
        let remote = Remote::Ssh {
            url: "ssh://git@host/x.git".into(),
            known_hosts: "/etc/cynode/known_hosts".into(),
        };
        let access = Access::remote(&remote, Some("-----BEGIN KEY-----"), &key).unwrap();
        let ssh = access.ssh_command.unwrap();
        for part in [
            "-F /dev/null",
            "IdentitiesOnly=yes",
            "IdentityAgent=none",
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile='/etc/cynode/known_hosts'",
        ] {
            assert!(ssh.contains(part), "{part} in {ssh}");
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(Access::remote(&remote, None, &key).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
