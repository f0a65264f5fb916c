//! The handlers, one module per route group (one Lambda function each).
//!
//! Each handler turns a request into one service call and its result into a response;
//! rules live in the domain.

pub mod admin;
mod answer_stream;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod chat_threads;
pub mod console;
pub mod credentials;
mod embeddings;
pub mod events;
pub mod health;
mod hosted;
pub mod jobs;
pub mod log_stream;
pub mod nodes;
pub mod ollama;
pub mod plans;
pub mod preferences;
pub mod projects;
pub mod providers;
pub mod responses;
pub mod settings;
pub mod skills;
pub mod tasks;
mod text_completions;
pub mod usage;
pub mod users;
