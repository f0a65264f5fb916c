//! The gateway client: JSON over HTTP, errors mapped to exit codes, and one transparent
//! refresh when the access token has expired.

use cynode_protocol::wire::ErrorCode;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use cynode_protocol::wire::{ErrorBody, HealthStatus, RefreshRequest, TokenPair};

use crate::config::{Config, TokenSource};
use crate::error::{CliError, CliResult, ExitKind};

pub struct Gateway<'a> {
    http: Client,
    config: &'a mut Config,
}

/// Percent-encodes one path segment (task names may hold anything the user typed).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The gateway path of a task (by id or name) and what follows it.
pub(crate) fn task_path(task: &str, rest: &str) -> CliResult<String> {
    if task.trim().is_empty() {
        return Err(CliError::usage("the task id or name must not be empty"));
    }
    Ok(format!("/v1/tasks/{}{rest}", segment(task)))
}

fn http_client(timeout: Duration) -> CliResult<Client> {
    Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .user_agent(concat!("cynork/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| CliError::internal(format!("cannot create an HTTP client: {err}")))
}

impl<'a> Gateway<'a> {
    pub fn new(config: &'a mut Config) -> CliResult<Self> {
        Ok(Self {
            http: http_client(Duration::from_secs(60))?,
            config,
        })
    }

    /// A client for answers that take as long as a model does (streamed chat).
    pub fn patient(config: &'a mut Config) -> CliResult<Self> {
        Ok(Self {
            http: http_client(Duration::from_secs(600))?,
            config,
        })
    }

    /// POSTs `body` and returns the answer as a stream of lines (server-sent events),
    /// refreshing an expired token once.
    pub fn post_stream<B: Serialize>(
        &mut self,
        path: &str,
        body: &B,
    ) -> CliResult<std::io::BufReader<reqwest::blocking::Response>> {
        let mut refreshed = false;
        loop {
            let token = self.access_token()?;
            let response = self
                .http
                .post(self.url(path))
                .bearer_auth(&token)
                .json(body)
                .send()
                .map_err(|err| self.unreachable(err))?;
            if response.status().is_success() {
                return Ok(std::io::BufReader::new(response));
            }
            let err = decode::<serde_json::Value>(response).unwrap_err();
            if err.code == Some(ErrorCode::TokenExpired) && !refreshed && self.refresh()? {
                refreshed = true;
                continue;
            }
            return Err(err);
        }
    }

    /// Rotates the saved tokens now.
    pub fn refresh_now(&mut self) -> CliResult {
        if self.refresh()? {
            Ok(())
        } else {
            Err(CliError::auth(
                "no saved refresh token to use (CYNORK_TOKEN is not refreshed): run `cynork auth login`",
            ))
        }
    }

    /// A client that gives up quickly (best-effort calls such as logout).
    pub fn impatient(config: &'a mut Config) -> CliResult<Self> {
        Ok(Self {
            http: http_client(Duration::from_secs(3))?,
            config,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.config.gateway_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.gateway_url)
    }

    fn unreachable(&self, err: reqwest::Error) -> CliError {
        let what = if err.is_timeout() {
            "timed out"
        } else {
            "is unreachable"
        };
        CliError::gateway(format!(
            "the gateway at {} {what}: {}",
            self.config.gateway_url,
            err.without_url()
        ))
    }

    fn access_token(&self) -> CliResult<String> {
        self.config
            .token
            .as_ref()
            .map(|(token, _)| token.clone())
            .ok_or_else(|| {
                CliError::auth("not logged in: run `cynork auth login` (or set CYNORK_TOKEN)")
            })
    }

    /// Sends a request and decodes the JSON answer, mapping failures to exit codes.
    pub fn call<B: Serialize, T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
        authenticated: bool,
    ) -> CliResult<T> {
        let token = if authenticated {
            Some(self.access_token()?)
        } else {
            None
        };
        match self.send(method.clone(), path, body, token.as_deref()) {
            Err(err) if err.code == Some(ErrorCode::TokenExpired) && self.refresh()? => {
                let token = self.access_token()?;
                self.send(method, path, body, Some(&token))
            }
            other => other,
        }
    }

    pub fn get<T: DeserializeOwned>(&mut self, path: &str) -> CliResult<T> {
        self.call::<(), T>(Method::GET, path, None, true)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> CliResult<T> {
        self.call(Method::POST, path, Some(body), true)
    }

    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        token: Option<&str>,
    ) -> CliResult<T> {
        let mut request: RequestBuilder = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().map_err(|err| self.unreachable(err))?;
        decode(response)
    }

    /// Exchanges the saved refresh token for new tokens. `false` when there is none to use.
    fn refresh(&mut self) -> CliResult<bool> {
        let usable = self
            .config
            .token
            .as_ref()
            .is_some_and(|(_, source)| *source == TokenSource::File);
        if self.config.file.refresh_token.is_none() || !usable {
            return Ok(false);
        }
        // One refresh at a time across cynork processes; whoever comes second uses the
        // tokens the first one saved.
        let _lock = self.config.lock_tokens()?;
        if self.config.adopt_newer_tokens()? {
            return Ok(true);
        }
        let Some(refresh_token) = self.config.file.refresh_token.clone() else {
            return Ok(false);
        };
        let pair: TokenPair = self
            .send(
                Method::POST,
                "/v1/auth/refresh",
                Some(&RefreshRequest { refresh_token }),
                None,
            )
            .map_err(|err| match err.kind {
                ExitKind::Auth => CliError::auth(format!(
                    "your session has ended ({}); run `cynork auth login`",
                    err.message
                )),
                _ => err,
            })?;
        self.config
            .store_tokens(&pair.access_token, Some(&pair.refresh_token))?;
        Ok(true)
    }

    /// GETs a health route: its status code and body, whatever the status.
    pub fn probe(&self, path: &str) -> CliResult<(u16, HealthStatus)> {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .map_err(|err| self.unreachable(err))?;
        let status = response.status().as_u16();
        let body = response.json::<HealthStatus>().map_err(|err| {
            CliError::gateway(format!(
                "{path} answered {status} with an unexpected body: {}",
                err.without_url()
            ))
        })?;
        Ok((status, body))
    }

    /// Downloads the bytes behind a presigned URL.
    pub fn download(&self, url: &str) -> CliResult<Vec<u8>> {
        let response = self.http.get(url).send().map_err(|err| {
            CliError::gateway(format!("downloading failed: {}", err.without_url()))
        })?;
        if !response.status().is_success() {
            return Err(CliError::gateway(format!(
                "the blob store refused the download ({})",
                response.status()
            )));
        }
        let bytes = response.bytes().map_err(|err| {
            CliError::gateway(format!("downloading failed: {}", err.without_url()))
        })?;
        Ok(bytes.to_vec())
    }

    /// Uploads a file's bytes to a presigned URL.
    pub fn upload(&self, url: &str, bytes: Vec<u8>) -> CliResult {
        let response = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, bytes.len())
            .body(bytes)
            .send()
            .map_err(|err| {
                CliError::gateway(format!(
                    "uploading an attachment failed: {}",
                    err.without_url()
                ))
            })?;
        if !response.status().is_success() {
            return Err(CliError::gateway(format!(
                "the blob store refused an attachment upload ({})",
                response.status()
            )));
        }
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(response: reqwest::blocking::Response) -> CliResult<T> {
    let status = response.status();
    let bytes = response.bytes().map_err(|err| {
        CliError::gateway(format!(
            "reading the gateway's answer failed: {}",
            err.without_url()
        ))
    })?;
    if status.is_success() {
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        return serde_json::from_slice(body).map_err(|err| {
            CliError::internal(format!("the gateway's answer was not understood: {err}"))
        });
    }
    let kind = ExitKind::from_status(status.as_u16());
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(CliError {
            kind,
            code: Some(body.error.code),
            message: body.error.message,
        }),
        Err(_) => Err(CliError::new(
            kind,
            format!("the gateway answered {status}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("task_01ABC"), "task_01ABC");
        assert_eq!(segment("my task/../x"), "my%20task%2F..%2Fx");
    }
}
