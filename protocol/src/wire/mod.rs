//! The JSON contract between the gateway, the edge node and the CLI.
//!
//! Everything that crosses a process boundary is declared here once and used by both
//! ends, so a field renamed on one side cannot silently drift from the other. One file a
//! section; every type is re-exported here, so callers write `wire::TaskView`.

mod admin;
mod api_keys;
mod audit;
mod auth;
mod chat;
mod credentials;
mod errors;
mod events;
mod jobs;
mod logs;
mod nodes;
mod preferences;
mod projects;
mod providers;
mod settings;
mod skills;
mod tasks;
mod usage;

pub use admin::*;
pub use api_keys::*;
pub use audit::*;
pub use auth::*;
pub use chat::*;
pub use credentials::*;
pub use errors::*;
pub use events::*;
pub use jobs::*;
pub use logs::*;
pub use nodes::*;
pub use preferences::*;
pub use projects::*;
pub use providers::*;
pub use settings::*;
pub use skills::*;
pub use tasks::*;
pub use usage::*;
