//! What the model may do each turn ([`Action`]), the JSON schema that constrains its
//! reply to one, and the record of each step and of the whole run the agent keeps.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One action the model chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Answer(String),
    Run(String),
}

/// The JSON schema every reply is constrained to.
pub fn action_schema(allow_run: bool) -> Value {
    let actions: Vec<&str> = if allow_run {
        vec!["answer", "run"]
    } else {
        vec!["answer"]
    };
    json!({
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": actions},
            "text": {"type": "string"}
        },
        "required": ["action", "text"],
        "additionalProperties": false
    })
}

/// Reads a reply. A reply that is not a valid action (a server without schema support)
/// is taken as the answer itself: it is never run.
pub fn parse_action(content: &str) -> Action {
    #[derive(Deserialize)]
    struct Raw {
        action: String,
        text: String,
    }
    match serde_json::from_str::<Raw>(content.trim()) {
        Ok(raw) if raw.action == "run" && !raw.text.trim().is_empty() => Action::Run(raw.text),
        Ok(raw) if raw.action == "answer" => Action::Answer(raw.text),
        _ => Action::Answer(content.trim().to_owned()),
    }
}

/// One step, as kept in the result and shown by `task logs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    pub step: u32,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl Step {
    /// The step as log lines.
    pub fn render(&self) -> String {
        let mut text = match (&self.command, &self.answer) {
            (Some(command), _) => format!("step {}: run: {command}\n", self.step),
            (None, _) => format!("step {}: answer\n", self.step),
        };
        if let Some(code) = self.exit_code {
            text.push_str(&format!("step {}: exit {code}\n", self.step));
        }
        if let Some(output) = self.output.as_deref().filter(|o| !o.is_empty()) {
            for line in output.lines() {
                text.push_str("  | ");
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentResult {
    pub answer: String,
    pub steps: Vec<Step>,
}
