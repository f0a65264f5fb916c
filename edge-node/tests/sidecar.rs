//! The pod's sidecar (`cynode-inference-proxy`), run as its binary between TCP clients
//! and a unix socket standing in for the node's end of it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener};

/// Requests sent; each is one chance for the race below.
const TRIES: usize = 200;

/// The node refuses a route (an Ollama admin route, say) from the request head alone: it
/// answers and closes without reading the body, which the client may still be sending.
/// The answer must reach the client whole every time, however the body and the close
/// cross in the sidecar (a probe in CI once got "closed without response" instead of
/// its 404).
#[tokio::test]
async fn an_answer_sent_before_the_request_body_was_read_always_reaches_the_client() {
    let dir = cynode_testkit::scratch_dir("sidecar");
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join(format!("node-{}.sock", std::process::id()));
    let ready = dir.join(format!("ready-{}", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&ready);
    let node = UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = node.accept().await.unwrap();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = "{\"error\":\"not an inference route\"}";
                let answer = format!(
                    "HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    let port = cynode_testkit::free_port();
    let _sidecar = tokio::process::Command::new(env!("CARGO_BIN_EXE_cynode-inference-proxy"))
        .env("CYNODE_PROXY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CYNODE_PROXY_SOCKET", &socket)
        .env("CYNODE_PROXY_READY_FILE", &ready)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sidecar never got ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lost = Vec::new();
    for n in 0..TRIES {
        let mut client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let body = format!("{{\"model\":\"m\",\"try\":{n}}}");
        let head = format!(
            "POST /api/blobs/sha256:0 HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        // Head and body in two writes, as Python's http.client sends them.
        client.write_all(head.as_bytes()).await.unwrap();
        let _ = client.write_all(body.as_bytes()).await;
        let mut answer = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await;
        if !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 404") {
            lost.push(n);
        }
    }
    assert!(lost.is_empty(), "answers lost on tries {lost:?} of {TRIES}");
}
