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

/// Each of stdout and stderr is kept up to this many bytes (cut on a UTF-8 boundary).
pub const MAX_STREAM_BYTES: usize = 256 * 1024;
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

/// Like [`truncate_utf8`] for raw bytes that should be UTF-8: cuts at `max` bytes, backs
/// off to a character boundary, and replaces invalid sequences.
pub fn truncate_utf8_bytes(bytes: &[u8], max: usize) -> (String, bool) {
    let cut = bytes.len() > max;
    let mut end = bytes.len().min(max);
    if cut {
        // Back off over continuation bytes (10xxxxxx) to the start of a character, then
        // drop that character if it does not fit whole.
        let mut start = end;
        while start > 0 && start > end.saturating_sub(4) && (bytes[start - 1] & 0xC0) == 0x80 {
            start -= 1;
        }
        if start > 0 {
            let lead = bytes[start - 1];
            let width = match lead {
                0x00..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            if start - 1 + width > end {
                end = start - 1;
            }
        }
    }
    (String::from_utf8_lossy(&bytes[..end]).into_owned(), cut)
}

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
    fn byte_truncation_never_splits_a_character() {
        let text = "aé€😀".as_bytes();
        for max in 0..=text.len() {
            let (kept, cut) = truncate_utf8_bytes(text, max);
            assert!(kept.len() <= max, "max {max} kept {kept:?}");
            assert!(
                !kept.contains('\u{FFFD}'),
                "max {max} produced a replacement"
            );
            assert_eq!(cut, max < text.len());
            assert!("aé€😀".starts_with(&kept));
        }
    }

    #[test]
    fn byte_truncation_of_invalid_utf8_is_lossy_not_fatal() {
        let (kept, cut) = truncate_utf8_bytes(&[b'o', b'k', 0xFF, b'!'], 10);
        assert_eq!(kept, "ok\u{FFFD}!");
        assert!(!cut);
    }
}
