//! The HTTP/1.1 both ways of the testkit's stand-in servers (the forge, the hosted model
//! provider, the Anthropic contract): one request read off a connection, and one answer
//! written back with `Connection: close`. Each server decides only what to answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// A request as a stand-in received it.
pub struct StubRequest {
    pub method: String,
    pub path: String,
    /// Every header, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// At most 8 MiB of the body.
    pub body: Vec<u8>,
}

impl StubRequest {
    /// Reads one request (its line, headers, and a `Content-Length` body) off `stream`.
    pub fn read(stream: &TcpStream) -> std::io::Result<StubRequest> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mut request = StubRequest {
            method,
            path,
            headers,
            body: Vec::new(),
        };
        let length: usize = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        request.body = vec![0; length.min(8 << 20)];
        reader.read_exact(&mut request.body)?;
        Ok(request)
    }

    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Writes a whole answer of `content_type` with `extra` headers, and closes.
pub fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{head}\r\n{body}")?;
    stream.flush()
}
