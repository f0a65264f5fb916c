//! CyNode's wire contract: everything that crosses a process boundary between the
//! gateway, the edge node and cynork, and nothing else.
//!
//! It exists so that the clients link only what they speak: no password hashing, no
//! token signing, no AWS. The domain (`cynode-domain`) re-exports these modules and adds
//! the rules.
//!
//! - [`wire`]: request and response bodies.
//! - [`ids`], [`status`], [`clock`]: the identifiers, statuses and timestamps in them.
//! - [`limits`]: size and time limits both ends enforce.
//! - [`signing`]: how edge nodes sign their requests.
//! - [`plan`], [`project`]: the wire shapes of planned work and of build settings.
//! - [`urls`]: what a repository or forge URL may not spell.

pub mod clock;
pub mod ids;
pub mod limits;
pub mod plan;
pub mod project;
pub mod signing;
pub mod status;
pub mod urls;
pub mod wire;
