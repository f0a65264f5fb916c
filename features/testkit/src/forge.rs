//! A stand-in for a forge's pull-request API, for the planned-work features: no forge is
//! reachable here. It accepts `POST /repos/{owner}/{repo}/pulls` exactly as GitHub's REST
//! API documents it (<https://docs.github.com/rest/pulls/pulls#create-a-pull-request>) and
//! refuses anything else the way GitHub would, recording every request and its verdict.
//!
//! Checked: the method and path (for the expected owner/repo), `Authorization: Bearer
//! <token>` with the expected token, `Accept: application/vnd.github+json`, a
//! `User-Agent`, a JSON body whose `title`, `head` and `base` are non-empty strings (and
//! `body`, if present, a string), and `head` not equal to `base`.

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::stub_http::{respond, StubRequest};

/// One request the forge received.
#[derive(Debug, Clone)]
pub struct ForgeRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The status the forge answered, and why when it refused.
    pub status: u16,
    pub refusal: Option<String>,
}

#[derive(Debug)]
pub struct ForgeContract {
    pub url: String,
    requests: Arc<Mutex<Vec<ForgeRequest>>>,
}

struct Expect {
    owner: String,
    repo: String,
    token: String,
}

impl ForgeContract {
    /// Listens on a free local port for pull requests to `owner/repo` with `token`.
    pub fn start(owner: &str, repo: &str, token: &str) -> std::io::Result<ForgeContract> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/api/v3", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let expect = Arc::new(Expect {
            owner: owner.into(),
            repo: repo.into(),
            token: token.into(),
        });
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, expect) = (seen.clone(), expect.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen, &expect);
                });
            }
        });
        Ok(ForgeContract { url, requests })
    }

    pub fn requests(&self) -> Vec<ForgeRequest> {
        self.requests.lock().expect("forge lock").clone()
    }
}

fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<ForgeRequest>>,
    expect: &Expect,
) -> std::io::Result<()> {
    let request = StubRequest::read(&stream)?;
    let (method, path) = (request.method.clone(), request.path.clone());
    let header = |name: &str| request.header(name);
    let body = request.json();
    let authorization = header("authorization");

    let expected_path = format!("/api/v3/repos/{}/{}/pulls", expect.owner, expect.repo);
    let field = |name: &str| body[name].as_str().filter(|v| !v.is_empty());
    let (status, refusal) = if path != expected_path {
        (404, Some(format!("no route {path}")))
    } else if method != "POST" {
        (405, Some(format!("{method} is not allowed here")))
    } else if authorization.as_deref() != Some(&format!("Bearer {}", expect.token)) {
        (401, Some("Bad credentials".to_owned()))
    } else if header("accept").as_deref() != Some("application/vnd.github+json") {
        (
            415,
            Some("Accept must be application/vnd.github+json".to_owned()),
        )
    } else if header("user-agent").is_none() {
        (403, Some("a User-Agent is required".to_owned()))
    } else if field("title").is_none() || field("head").is_none() || field("base").is_none() {
        (
            422,
            Some("title, head and base are required strings".to_owned()),
        )
    } else if !body["body"].is_null() && !body["body"].is_string() {
        (422, Some("body must be a string".to_owned()))
    } else if field("head") == field("base") {
        (422, Some("head and base must differ".to_owned()))
    } else {
        (201, None)
    };
    let number = {
        let mut seen = seen.lock().expect("forge lock");
        seen.push(ForgeRequest {
            method,
            path,
            authorization,
            body: body.clone(),
            status,
            refusal: refusal.clone(),
        });
        seen.iter().filter(|r| r.status == 201).count()
    };
    let answer = match &refusal {
        None => json!({
            "number": number,
            "html_url": format!("https://forge.test/{}/{}/pull/{number}", expect.owner, expect.repo),
            "state": "open",
            "head": {"ref": body["head"]},
            "base": {"ref": body["base"]},
        }),
        Some(message) => {
            json!({"message": message, "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"})
        }
    };
    let mut stream = stream;
    respond(
        &mut stream,
        status,
        "application/json",
        &[],
        &answer.to_string(),
    )
}

/// A bare repository at `dir/<name>.git` on branch `main` with `files` committed, served
/// as a `file://` remote. Returns its URL.
pub fn bare_repository(
    dir: &std::path::Path,
    name: &str,
    files: &[(&str, &str)],
) -> anyhow::Result<String> {
    let bare = dir.join(format!("{name}.git"));
    let work = dir.join(format!("{name}-seed"));
    let _ = std::fs::remove_dir_all(&bare);
    let _ = std::fs::remove_dir_all(&work);
    git(
        dir,
        &[
            "init",
            "--quiet",
            "--bare",
            "-b",
            "main",
            bare.to_str().unwrap_or_default(),
        ],
    )?;
    git(
        dir,
        &[
            "init",
            "--quiet",
            "-b",
            "main",
            work.to_str().unwrap_or_default(),
        ],
    )?;
    for (path, text) in files {
        std::fs::write(work.join(path), text)?;
    }
    git(&work, &["add", "-A"])?;
    git(
        &work,
        &[
            "-c",
            "user.name=seed",
            "-c",
            "user.email=seed@test",
            "commit",
            "--quiet",
            "-m",
            "seed",
        ],
    )?;
    git(
        &work,
        &["push", "--quiet", bare.to_str().unwrap_or_default(), "main"],
    )?;
    Ok(format!("file://{}", bare.display()))
}

/// Runs git in `dir`; its stdout.
pub fn git(dir: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
