//! Size and time limits shared by the gateway, the edge node and the CLI.
//!
//! Each limit has exactly one home, here. AWS service limits shape several of them: a
//! Lambda payload is at most 6 MB, a DynamoDB item 400 KB, an SQS message 256 KiB.

/// Largest JSON body the task routes accept (a 1 MiB task file plus JSON escaping).
pub const MAX_TASK_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Largest body of every other user-facing route.
pub const MAX_SMALL_BODY_BYTES: usize = 64 * 1024;
/// Largest job result callback: two 256 KiB streams, worst-case JSON escaped.
pub const MAX_RESULT_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Natural-language prompt (the CLI's `--task-file` limit).
pub const MAX_PROMPT_BYTES: usize = 1024 * 1024;
/// Script body.
pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;
/// All commands together (the CLI's `--commands-file` limit).
pub const MAX_COMMANDS_BYTES: usize = 64 * 1024;
/// Number of commands in one task.
pub const MAX_COMMANDS: usize = 1000;
/// One attachment.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;
/// Attachments per task.
pub const MAX_ATTACHMENTS: usize = 16;
/// Task name after normalization.
pub const MAX_TASK_NAME_CHARS: usize = 64;
/// Longest model name accepted.
pub const MAX_MODEL_NAME_CHARS: usize = 128;

/// Each of stdout and stderr has a preview of at most this many bytes *as JSON* (see
/// [`json_preview`]); the raw bytes beyond it go to the blob store.
pub const MAX_STREAM_BYTES: usize = 256 * 1024;
/// Raw bytes of each stream a node keeps and uploads when the preview is not all of it.
pub const MAX_RAW_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;
/// Characters of a prompt kept on the task item for listing.
pub const PROMPT_PREVIEW_BYTES: usize = 4 * 1024;
/// Task inputs larger than this live in the blob store, not on the task item.
pub const MAX_INLINE_INPUT_BYTES: usize = 48 * 1024;

/// Page sizes of `GET /v1/tasks`.
pub const LIST_LIMIT_DEFAULT: u32 = 50;
pub const LIST_LIMIT_MAX: u32 = 200;

/// Sandbox job timeout used when a task names none.
pub const DEFAULT_JOB_TIMEOUT_SECS: u64 = 3600;
/// No job may run longer than this.
pub const MAX_JOB_TIMEOUT_SECS: u64 = 10800;

/// Signed callbacks older or newer than this are refused.
pub const CALLBACK_REPLAY_WINDOW_SECS: i64 = 300;

/// Cut `text` to at most `max` bytes without splitting a UTF-8 character.
/// Returns the kept prefix and whether anything was cut.
pub fn truncate_utf8(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// Bytes `c` takes in a JSON string: control characters become `\u00XX` (or a two-byte
/// escape), quotes and backslashes gain a backslash, everything else is itself.
fn json_width(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes `text` takes inside a JSON string (without the quotes).
pub fn json_len(text: &str) -> usize {
    text.chars().map(json_width).sum()
}

/// The longest prefix of `text` whose JSON encoding fits in `max` bytes, and whether
/// anything was cut. Output previews are measured this way, so that no response that
/// carries them can grow past Lambda's payload limit however hostile the bytes are.
pub fn json_preview(text: &str, max: usize) -> (&str, bool) {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += json_width(c);
        if used > max {
            return (&text[..at], true);
        }
    }
    (text, false)
}

/// A preview of bytes that should be text: invalid UTF-8 becomes U+FFFD, then the result
/// is cut like [`json_preview`]. Returns the preview and whether it differs from the bytes
/// (cut, or converted); then only the bytes themselves are the whole output.
pub fn preview_bytes(bytes: &[u8], max: usize) -> (String, bool) {
    let mut preview = String::new();
    let mut used = 0;
    let mut lossy = false;
    for chunk in bytes.utf8_chunks() {
        let (valid, cut) = json_preview(chunk.valid(), max - used);
        preview.push_str(valid);
        used += json_len(valid);
        if cut {
            return (preview, true);
        }
        if !chunk.invalid().is_empty() {
            lossy = true;
            if used + 3 > max {
                return (preview, true);
            }
            preview.push(char::REPLACEMENT_CHARACTER);
            used += 3;
        }
    }
    (preview, lossy)
}

/// Largest skill body (its request must fit the 64 KiB body limit of most routes).
pub const MAX_SKILL_BYTES: usize = 32 * 1024;

/// Text of one live-log chunk (its stored item stays far below DynamoDB's 400 KB).
pub const MAX_LOG_CHUNK_BYTES: usize = 64 * 1024;
/// Live log one attempt ships by default (`sandbox.max_log_size`); beyond it the rest is
/// only in the result's output.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;
/// A node ships what a job printed at least this often while it prints…
pub const LOG_FLUSH_MILLIS: u64 = 500;
/// …and the first output of an attempt this soon.
pub const FIRST_LOG_FLUSH_MILLIS: u64 = 100;
/// Chunks one live-log read returns at most.
pub const LOG_READ_LIMIT: u32 = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let text = "aé€😀"; // 1 + 2 + 3 + 4 bytes
        assert_eq!(truncate_utf8(text, 10), (text, false));
        assert_eq!(truncate_utf8(text, 9), ("aé€", true));
        assert_eq!(truncate_utf8(text, 2), ("a", true));
        assert_eq!(truncate_utf8(text, 0), ("", true));
    }

    #[test]
    fn previews_of_text_never_split_a_character() {
        let text = "aé€😀".as_bytes(); // 1 + 2 + 3 + 4 bytes
        for max in 0..=text.len() {
            let (kept, differs) = preview_bytes(text, max);
            assert!(kept.len() <= max, "max {max} kept {kept:?}");
            assert!(
                !kept.contains('\u{FFFD}'),
                "max {max} produced a replacement"
            );
            assert_eq!(differs, max < text.len());
            assert!("aé€😀".starts_with(&kept));
        }
    }

    #[test]
    fn invalid_utf8_is_converted_and_flagged() {
        let (kept, differs) = preview_bytes(&[b'o', b'k', 0xFF, b'!'], 10);
        assert_eq!(kept, "ok\u{FFFD}!");
        assert!(differs, "the bytes were converted");
    }

    #[test]
    fn previews_fit_their_limit_as_json_whatever_the_bytes() {
        // 0xFF grows to 3 bytes when converted, a control character to 6 in JSON.
        for fill in [0xFFu8, 0x00, 0x01, b'"', b'\n', b'x'] {
            let bytes = vec![fill; 200_000];
            let (kept, differs) = preview_bytes(&bytes, MAX_STREAM_BYTES);
            let json = serde_json::to_string(&kept).unwrap();
            assert!(
                json.len() - 2 <= MAX_STREAM_BYTES,
                "fill {fill:#x}: {}",
                json.len()
            );
            assert_eq!(json.len() - 2, json_len(&kept), "fill {fill:#x}");
            // 200 000 plain bytes fit; every other fill grows past the limit and is cut.
            assert_eq!(differs, fill != b'x', "fill {fill:#x}");
        }
    }
}
