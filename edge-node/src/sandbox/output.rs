//! Capturing a stream while still draining all of it, so a chatty job neither blocks on
//! a full pipe nor grows the agent's memory without bound.
//!
//! Two things come out: a preview that is valid UTF-8 and fits the result's limit as
//! JSON whatever the bytes were (see `cynode_protocol::limits::preview_bytes`), and, when
//! that preview is not the whole output, the raw bytes (up to their own, larger limit),
//! which the node uploads so the user can download exactly what the job wrote.

use tokio::io::{AsyncRead, AsyncReadExt};

use cynode_protocol::limits::preview_bytes;
use cynode_protocol::wire::OutputStream;

use super::live_log::LiveLog;

/// A stream's raw bytes, kept because its preview is not all of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBytes {
    pub bytes: Vec<u8>,
    /// Bytes the job wrote (more than `bytes.len()` when the raw copy was cut too).
    pub total: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub preview: String,
    /// The preview is not exactly what the job wrote.
    pub truncated: bool,
    /// Present exactly when `truncated`.
    pub raw: Option<RawBytes>,
}

/// Reads `stream` to its end, keeping up to `raw_limit` bytes, and previews them within
/// `preview_limit` bytes of JSON.
pub async fn capture<R: AsyncRead + Unpin>(
    mut stream: R,
    preview_limit: usize,
    raw_limit: usize,
    last_line: Option<&LastLine>,
    live: Option<(&LiveLog, OutputStream)>,
) -> Captured {
    let mut kept = Vec::with_capacity(raw_limit.min(64 * 1024));
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                let room = raw_limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                if let Some(last) = last_line {
                    last.note(&buf[..n]);
                }
                if let Some((log, name)) = live {
                    log.note(name, &buf[..n]);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let (preview, differs) = preview_bytes(&kept, preview_limit);
    let truncated = differs || total > kept.len() as u64;
    Captured {
        preview,
        truncated,
        raw: truncated.then_some(RawBytes { bytes: kept, total }),
    }
}

/// The last complete, non-empty line a stream wrote, as it runs (an agent prints each
/// step on stderr: this is what heartbeats report as the job's progress). A line split
/// across reads is joined first.
#[derive(Debug, Clone, Default)]
pub struct LastLine(std::sync::Arc<std::sync::Mutex<Lines>>);

#[derive(Debug, Default)]
pub struct Lines {
    last: String,
    /// The start of a line whose end has not been read yet (at most a line's worth).
    partial: Vec<u8>,
}

/// Longest line kept.
const LINE_CHARS: usize = 200;

impl LastLine {
    fn note(&self, bytes: &[u8]) {
        let Ok(mut lines) = self.0.lock() else {
            return;
        };
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            let room = (LINE_CHARS * 4).saturating_sub(lines.partial.len());
            lines
                .partial
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
            return;
        };
        let mut complete = std::mem::take(&mut lines.partial);
        complete.extend_from_slice(&bytes[..end]);
        let rest = &bytes[end + 1..];
        lines.partial = rest[..rest.len().min(LINE_CHARS * 4)].to_vec();
        let text = String::from_utf8_lossy(&complete);
        if let Some(line) = text.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
            lines.last = line.chars().take(LINE_CHARS).collect();
        }
    }

    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .ok()
            .map(|lines| lines.last.clone())
            .filter(|last| !last.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_everything_under_the_limit_without_a_raw_copy() {
        let out = capture(&b"hello"[..], 5, 100, None, None).await;
        assert_eq!((out.preview.as_str(), out.truncated), ("hello", false));
        assert_eq!(out.raw, None);
    }

    #[tokio::test]
    async fn cuts_the_preview_on_a_character_boundary_and_keeps_the_bytes() {
        let text = "ab€".repeat(100_000); // 5 bytes per repeat
                                          // "ab€ab" is 7 bytes; the next € would end at byte 10, past the limit of 9.
        let out = capture(text.as_bytes(), 9, 1 << 20, None, None).await;
        assert_eq!(out.preview, "ab€ab");
        assert!(out.truncated);
        let raw = out.raw.unwrap();
        assert_eq!((raw.bytes.len(), raw.total), (500_000, 500_000));
    }

    #[tokio::test]
    async fn binary_output_gets_a_valid_preview_and_its_exact_bytes() {
        let bytes = vec![0xFFu8; 200_000];
        let out = capture(&bytes[..], 256 * 1024, 100_000, None, None).await;
        assert!(out
            .preview
            .chars()
            .all(|c| c == char::REPLACEMENT_CHARACTER));
        assert!(out.preview.len() <= 256 * 1024);
        let raw = out.raw.unwrap();
        assert_eq!(
            raw.bytes,
            vec![0xFF; 100_000],
            "the raw copy is cut at its own limit"
        );
        assert_eq!(raw.total, 200_000);
    }

    #[tokio::test]
    async fn the_last_complete_line_is_noted_as_the_stream_runs() {
        let last = LastLine::default();
        assert_eq!(last.get(), None);
        let text = "step 1: run: ls\n  | a\nstep 2: answer\npartial";
        capture(text.as_bytes(), 1024, 1024, Some(&last), None).await;
        assert_eq!(last.get().as_deref(), Some("step 2: answer"));
        // A line that arrives in pieces is noted whole once it ends.
        last.note(b" | tail\nstep 3: ru");
        last.note(b"n: ls");
        assert_eq!(last.get().as_deref(), Some("partial | tail"));
        last.note(b" -la\n");
        assert_eq!(last.get().as_deref(), Some("step 3: run: ls -la"));
    }
}
