//! CyNode's domain: what tasks, jobs, users, sessions and nodes are, and the rules that
//! govern them. It knows nothing of AWS or HTTP.
//!
//! - [`wire`]: the JSON contract shared with the edge node and the CLI.
//! - [`task`], [`job`], [`plan`], [`project`], [`user`], [`session`], [`node`], [`chat`]: the entities and their pure rules
//!   (state machines, ownership, validation).
//! - [`ports`]: what the services need from storage and queues; adapters implement them.
//! - [`service`]: the use cases, written against the ports.
//! - [`signing`]: how edge nodes sign their requests.
//! - [`memory`]: in-memory ports for unit tests.

pub mod chat;
pub mod clock;
pub mod error;
pub mod ids;
pub mod job;
pub mod limits;
pub mod memory;
pub mod node;
pub mod plan;
pub mod ports;
pub mod project;
pub mod service;
pub mod session;
pub mod signing;
pub mod status;
pub mod task;
pub mod user;
pub mod wire;

pub use error::{Error, ErrorKind, Result, StoreError};
