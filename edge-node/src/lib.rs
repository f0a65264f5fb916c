//! CyNode's edge-node agent (`cynode-edge`).
//!
//! Read top-down: [`agent`] is the agent's life (register, poll, shut down); [`runner`]
//! handles one job delivery (claim, keep alive, run, report); [`sandbox`] runs a job in
//! isolation (Podman); [`gateway`] talks to the control plane; [`queue`] to SQS;
//! [`spool`] keeps finished results on disk until the gateway has them. Jobs that need a
//! model reach it through [`inference`]; prompts are answered by [`prompt_agent`], which
//! runs inside the job's sandbox.

pub mod agent;
pub mod capabilities;
pub mod config;
pub mod credentials;
pub mod gateway;
pub mod inference;
pub mod outage;
pub mod prompt_agent;
pub mod queue;
pub mod runner;
pub mod sandbox;
pub mod spool;
pub mod workspace;
