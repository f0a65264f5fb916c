//! CyNode's domain: what tasks, jobs, users, sessions and nodes are, and the rules that
//! govern them. It knows nothing of AWS or HTTP.
//!
//! - [`wire`], [`ids`], [`status`], [`limits`], [`signing`], [`clock`]: re-exported from
//!   `cynode-protocol`, the contract shared with the edge node and the CLI.
//! - [`api_key`], [`audit`], [`usage`], [`task`], [`job`], [`plan`], [`project`], [`provider`], [`egress`], [`model_routing`], [`preference`], [`settings`], [`skill`], [`user`], [`session`], [`node`], [`chat`]: the entities and their pure rules
//!   (state machines, ownership, validation).
//! - [`ports`]: what the services need from storage and queues; adapters implement them.
//! - [`service`]: the use cases, written against the ports.
//! - [`memory`]: in-memory ports for unit tests.

pub mod api_key;
pub mod audit;
pub mod chat;
pub mod credential;
pub mod egress;
pub mod error;
pub mod job;
pub mod live_log;
pub mod memory;
pub mod model_routing;
pub mod node;
pub mod plan;
pub mod ports;
pub mod preference;
pub mod principal;
pub mod project;
pub mod provider;
pub mod service;
pub mod session;
pub mod settings;
pub mod skill;
pub mod task;
pub mod transitions;
pub mod usage;
pub mod user;

// The wire contract lives in `cynode-protocol`, which the CLI and the edge node link
// without the domain; re-exported so the domain and the gateway name it in one place.
pub use cynode_protocol::{clock, ids, limits, signing, status, wire};

pub use cynode_protocol::wire::ErrorCode;
pub use error::{Error, ErrorKind, Result, StoreError};
