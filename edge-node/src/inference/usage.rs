//! Token counts, as model servers report them at the end of an answer: OpenAI's
//! `usage.prompt_tokens` / `completion_tokens` (in the JSON body, or in the last SSE chunk
//! of a stream) and Ollama's `prompt_eval_count` / `eval_count` (last line of its stream).
//! Only numbers are read: a call's content is never kept or logged.

use cynode_protocol::wire::InferenceUsage;

/// The last value of `"key": <digits>` in `text`.
fn last_number(text: &str, key: &str) -> Option<u64> {
    let needle = format!("\"{key}\"");
    let at = text.rfind(&needle)?;
    let rest = text[at + needle.len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The usage of the one call whose response (or its last few KiB: servers put it at the
/// very end) is `tail`. `None` when the server reported none.
pub fn usage_from_tail(tail: &[u8]) -> Option<InferenceUsage> {
    let text = String::from_utf8_lossy(tail);
    let openai = (
        last_number(&text, "prompt_tokens"),
        last_number(&text, "completion_tokens"),
    );
    let ollama = (
        last_number(&text, "prompt_eval_count"),
        last_number(&text, "eval_count"),
    );
    match (openai, ollama) {
        ((Some(p), Some(c)), _) | (_, (Some(p), Some(c))) => Some(InferenceUsage {
            calls: 1,
            prompt_tokens: p,
            completion_tokens: c,
            refused_calls: 0,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_json_and_stream_tails() {
        let body = br#"{"choices":[{"message":{"content":"4"}}],"usage":{"completion_tokens":2,"prompt_tokens":31,"total_tokens":33}}"#;
        assert_eq!(
            usage_from_tail(body),
            Some(InferenceUsage {
                calls: 1,
                prompt_tokens: 31,
                completion_tokens: 2,
                refused_calls: 0,
            })
        );
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\": 5, \"completion_tokens\": 9}}\n\ndata: [DONE]\n\n";
        assert_eq!(
            usage_from_tail(stream),
            Some(InferenceUsage {
                calls: 1,
                prompt_tokens: 5,
                completion_tokens: 9,
                refused_calls: 0,
            })
        );
    }

    #[test]
    fn reads_ollama_counts_and_nothing_when_absent() {
        let line = br#"{"model":"m","done":true,"prompt_eval_count":12,"eval_count":7}"#;
        assert_eq!(
            usage_from_tail(line),
            Some(InferenceUsage {
                calls: 1,
                prompt_tokens: 12,
                completion_tokens: 7,
                refused_calls: 0,
            })
        );
        assert_eq!(usage_from_tail(br#"{"models":[]}"#), None);
        assert_eq!(usage_from_tail(b"\xff\xfe not json"), None);
    }
}
