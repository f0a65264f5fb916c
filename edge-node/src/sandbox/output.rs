//! Capturing a stream up to a byte limit while still draining the rest, so a chatty job
//! neither blocks on a full pipe nor grows the agent's memory.

use tokio::io::{AsyncRead, AsyncReadExt};

use cynode_domain::limits::truncate_utf8_bytes;

/// Reads `stream` to its end, keeping the first `limit` bytes. Returns the kept text
/// (cut on a UTF-8 boundary) and whether anything was dropped.
pub async fn capture<R: AsyncRead + Unpin>(mut stream: R, limit: usize) -> (String, bool) {
    // One byte past the limit tells whether anything was cut.
    let mut kept = Vec::with_capacity(limit.min(64 * 1024));
    let mut dropped = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                let room = (limit + 1).saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped |= n > room;
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let (text, cut) = truncate_utf8_bytes(&kept, limit);
    (text, cut || dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_everything_under_the_limit() {
        assert_eq!(
            capture(&b"hello"[..], 10).await,
            ("hello".to_string(), false)
        );
        assert_eq!(
            capture(&b"hello"[..], 5).await,
            ("hello".to_string(), false)
        );
    }

    #[tokio::test]
    async fn cuts_at_the_limit_on_a_character_boundary() {
        let text = "ab€".repeat(100_000); // 5 bytes per repeat
                                          // "ab€ab" is 7 bytes; the next € would end at byte 10, past the limit of 9.
        let (kept, cut) = capture(text.as_bytes(), 9).await;
        assert_eq!(kept, "ab€ab");
        assert!(cut);
    }
}
