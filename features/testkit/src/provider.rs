//! A stand-in for a hosted OpenAI-compatible provider, for the egress's features: the real
//! model server behind a small proxy that, as OpenAI does, demands `Authorization: Bearer
//! <key>` with a key it knows (refusing any other with 401 and an `invalid_api_key` error
//! that echoes the key back, as some providers do), forwards `POST /v1/...` to the model
//! server (`/v1/embeddings` to its embeddings server) and pipes its answer back byte for
//! byte (streams included).
//!
//! Faults are set per key, so scenarios running at once do not meet each other's: the
//! next calls answered with a status (429 with `Retry-After: 1`, 503), or every call left
//! without an answer (a provider that hangs). Every request is recorded.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::stub_http::{respond, StubRequest};

/// One request the provider received.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    pub path: String,
    /// The bearer key, if any.
    pub key: Option<String>,
    pub body: Value,
    /// Every header, lowercased names.
    pub headers: Vec<(String, String)>,
    pub status: u16,
}

#[derive(Debug, Clone)]
enum Fault {
    /// The next `times` calls answer `status`.
    Refuse { status: u16, times: u32 },
    /// Calls get no answer.
    Stall,
    /// Calls are redirected (307) to the stand-in's `/v1/elsewhere`, which records what
    /// reaches it.
    Redirect,
}

#[derive(Default)]
struct Shared {
    keys: Vec<String>,
    faults: HashMap<String, Fault>,
    requests: Vec<ProviderRequest>,
}

pub struct StandInProvider {
    /// `http://127.0.0.1:<port>/v1`, the base URL to register.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl StandInProvider {
    /// The process's one stand-in, in front of [`crate::model_url`] and
    /// [`crate::embeddings_url`].
    pub fn shared() -> &'static StandInProvider {
        static PROVIDER: OnceLock<StandInProvider> = OnceLock::new();
        PROVIDER.get_or_init(|| {
            StandInProvider::start(&crate::model_url(), &crate::embeddings_url())
                .expect("the stand-in provider starts")
        })
    }

    /// Listens on a free local port, forwarding to the model server at `upstream` (and
    /// embeddings to `embeddings`).
    pub fn start(upstream: &str, embeddings: &str) -> std::io::Result<StandInProvider> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/v1", listener.local_addr()?);
        let host = |url: &str| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        };
        let upstream = (host(upstream), host(embeddings));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, upstream) = (state.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &state, &upstream);
                });
            }
        });
        Ok(StandInProvider { url, shared })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        f(&mut self.shared.lock().expect("stand-in provider lock"))
    }

    /// Registers this stand-in with the gateway as provider `name` (as an admin, with
    /// `admin_token`), offering the test model at $1 and $2 a million tokens; a name
    /// already registered is left as it is.
    pub async fn register(&self, api: &crate::Api, admin_token: &str, name: &str) {
        let body = json!({"name": name, "kind": "openai", "base_url": self.url,
            "models": [{"name": crate::TEST_MODEL, "input_usd_per_mtok": 1.0,
                        "output_usd_per_mtok": 2.0}]});
        let reply = api.post("/v1/providers", Some(admin_token), &body).await;
        assert!([201, 409].contains(&reply.status), "{}", reply.body);
    }

    /// Accepts `key`, stores it as the credential `credential` of the user behind `token`
    /// and attaches it to provider `name` for them (`system`: for everyone, an admin's).
    pub async fn attach_key(
        &self,
        api: &crate::Api,
        token: &str,
        name: &str,
        (credential, key): (&str, &str),
        system: bool,
    ) {
        self.accept(key);
        let body = json!({"name": credential, "provider": name, "value": key});
        let reply = api.post("/v1/credentials", Some(token), &body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let scope = if system { "system" } else { "user" };
        let body = json!({"credential_name": credential, "scope": scope});
        let reply = api
            .send(
                reqwest::Method::PUT,
                &format!("/v1/providers/{name}/credential"),
                Some(token),
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    /// Calls with `key` are answered.
    pub fn accept(&self, key: &str) {
        self.with(|s| s.keys.push(key.to_owned()));
    }

    /// The next `times` calls with `key` answer `status` (after the key is checked).
    pub fn refuse_next(&self, key: &str, times: u32, status: u16) {
        self.with(|s| {
            s.faults
                .insert(key.to_owned(), Fault::Refuse { status, times })
        });
    }

    /// Calls with `key` get no answer at all.
    pub fn stall(&self, key: &str) {
        self.with(|s| s.faults.insert(key.to_owned(), Fault::Stall));
    }

    /// Calls with `key` are redirected to another path of the stand-in.
    pub fn redirect(&self, key: &str) {
        self.with(|s| s.faults.insert(key.to_owned(), Fault::Redirect));
    }

    /// The requests made with `key`, oldest first.
    pub fn requests_with(&self, key: &str) -> Vec<ProviderRequest> {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.key.as_deref() == Some(key))
                .cloned()
                .collect()
        })
    }

    /// Every request, whatever its key.
    pub fn requests(&self) -> Vec<ProviderRequest> {
        self.with(|s| s.requests.clone())
    }
}

fn serve(
    stream: TcpStream,
    shared: &Mutex<Shared>,
    (chat, embeddings): &(String, String),
) -> std::io::Result<()> {
    let request = StubRequest::read(&stream)?;
    let path = request.path.clone();
    let key = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned));

    let (known, fault) = {
        let mut s = shared.lock().expect("stand-in provider lock");
        let known = key.as_ref().is_some_and(|k| s.keys.contains(k));
        let fault = match key.as_ref().and_then(|k| s.faults.get_mut(k)) {
            Some(Fault::Refuse { status, times }) if *times > 0 => {
                *times -= 1;
                Some(Fault::Refuse {
                    status: *status,
                    times: 1,
                })
            }
            Some(Fault::Stall) => Some(Fault::Stall),
            Some(Fault::Redirect) => Some(Fault::Redirect),
            _ => None,
        };
        (known, fault)
    };
    let status = match (&fault, known) {
        _ if path.ends_with("/elsewhere") => 404,
        (Some(Fault::Redirect), true) => 307,
        (_, false) => 401,
        (Some(Fault::Refuse { status, .. }), true) => *status,
        _ => 200,
    };
    shared
        .lock()
        .expect("stand-in provider lock")
        .requests
        .push(ProviderRequest {
            path: path.clone(),
            key: key.clone(),
            body: request.json(),
            headers: request.headers.clone(),
            status,
        });

    let mut client = stream;
    if path.ends_with("/elsewhere") {
        return answer(
            &mut client,
            404,
            &[],
            &json!({"error": {"message": "nothing here"}}),
        );
    }
    if !known {
        let shown = key.unwrap_or_default();
        let error = json!({"error": {
            "message": format!("Incorrect API key provided: {shown}. You can find your API key at https://platform.example/account/api-keys."),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
        return answer(&mut client, 401, &[], &error);
    }
    match fault {
        Some(Fault::Stall) => {
            std::thread::sleep(Duration::from_secs(600));
            Ok(())
        }
        Some(Fault::Redirect) => {
            let to = format!("http://{}/v1/elsewhere", client.local_addr()?);
            let error = json!({"error": {"message": "moved"}});
            answer(&mut client, 307, &[("Location", &to)], &error)
        }
        Some(Fault::Refuse { status, .. }) => {
            let error = json!({"error": {"message": format!("the stand-in answers {status} on purpose"),
                "type": "rate_limit_error", "param": null, "code": null}});
            answer(&mut client, status, &[("Retry-After", "1")], &error)
        }
        None if path.ends_with("/embeddings") => forward(client, embeddings, &path, &request.body),
        None => forward(client, chat, &path, &request.body),
    }
}

fn answer(
    stream: &mut TcpStream,
    status: u16,
    extra: &[(&str, &str)],
    body: &Value,
) -> std::io::Result<()> {
    respond(stream, status, "application/json", extra, &body.to_string())
}

/// The request to the model server, its answer piped back as it comes.
fn forward(mut client: TcpStream, upstream: &str, path: &str, body: &[u8]) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream)?;
    write!(
        server,
        "POST {path} HTTP/1.1\r\nHost: {upstream}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    server.write_all(body)?;
    server.flush()?;
    let mut buffer = [0u8; 4096];
    loop {
        let read = server.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        client.write_all(&buffer[..read])?;
        client.flush()?;
    }
    Ok(())
}
