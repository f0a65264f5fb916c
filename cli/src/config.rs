//! `~/.config/cynork/config.yaml` (or `-c PATH`): the gateway URL and the saved tokens.
//! `CYNORK_GATEWAY_URL` and `CYNORK_TOKEN` override the file. The file holds secrets, so
//! it is written with mode 0600, atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

pub const DEFAULT_GATEWAY_URL: &str = "http://localhost:8080";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Where a token came from: the environment's cannot be refreshed or saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    File,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub file: ConfigFile,
    pub gateway_url: String,
    pub token: Option<(String, TokenSource)>,
}

pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cynork").join("config.yaml")
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the config file (a missing file is an empty config; a malformed one is a
    /// usage error) and applies the environment.
    pub fn load(path: Option<&Path>) -> CliResult<Config> {
        let path = path.map(Path::to_path_buf).unwrap_or_else(default_path);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => ConfigFile::default(),
            Ok(text) => serde_yaml_ng::from_str(&text).map_err(|err| {
                CliError::usage(format!(
                    "config file {} is not valid: {err}",
                    path.display()
                ))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(err) => {
                return Err(CliError::usage(format!(
                    "cannot read config file {}: {err}",
                    path.display()
                )))
            }
        };
        let gateway_url = non_empty(std::env::var("CYNORK_GATEWAY_URL").ok())
            .or_else(|| file.gateway_url.clone())
            .unwrap_or_else(|| DEFAULT_GATEWAY_URL.into())
            .trim_end_matches('/')
            .to_owned();
        let token = match non_empty(std::env::var("CYNORK_TOKEN").ok()) {
            Some(token) => Some((token, TokenSource::Env)),
            None => non_empty(file.token.clone()).map(|t| (t, TokenSource::File)),
        };
        Ok(Config {
            path,
            file,
            gateway_url,
            token,
        })
    }

    /// Writes the file back (mode 0600, via a temporary file and rename).
    pub fn save(&self) -> CliResult {
        let fail = |err: std::io::Error| {
            CliError::internal(format!("cannot write {}: {err}", self.path.display()))
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let text = serde_yaml_ng::to_string(&self.file)
            .map_err(|err| CliError::internal(err.to_string()))?;
        let tmp = self.path.with_extension("yaml.tmp");
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(&tmp).map_err(fail)?;
            out.write_all(text.as_bytes()).map_err(fail)?;
            out.sync_all().map_err(fail)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }

    pub fn store_tokens(&mut self, access: &str, refresh: Option<&str>) -> CliResult {
        self.file.token = Some(access.to_owned());
        self.file.refresh_token = refresh.map(str::to_owned);
        if self
            .token
            .as_ref()
            .is_none_or(|(_, source)| *source == TokenSource::File)
        {
            self.token = Some((access.to_owned(), TokenSource::File));
        }
        self.save()
    }

    /// Holds an exclusive lock on `<config>.lock` until dropped: two cynork processes
    /// refreshing at once take turns, and the second finds the first one's new tokens
    /// (presenting the old refresh token again would end the session).
    pub fn lock_tokens(&self) -> CliResult<std::fs::File> {
        let fail = |err: std::io::Error| {
            CliError::internal(format!("cannot lock {}: {err}", self.path.display()))
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(self.path.with_extension("yaml.lock"))
            .map_err(fail)?;
        file.lock().map_err(fail)?;
        Ok(file)
    }

    /// The refresh token saved in the file now, if another process replaced ours there:
    /// adopts the file's tokens and returns `true`.
    pub fn adopt_newer_tokens(&mut self) -> CliResult<bool> {
        let on_disk = Config::load(Some(&self.path))?.file;
        let newer = on_disk.refresh_token.is_some()
            && on_disk.refresh_token != self.file.refresh_token
            && on_disk.token.is_some();
        if newer {
            let access = on_disk.token.clone().unwrap_or_default();
            self.file = ConfigFile {
                gateway_url: self.file.gateway_url.clone(),
                ..on_disk
            };
            if self
                .token
                .as_ref()
                .is_none_or(|(_, source)| *source == TokenSource::File)
            {
                self.token = Some((access, TokenSource::File));
            }
        }
        Ok(newer)
    }

    pub fn clear_tokens(&mut self) -> CliResult {
        self.file.token = None;
        self.file.refresh_token = None;
        if self
            .token
            .as_ref()
            .is_some_and(|(_, source)| *source == TokenSource::File)
        {
            self.token = None;
        }
        if self.path.exists() {
            self.save()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cynork-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("config.yaml")
    }

    #[test]
    fn a_malformed_file_is_a_usage_error() {
        let path = temp("bad");
        std::fs::write(&path, "gateway_url: [unclosed\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message.contains("not valid"), "{}", err.message);
        std::fs::write(&path, "gatway_url: http://x\n").unwrap();
        assert_eq!(Config::load(Some(&path)).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn a_refresh_by_another_process_is_adopted_not_repeated() {
        let path = temp("adopt");
        let _ = std::fs::remove_file(&path);
        let mut mine = Config::load(Some(&path)).unwrap();
        mine.store_tokens("access-1", Some("refresh-1")).unwrap();
        assert!(!mine.adopt_newer_tokens().unwrap(), "nothing newer yet");
        let mut other = Config::load(Some(&path)).unwrap();
        let _lock = other.lock_tokens().unwrap();
        other.store_tokens("access-2", Some("refresh-2")).unwrap();
        assert!(mine.adopt_newer_tokens().unwrap());
        assert_eq!(mine.file.refresh_token.as_deref(), Some("refresh-2"));
        assert_eq!(mine.token.as_ref().unwrap().0, "access-2");
    }

    #[test]
    fn tokens_are_saved_privately_and_reload() {
        let path = temp("save");
        let _ = std::fs::remove_file(&path);
        let mut config = Config::load(Some(&path)).unwrap();
        config.store_tokens("access", Some("refresh")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = Config::load(Some(&path)).unwrap();
        assert_eq!(again.file.refresh_token.as_deref(), Some("refresh"));
        let mut again = again;
        again.clear_tokens().unwrap();
        assert_eq!(
            Config::load(Some(&path)).unwrap().file,
            ConfigFile::default()
        );
    }
}
