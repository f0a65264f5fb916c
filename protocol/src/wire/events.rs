//! Task events: what `GET /v1/events/tasks/{task}` sends as server-sent events, typed for
//! the gateway that writes them and any client that reads them. Each event is an SSE
//! `event:` name and a JSON `data:` line.

use serde::{Deserialize, Serialize};

use super::{ErrorCode, RunView};
use crate::ids::TaskId;
use crate::plan::{PullRequest, SubtaskState};
use crate::status::TaskStatus;

/// `task:status`: the task's status, and for planned work how planning went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusEvent {
    pub task_id: TaskId,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner_error: Option<String>,
}

/// `subtask:state`: one subtask of the plan changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskStateEvent {
    pub number: u32,
    pub title: String,
    pub state: SubtaskState,
    pub attempts: u32,
    pub reason: Option<String>,
    pub pull_request: Option<PullRequest>,
}

/// `end`: the task reached a final status; the stream closes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndEvent {
    pub status: TaskStatus,
}

/// `error`: the stream stops for this reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamErrorEvent {
    pub code: ErrorCode,
    pub message: String,
}

/// One event of a task's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data")]
pub enum TaskEvent {
    #[serde(rename = "task:status")]
    TaskStatus(TaskStatusEvent),
    #[serde(rename = "subtask:state")]
    SubtaskState(SubtaskStateEvent),
    /// A run waits on the queue.
    #[serde(rename = "agent:queued")]
    AgentQueued(RunView),
    /// A node runs it.
    #[serde(rename = "agent:started")]
    AgentStarted(RunView),
    /// It ended.
    #[serde(rename = "agent:finished")]
    AgentFinished(RunView),
    #[serde(rename = "end")]
    End(EndEvent),
    /// The stream's time is up (it ends before the serving function's timeout): connect
    /// again.
    #[serde(rename = "reconnect")]
    Reconnect(serde_json::Map<String, serde_json::Value>),
    #[serde(rename = "error")]
    Error(StreamErrorEvent),
}

impl TaskEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            TaskEvent::TaskStatus(_) => "task:status",
            TaskEvent::SubtaskState(_) => "subtask:state",
            TaskEvent::AgentQueued(_) => "agent:queued",
            TaskEvent::AgentStarted(_) => "agent:started",
            TaskEvent::AgentFinished(_) => "agent:finished",
            TaskEvent::End(_) => "end",
            TaskEvent::Reconnect(_) => "reconnect",
            TaskEvent::Error(_) => "error",
        }
    }

    /// The event as SSE text: `event: <name>\ndata: <json>\n\n`.
    pub fn to_sse(&self) -> String {
        let data = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut tagged)) => tagged.remove("data").unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        format!("event: {}\ndata: {data}\n\n", self.name())
    }

    /// Reads an event back from its SSE name and data.
    pub fn from_sse(name: &str, data: &str) -> Result<TaskEvent, serde_json::Error> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        serde_json::from_value(serde_json::json!({"event": name, "data": data}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_from_their_sse_text() {
        let events = [
            TaskEvent::TaskStatus(TaskStatusEvent {
                task_id: TaskId::generate(),
                status: TaskStatus::Running,
                planner_attempts: Some(1),
                planner_error: None,
            }),
            TaskEvent::End(EndEvent {
                status: TaskStatus::Completed,
            }),
            TaskEvent::Reconnect(Default::default()),
            TaskEvent::Error(StreamErrorEvent {
                code: ErrorCode::TokenRevoked,
                message: "the session has ended".into(),
            }),
        ];
        for event in events {
            let text = event.to_sse();
            let (head, data) = text.trim_end().split_once('\n').unwrap();
            assert_eq!(head, format!("event: {}", event.name()));
            let data = data.strip_prefix("data: ").unwrap();
            assert_eq!(TaskEvent::from_sse(event.name(), data).unwrap(), event);
        }
        assert!(TaskEvent::Reconnect(Default::default())
            .to_sse()
            .ends_with("data: {}\n\n"));
    }
}
