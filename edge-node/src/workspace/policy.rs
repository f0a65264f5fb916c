//! Where the node's own git and forge calls may go: a project's repository URL and forge
//! URL come from a user, so they must not lend the node's network position, files or keys.
//!
//! - `https` to public hosts. Plain `http`, and hosts that resolve to loopback, private,
//!   link-local or other non-public addresses, only for hosts the node's configuration
//!   lists (`remotes.private_hosts`). The address checked is the address used: git gets it
//!   pinned (`http.curloptResolve`), the forge client too (`resolve_to_addrs`).
//! - `file://` only under directories the configuration lists (`remotes.file_roots`),
//!   after resolving symlinks.
//! - `ssh://` (and scp-like `user@host:path`) only with the project's own deploy key and
//!   the known hosts file the configuration names; never the node user's keys, agent or
//!   ssh config.
//! - Nothing else (`git://`, `ext::`, bare paths…); no credentials, query or fragment in
//!   a URL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use cynode_protocol::urls::walks_paths;
use reqwest::Url;

/// The node's remote policy (the `[remotes]` section of its configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePolicy {
    /// Directories whose repositories `file://` URLs may name.
    pub file_roots: Vec<PathBuf>,
    /// Hosts (`name` or `name:port`) reached even on non-public addresses and over http.
    pub private_hosts: Vec<String>,
    /// The known hosts `ssh://` remotes are checked against; none: no ssh remotes.
    pub ssh_known_hosts: Option<PathBuf>,
}

/// A repository the policy allows, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// `https://` (or `http://` for a listed host).
    Http {
        url: String,
        /// `scheme://host[:port]/`: what the credential header is bound to.
        origin: String,
        /// `host:port:address`, for git's `http.curloptResolve`.
        pin: String,
    },
    /// A local repository under one of the file roots (its resolved path).
    File { path: PathBuf },
    /// An ssh remote, reached only with the project's deploy key.
    Ssh { url: String, known_hosts: PathBuf },
}

impl Remote {
    /// The URL git is given.
    pub fn git_url(&self) -> String {
        match self {
            Remote::Http { url, .. } | Remote::Ssh { url, .. } => url.clone(),
            Remote::File { path } => format!("file://{}", path.display()),
        }
    }

    /// The one transport git may use for it (`GIT_ALLOW_PROTOCOL`).
    pub fn protocol(&self) -> &'static str {
        match self {
            Remote::Http { url, .. } if url.starts_with("http://") => "http",
            Remote::Http { .. } => "https",
            Remote::File { .. } => "file",
            Remote::Ssh { .. } => "ssh",
        }
    }
}

/// A forge API the policy allows: its base URL and the addresses to use for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeEndpoint {
    pub base: Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

impl ForgeEndpoint {
    /// A client that reaches only this endpoint's checked addresses and follows no
    /// redirect.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&self.host, &self.addrs)
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .no_proxy()
            .build()
            .map_err(|err| format!("cannot build the forge client: {err}"))
    }
}

/// Whether an address is one anyone on the internet reaches the same way. Everything
/// else (loopback, private, link-local, shared, unspecified, multicast, documentation,
/// reserved) is the node's own neighbourhood.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b // NAT64
                || v6 == Ipv6Addr::from([0u8; 16]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240)
}

impl RemotePolicy {
    /// Whether `host` (with `port`) is listed as private.
    fn listed(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.private_hosts.iter().any(|rule| {
            let rule = rule.trim().to_ascii_lowercase();
            let (name, rule_port) = match rule.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') || name.ends_with(']') => {
                    (name.to_owned(), port.parse::<u16>().ok())
                }
                _ => (rule.clone(), None),
            };
            let name = name.trim_start_matches('[').trim_end_matches(']');
            name.eq_ignore_ascii_case(host) && rule_port.is_none_or(|p| p == port)
        })
    }

    /// Resolves `host:port` and checks every address: all public, or the host listed.
    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| format!("the host '{bare}' does not resolve"))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("the host '{bare}' does not resolve"));
        }
        if !self.listed(host, port) {
            if let Some(private) = addrs.iter().find(|addr| !is_public(addr.ip())) {
                return Err(format!(
                    "'{bare}' resolves to {}, a loopback, private or link-local address; \
                     the node reaches such hosts only when its remotes.private_hosts lists them",
                    private.ip()
                ));
            }
        }
        Ok(addrs)
    }

    /// Checks a project's repository URL; `deploy_key`: whether the project has an ssh
    /// private key as its credential.
    pub async fn repository(&self, url: &str, deploy_key: bool) -> Result<Remote, String> {
        if let Some(rest) = url.strip_prefix("file://") {
            return self.file_repository(rest);
        }
        if !url.contains("://") {
            if is_scp_like(url) {
                return self.ssh_repository(url, deploy_key).await;
            }
            return Err("the repository URL must be https://, ssh:// or file://".into());
        }
        let parsed =
            Url::parse(url).map_err(|err| format!("the repository URL is not a URL: {err}"))?;
        match parsed.scheme() {
            "https" | "http" => self.http_repository(url, &parsed).await,
            "ssh" => self.ssh_repository(url, deploy_key).await,
            other => Err(format!(
                "the node does not clone over {other}://; use https://, ssh:// or file://"
            )),
        }
    }

    async fn http_repository(&self, raw: &str, url: &Url) -> Result<Remote, String> {
        let host = url.host_str().ok_or("the repository URL names no host")?;
        let port = url.port_or_known_default().unwrap_or(443);
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the repository URL must not carry credentials".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the repository URL must not have a query or fragment".into());
        }
        if walks_paths(raw.split_once("://").map_or(raw, |(_, rest)| rest)) {
            return Err("the repository URL must not have dot segments or encoded slashes".into());
        }
        if url.scheme() == "http" && !self.listed(host, port) {
            return Err(format!(
                "the node clones over plain http only from hosts its remotes.private_hosts lists, not '{host}'"
            ));
        }
        let addrs = self.addresses(host, port).await?;
        let origin = match url.port() {
            Some(port) => format!("{}://{host}:{port}/", url.scheme()),
            None => format!("{}://{host}/", url.scheme()),
        };
        Ok(Remote::Http {
            url: url.to_string(),
            origin,
            pin: format!("{host}:{port}:{}", addrs[0].ip()),
        })
    }

    fn file_repository(&self, rest: &str) -> Result<Remote, String> {
        if !rest.starts_with('/') {
            return Err("a file:// repository URL must name an absolute path on the node".into());
        }
        if self.file_roots.is_empty() {
            return Err(
                "file:// repositories are refused: this node's remotes.file_roots lists no directory"
                    .into(),
            );
        }
        if walks_paths(rest) || rest.contains('%') || rest.contains('?') || rest.contains('#') {
            return Err("a file:// repository URL must be a plain path".into());
        }
        let path = Path::new(rest)
            .canonicalize()
            .map_err(|_| format!("{rest} does not exist on this node"))?;
        let inside = self.file_roots.iter().any(|root| {
            root.canonicalize()
                .is_ok_and(|root| path.starts_with(&root) && path != root)
        });
        if inside {
            Ok(Remote::File { path })
        } else {
            Err(format!(
                "{rest} is not under any of this node's remotes.file_roots"
            ))
        }
    }

    async fn ssh_repository(&self, url: &str, deploy_key: bool) -> Result<Remote, String> {
        let Some(known_hosts) = &self.ssh_known_hosts else {
            return Err(
                "ssh repositories are refused: this node's remotes.ssh_known_hosts names no known hosts file"
                    .into(),
            );
        };
        if !deploy_key {
            return Err(
                "an ssh repository needs the project's deploy key as its credential; the node never uses its own keys"
                    .into(),
            );
        }
        let (host, port) = ssh_host(url).ok_or("the ssh repository URL names no host")?;
        if host.starts_with('-') {
            return Err("the ssh repository URL's host is not a host name".into());
        }
        self.addresses(&host, port).await?;
        Ok(Remote::Ssh {
            url: url.to_owned(),
            known_hosts: known_hosts.clone(),
        })
    }

    /// Checks a project's forge API URL and its `owner/name`.
    pub async fn forge(
        &self,
        api_url: &str,
        owner: &str,
        repo: &str,
    ) -> Result<ForgeEndpoint, String> {
        for part in [owner, repo] {
            let ok = !part.is_empty()
                && part.len() <= 100
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(format!("'{owner}/{repo}' is not an owner/name on a forge"));
            }
        }
        let url =
            Url::parse(api_url).map_err(|err| format!("the forge URL is not a URL: {err}"))?;
        let host = url
            .host_str()
            .ok_or("the forge URL names no host")?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the forge URL must not carry credentials".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the forge URL must not have a query or fragment".into());
        }
        if walks_paths(api_url.split_once("://").map_or(api_url, |(_, rest)| rest)) {
            return Err("the forge URL must not have dot segments or encoded characters".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if self.listed(&host, port) => {}
            "http" => {
                return Err(format!(
                    "the node calls forges over plain http only on hosts its remotes.private_hosts lists, not '{host}'"
                ))
            }
            other => return Err(format!("the forge URL must be https://, not {other}://")),
        }
        let addrs = self.addresses(&host, port).await?;
        Ok(ForgeEndpoint {
            base: url,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            addrs,
        })
    }
}

/// `user@host:path`, as git reads it: a plain host part, then a path.
fn is_scp_like(url: &str) -> bool {
    url.split_once(':').is_some_and(|(host, path)| {
        !host.is_empty()
            && !host.starts_with('-')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
            && !path.is_empty()
            && !path.starts_with(':')
            && !path.starts_with("//")
    })
}

/// The host and port of an `ssh://` or scp-like URL.
fn ssh_host(url: &str) -> Option<(String, u16)> {
    if let Some(rest) = url.strip_prefix("ssh://") {
        let authority = rest.split('/').next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().ok()?)
            }
            _ => (host_port, 22),
        };
        return (!host.is_empty()).then(|| (host.to_owned(), port));
    }
    let (user_host, _) = url.split_once(':')?;
    let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
    (!host.is_empty()).then(|| (host.to_owned(), 22))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "140.82.112.3", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    fn policy() -> RemotePolicy {
        RemotePolicy {
            private_hosts: vec!["git.lan".into(), "127.0.0.1:3000".into()],
            ..RemotePolicy::default()
        }
    }

    #[tokio::test]
    async fn https_to_public_hosts_others_only_when_listed() {
        let policy = policy();
        let ok = policy
            .repository("https://1.1.1.1/acme/widgets.git", false)
            .await
            .unwrap();
        assert_eq!(
            ok,
            Remote::Http {
                url: "https://1.1.1.1/acme/widgets.git".into(),
                origin: "https://1.1.1.1/".into(),
                pin: "1.1.1.1:443:1.1.1.1".into()
            }
        );
        for (url, why) in [
            ("https://127.0.0.1/x.git", "loopback"),
            ("https://169.254.169.254/latest", "link-local"),
            ("https://[::1]/x.git", "loopback"),
            ("http://1.1.1.1/x.git", "plain http"),
            ("https://127.0.0.1:3001/x.git", "loopback"),
            ("https://user:pw@1.1.1.1/x.git", "credentials"),
            ("https://1.1.1.1/a/../../x.git", "dot segments"),
            ("https://1.1.1.1/a/%2e%2e/x.git", "dot segments"),
            ("https://1.1.1.1/x.git?u=1", "query"),
            ("git://1.1.1.1/x.git", "does not clone"),
            ("ext::sh -c touch% /tmp/pwned", "must be"),
            ("/srv/x.git", "must be"),
            ("file:///etc", "file_roots"),
            ("ssh://git@1.1.1.1/x.git", "known hosts"),
            ("git@1.1.1.1:x.git", "known hosts"),
        ] {
            let err = policy.repository(url, false).await.unwrap_err();
            assert!(
                err.contains(why) || (why == "loopback" && err.contains("private")),
                "{url}: {err}"
            );
        }
        assert!(policy
            .repository("http://127.0.0.1:3000/x.git", false)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn file_urls_only_under_the_roots_after_symlinks() {
        let dir = std::env::temp_dir().join(format!("cynode-policy-{}", std::process::id()));
        let root = dir.join("repos");
        std::fs::create_dir_all(root.join("widgets.git")).unwrap();
        std::fs::create_dir_all(dir.join("outside.git")).unwrap();
        let _ = std::fs::remove_file(root.join("escape.git"));
        std::os::unix::fs::symlink(dir.join("outside.git"), root.join("escape.git")).unwrap();
        let policy = RemotePolicy {
            file_roots: vec![root.clone()],
            ..RemotePolicy::default()
        };
        let inside = format!("file://{}/widgets.git", root.display());
        assert!(policy.repository(&inside, false).await.is_ok());
        for bad in [
            format!("file://{}/outside.git", dir.display()),
            format!("file://{}/escape.git", root.display()),
            format!("file://{}/../outside.git", root.display()),
            format!("file://{}", root.display()),
            "file://relative/x.git".to_owned(),
        ] {
            assert!(policy.repository(&bad, false).await.is_err(), "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn ssh_needs_known_hosts_and_the_projects_deploy_key() {
        let policy = RemotePolicy {
            ssh_known_hosts: Some("/etc/cynode/known_hosts".into()),
            ..RemotePolicy::default()
        };
        let err = policy
            .repository("ssh://git@1.1.1.1/acme/x.git", false)
            .await
            .unwrap_err();
        assert!(err.contains("deploy key"), "{err}");
        assert!(policy
            .repository("git@1.1.1.1:acme/x.git", true)
            .await
            .is_ok());
        assert!(policy
            .repository("ssh://git@127.0.0.1:2222/acme/x.git", true)
            .await
            .is_err());
        assert!(policy.repository("-oProxyCommand=x:y", true).await.is_err());
    }

    #[tokio::test]
    async fn forge_urls_are_https_public_and_plain() {
        let policy = policy();
        let ok = policy
            .forge("https://1.1.1.1/api/v3", "acme", "widgets")
            .await
            .unwrap();
        assert_eq!(ok.addrs, vec!["1.1.1.1:443".parse().unwrap()]);
        for (url, owner, repo) in [
            ("http://1.1.1.1", "acme", "widgets"),
            ("https://127.0.0.1", "acme", "widgets"),
            (
                "https://169.254.169.254/latest/meta-data",
                "acme",
                "widgets",
            ),
            ("https://10.0.0.1", "acme", "widgets"),
            ("https://1.1.1.1/api?x=1", "acme", "widgets"),
            ("https://1.1.1.1/api#x", "acme", "widgets"),
            ("https://1.1.1.1/api/../admin", "acme", "widgets"),
            ("https://t@1.1.1.1/api", "acme", "widgets"),
            ("ftp://1.1.1.1/api", "acme", "widgets"),
            ("https://1.1.1.1", "..", "widgets"),
            ("https://1.1.1.1", "acme", "wid/gets"),
        ] {
            assert!(
                policy.forge(url, owner, repo).await.is_err(),
                "{url} {owner}/{repo}"
            );
        }
        assert!(policy
            .forge("http://127.0.0.1:3000/api/v3", "acme", "widgets")
            .await
            .is_ok());
        assert!(
            policy
                .forge("http://git.lan/api/v3", "acme", "widgets")
                .await
                .is_err(),
            "git.lan does not resolve here"
        );
    }
}
