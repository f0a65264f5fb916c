//! CyNode's gateway: the HTTP side of the control plane.
//!
//! Each route group is a Lambda function ([`routing::Function`]): `auth`, `tasks`,
//! `nodes` (with health), `callbacks`. A request flows through an extractor
//! ([`extract`]) into a handler ([`routes`]), which calls one domain service; errors come
//! back in one shape ([`error`]). [`host`] runs an app on Lambda or on a local port, and
//! [`routing::local_gateway`] serves every function on one port for development.

pub mod config;
pub mod egress;
pub mod error;
pub mod extract;
pub mod host;
pub mod request_id;
pub mod routes;
pub mod routing;
pub mod state;
pub mod stream;
