//! A job's live log on its way out: what its streams printed that the node has not
//! shipped yet (`job::logs` ships it to the gateway while the job runs). Capturing only
//! appends here and never waits for the gateway: a job is never slowed by its log. Past
//! the cap (`sandbox.max_log_size`) the rest is dropped and the log says it was cut.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use cynode_protocol::limits::DEFAULT_MAX_LOG_BYTES;
use cynode_protocol::wire::{LogEntry, OutputStream};

#[derive(Debug, Clone)]
pub struct LiveLog {
    pending: Arc<Mutex<Pending>>,
    printed: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Pending {
    /// In the order read; neighbours of one stream are joined.
    entries: Vec<(OutputStream, Vec<u8>)>,
    /// Bytes accepted so far (shipped or not).
    accepted: u64,
    cap: u64,
    /// The cap was reached; `cut_shipped` once a chunk said so.
    cut: bool,
    cut_shipped: bool,
}

impl Default for LiveLog {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LOG_BYTES)
    }
}

impl LiveLog {
    pub fn new(cap: u64) -> Self {
        Self {
            pending: Arc::new(Mutex::new(Pending {
                cap,
                ..Pending::default()
            })),
            printed: Arc::new(Notify::new()),
        }
    }

    /// Bytes `stream` just printed.
    pub fn note(&self, stream: OutputStream, bytes: &[u8]) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let room = pending.cap.saturating_sub(pending.accepted);
        let kept = &bytes[..bytes.len().min(room as usize)];
        if kept.len() < bytes.len() {
            pending.cut = true;
        }
        pending.accepted += kept.len() as u64;
        if !kept.is_empty() {
            match pending.entries.last_mut() {
                Some((last, text)) if *last == stream => text.extend_from_slice(kept),
                _ => pending.entries.push((stream, kept.to_vec())),
            }
        }
        drop(pending);
        self.printed.notify_one();
    }

    /// Waits until something was printed since the last [`LiveLog::take`] (at once when
    /// something already is).
    pub async fn printed(&self) {
        if self.has_news() {
            return;
        }
        self.printed.notified().await;
    }

    fn has_news(&self) -> bool {
        self.pending
            .lock()
            .is_ok_and(|p| !p.entries.is_empty() || (p.cut && !p.cut_shipped))
    }

    /// Up to `max_bytes` of what is pending, as text (a character cut at the end waits
    /// for its other bytes), and whether the log was cut at its cap (said once).
    pub fn take(&self, max_bytes: usize) -> (Vec<LogEntry>, bool) {
        let Ok(mut pending) = self.pending.lock() else {
            return (vec![], false);
        };
        let mut out = Vec::new();
        let mut room = max_bytes;
        while room > 0 && !pending.entries.is_empty() {
            let (stream, bytes) = &mut pending.entries[0];
            let stream = *stream;
            let mut end = bytes.len().min(room);
            // Whole characters only: keep a split one for the next chunk.
            while end > 0 && end < bytes.len() && (bytes[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            if end == bytes.len() {
                let tail = incomplete_tail(bytes);
                end = bytes.len() - tail;
            }
            if end == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
            bytes.drain(..end);
            room -= end;
            if bytes.is_empty() {
                pending.entries.remove(0);
            }
            out.push(LogEntry { stream, text });
        }
        let cut = pending.cut && !pending.cut_shipped && pending.entries.is_empty();
        if cut {
            pending.cut_shipped = true;
        }
        (out, cut)
    }

    /// Whatever is left once the job has ended, split characters included.
    pub fn take_rest(&self, max_bytes: usize) -> (Vec<LogEntry>, bool) {
        let (mut entries, cut) = self.take(max_bytes);
        if entries.is_empty() && !cut {
            if let Ok(mut pending) = self.pending.lock() {
                if let Some((stream, bytes)) = pending.entries.first().cloned() {
                    pending.entries.remove(0);
                    entries.push(LogEntry {
                        stream,
                        text: String::from_utf8_lossy(&bytes).into_owned(),
                    });
                }
            }
        }
        (entries, cut)
    }
}

/// Bytes at the end of `bytes` that start a UTF-8 character not yet complete.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let needs = match byte {
            b if b & 0xE0 == 0xC0 => 2,
            b if b & 0xF0 == 0xE0 => 3,
            b if b & 0xF8 == 0xF0 => 4,
            _ => 1,
        };
        return if needs > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(entries: &[LogEntry]) -> Vec<(&str, &str)> {
        entries
            .iter()
            .map(|e| (e.stream.as_str(), e.text.as_str()))
            .collect()
    }

    #[test]
    fn keeps_the_order_of_the_streams_and_joins_neighbours() {
        let log = LiveLog::default();
        log.note(OutputStream::Stdout, b"one\n");
        log.note(OutputStream::Stdout, b"two\n");
        log.note(OutputStream::Stderr, b"step\n");
        log.note(OutputStream::Stdout, b"three\n");
        let (entries, cut) = log.take(1024);
        assert_eq!(
            texts(&entries),
            [
                ("stdout", "one\ntwo\n"),
                ("stderr", "step\n"),
                ("stdout", "three\n")
            ]
        );
        assert!(!cut);
        assert_eq!(log.take(1024).0, vec![]);
    }

    #[test]
    fn a_chunk_is_bounded_and_never_splits_a_character() {
        let log = LiveLog::default();
        log.note(OutputStream::Stdout, "ab€cd".as_bytes()); // € is 3 bytes
        let (first, _) = log.take(4);
        assert_eq!(texts(&first), [("stdout", "ab")]);
        let (second, _) = log.take(4);
        assert_eq!(texts(&second), [("stdout", "€c")]);
        // A character whose last byte has not been read yet waits for it.
        log.note(OutputStream::Stdout, &"é".as_bytes()[..1]);
        let (third, _) = log.take(1024);
        assert_eq!(texts(&third), [("stdout", "d")]);
        log.note(OutputStream::Stdout, &"é".as_bytes()[1..]);
        assert_eq!(texts(&log.take(1024).0), [("stdout", "é")]);
    }

    #[test]
    fn past_the_cap_the_rest_is_dropped_and_the_cut_said_once() {
        let log = LiveLog::new(10);
        log.note(OutputStream::Stdout, b"0123456789abcdef");
        let (entries, cut) = log.take(1024);
        assert_eq!(
            (texts(&entries), cut),
            (vec![("stdout", "0123456789")], true)
        );
        log.note(OutputStream::Stderr, b"more");
        assert_eq!(log.take(1024), (vec![], false));
    }

    #[tokio::test]
    async fn printed_wakes_a_waiting_shipper() {
        let log = LiveLog::default();
        let waiter = {
            let log = log.clone();
            tokio::spawn(async move { log.printed().await })
        };
        tokio::task::yield_now().await;
        log.note(OutputStream::Stderr, b"x");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
