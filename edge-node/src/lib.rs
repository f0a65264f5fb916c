//! CyNode's edge-node agent (`cynode-edge`).
//!
//! Read top-down: [`agent`] is the agent's life (register, poll, shut down), built from
//! its parts as values; [`job`] handles one job delivery (claim, keep the lease, run,
//! report), one concern a file; [`sandbox`] runs a job in isolation (Podman); [`gateway`]
//! is the control plane; [`queue`] the job queues (SQS); [`spool`] keeps finished
//! results until the gateway has them; [`outage`] and [`backoff`] say when and how to
//! try again. Jobs that need a model reach it through [`inference`]; prompts are
//! answered by [`prompt_agent`], which runs inside the job's sandbox and shares only its
//! job file's types with the node; planned work's repositories are [`workspace`]'s.

pub mod agent;
pub mod backoff;
pub mod capabilities;
pub mod config;
pub mod credentials;
pub mod gateway;
pub mod inference;
pub mod job;
pub mod outage;
pub mod prompt_agent;
pub mod queue;
pub mod sandbox;
pub mod spool;
pub mod workspace;
