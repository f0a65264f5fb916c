//! `cynode-inference-proxy`: the sidecar of a job's pod. It listens on 127.0.0.1:11434
//! inside the pod (whose network is `none`) and pipes each connection, byte for byte, to
//! the node agent's per-job unix socket, the only way out of the pod. Limits, header
//! filtering and the call records live on the agent's side of that socket
//! (`cynode_edge::inference::forwarder`), where the job cannot tamper with them.
//!
//! Settings: `CYNODE_PROXY_LISTEN` (127.0.0.1:11434), `CYNODE_PROXY_SOCKET`
//! (/run/cynode/inference.sock), `CYNODE_PROXY_READY_FILE` (created once listening).

use std::process::ExitCode;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

/// How long a client may keep sending after the node has answered and closed.
const DRAIN_AFTER_ANSWER: Duration = Duration::from_secs(10);

const UNAVAILABLE: &[u8] = b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 56\r\n\r\n{\"error\":\"the node's inference socket is not available\"}";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let listen = std::env::var("CYNODE_PROXY_LISTEN").unwrap_or_else(|_| "127.0.0.1:11434".into());
    let socket = std::env::var("CYNODE_PROXY_SOCKET")
        .unwrap_or_else(|_| "/run/cynode/inference.sock".into());
    let listener = match TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cynode-inference-proxy: cannot listen on {listen}: {err}");
            return ExitCode::from(1);
        }
    };
    eprintln!("cynode-inference-proxy: {listen} -> {socket}");
    // Tells the node the pod can be used: the sandbox's first call must find us listening.
    if let Ok(ready) = std::env::var("CYNODE_PROXY_READY_FILE") {
        if let Err(err) = std::fs::write(&ready, b"") {
            eprintln!("cynode-inference-proxy: cannot write {ready}: {err}");
        }
    }
    // As a container's PID 1 the proxy gets no default signal handling: exit on SIGTERM
    // itself, or stopping the pod would wait for Podman's timeout.
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                eprintln!("cynode-inference-proxy: cannot watch SIGTERM: {err}");
                return ExitCode::from(1);
            }
        };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = terminate.recv() => return ExitCode::SUCCESS,
        };
        let (mut tcp, _) = match accepted {
            Ok(conn) => conn,
            Err(err) => {
                eprintln!("cynode-inference-proxy: accept failed: {err}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let socket = socket.clone();
        tokio::spawn(async move {
            match UnixStream::connect(&socket).await {
                Ok(unix) => pipe(tcp, unix).await,
                Err(_) => {
                    let _ = tcp.write_all(UNAVAILABLE).await;
                }
            }
        });
    }
}

/// Pipes one connection both ways. The node may answer and close before it has read the
/// whole request (it refuses a route from the head alone): writing the rest to it then
/// fails, and that must not cut the answer short, so each direction runs on its own — the
/// client's remaining bytes are read and dropped while the answer goes back whole — and
/// the client's side is closed only once it has stopped sending (a close with unread
/// bytes would be a reset, which can cost the client the answer).
async fn pipe(tcp: TcpStream, unix: UnixStream) {
    let (mut from_client, mut to_client) = tcp.into_split();
    let (mut from_node, mut to_node) = unix.into_split();
    let upstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut node_reading = true;
        loop {
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) if node_reading => {
                    node_reading = to_node.write_all(&buf[..n]).await.is_ok();
                }
                Ok(_) => {}
            }
        }
        let _ = to_node.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut from_node, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::pin!(upstream);
    tokio::pin!(downstream);
    tokio::select! {
        _ = &mut upstream => downstream.await,
        _ = &mut downstream => {
            let _ = tokio::time::timeout(DRAIN_AFTER_ANSWER, upstream).await;
        }
    }
}
