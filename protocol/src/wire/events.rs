//! Task events: what `GET /v1/events/tasks/{task}` sends, typed for both ends.
