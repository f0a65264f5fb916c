//! The use cases, one service per route group.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod credentials;
pub mod jobs;
pub mod nodes;
pub mod plans;
pub mod preferences;
pub mod projects;
pub mod recovery;
pub mod settings;
pub mod skills;
pub mod streams;
pub mod tasks;
pub mod usage;
pub mod users;
pub(crate) mod write;

pub use crate::principal::Principal;
pub use api_keys::ApiKeyService;
pub use audit::{AuditService, Auditor};
pub use auth::{AuthService, AuthSettings};
pub use chat::ChatService;
pub use credentials::CredentialService;
pub use jobs::{JobService, JobSettings};
pub use nodes::{NodeService, SignedRequest, SigningKey};
pub use plans::PlanService;
pub use preferences::PreferenceService;
pub use projects::ProjectService;
pub use recovery::RecoveryService;
pub use settings::SettingsService;
pub use skills::SkillService;
pub use streams::{StreamService, StreamSettings};
pub use tasks::{TaskService, TaskSettings};
pub use usage::UsageService;
pub use users::UserService;
