//! Error bodies: the one shape every refusal takes, and the codes both ends match on.
//!
//! Every code a gateway, a node or cynork can send or act on is an [`ErrorCode`] variant
//! spelled once, here: the gateway builds errors from variants, and clients match on
//! variants, so a renamed code breaks the build instead of a retry loop. A code this
//! build does not know (a newer gateway's) reads as [`ErrorCode::Unrecognized`]; the
//! message still says what happened.

use serde::{Deserialize, Serialize};

/// Every error response body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, where one is (OpenAI's `param`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

macro_rules! error_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// A stable, machine-readable error code (`docs/api.md` lists what each means).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)*
            /// A code this build does not know.
            Unrecognized,
        }

        impl ErrorCode {
            /// Every known code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unrecognized => "unrecognized",
                }
            }

            /// The code a body spells; [`ErrorCode::Unrecognized`] for one unknown here.
            pub fn parse(code: &str) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    _ => ErrorCode::Unrecognized,
                }
            }
        }
    };
}

error_codes! {
    AdminRequired = "admin_required",
    AnswerFailed = "answer_failed",
    AnswerTimeout = "answer_timeout",
    BudgetExhausted = "budget_exhausted",
    ApiKeyExpired = "api_key_expired",
    ApiKeyNotFound = "api_key_not_found",
    ApiKeyRevoked = "api_key_revoked",
    ApiKeyScope = "api_key_scope",
    AttachmentNotUploaded = "attachment_not_uploaded",
    AttachmentSizeMismatch = "attachment_size_mismatch",
    AttachmentTooLarge = "attachment_too_large",
    BadSignature = "bad_signature",
    BodyTooLarge = "body_too_large",
    ConcurrentUpdate = "concurrent_update",
    ConfigRejected = "config_rejected",
    CredentialDisabled = "credential_disabled",
    CredentialInUse = "credential_in_use",
    CredentialNameTaken = "credential_name_taken",
    CredentialNotFound = "credential_not_found",
    DependencyUnavailable = "dependency_unavailable",
    DuplicateAttachment = "duplicate_attachment",
    EmptyCommand = "empty_command",
    EmptyCommands = "empty_commands",
    EmptyPrompt = "empty_prompt",
    EmptyScript = "empty_script",
    EmptyUpdate = "empty_update",
    HandleTaken = "handle_taken",
    InputTooLarge = "input_too_large",
    InternalError = "internal_error",
    InvalidApiKey = "invalid_api_key",
    InvalidApiKeyName = "invalid_api_key_name",
    InvalidAttachmentName = "invalid_attachment_name",
    InvalidBody = "invalid_body",
    InvalidBranch = "invalid_branch",
    InvalidCredential = "invalid_credential",
    InvalidCredentials = "invalid_credentials",
    InvalidCursor = "invalid_cursor",
    InvalidDays = "invalid_days",
    InvalidExpiry = "invalid_expiry",
    InvalidForgeRepo = "invalid_forge_repo",
    InvalidForgeUrl = "invalid_forge_url",
    InvalidHandle = "invalid_handle",
    InvalidIdempotencyKey = "invalid_idempotency_key",
    InvalidImage = "invalid_image",
    InvalidLimit = "invalid_limit",
    InvalidModel = "invalid_model",
    InvalidNodeLabel = "invalid_node_label",
    InvalidNodeName = "invalid_node_name",
    InvalidPreference = "invalid_preference",
    InvalidPlan = "invalid_plan",
    InvalidPreSharedKey = "invalid_pre_shared_key",
    InvalidProvider = "invalid_provider",
    InvalidProjectName = "invalid_project_name",
    InvalidQuery = "invalid_query",
    InvalidScope = "invalid_scope",
    InvalidSetting = "invalid_setting",
    InvalidSkill = "invalid_skill",
    InvalidRefreshToken = "invalid_refresh_token",
    InvalidRepoUrl = "invalid_repo_url",
    InvalidSize = "invalid_size",
    InvalidStatus = "invalid_status",
    InvalidStream = "invalid_stream",
    InvalidSubtask = "invalid_subtask",
    InvalidTaskName = "invalid_task_name",
    InvalidTestCommand = "invalid_test_command",
    InvalidTimeout = "invalid_timeout",
    InvalidToken = "invalid_token",
    JobNotFound = "job_not_found",
    LastAdmin = "last_admin",
    MalformedJson = "malformed_json",
    MethodNotAllowed = "method_not_allowed",
    MissingInput = "missing_input",
    MissingToken = "missing_token",
    ModeMismatch = "mode_mismatch",
    ModelNotAllowed = "model_not_allowed",
    ModelNotFound = "model_not_found",
    MultipleInputs = "multiple_inputs",
    NoCredentials = "no_credentials",
    NoOutputYet = "no_output_yet",
    NodeDisabled = "node_disabled",
    NodeNameInUse = "node_name_in_use",
    NodeNotFound = "node_not_found",
    NodeRevoked = "node_revoked",
    NotPlanned = "not_planned",
    NotPlanningFailed = "not_planning_failed",
    NotASession = "not_a_session",
    OutputTooLarge = "output_too_large",
    PreferenceNotSet = "preference_not_set",
    ProjectGone = "project_gone",
    ProjectNameTaken = "project_name_taken",
    ProjectNotFound = "project_not_found",
    ProviderCredentialMissing = "provider_credential_missing",
    ProviderError = "provider_error",
    ProviderNameTaken = "provider_name_taken",
    ProviderNotFound = "provider_not_found",
    ProviderTimeout = "provider_timeout",
    RefreshTokenExpired = "refresh_token_expired",
    RefreshTokenReused = "refresh_token_reused",
    ReplayedRequest = "replayed_request",
    RouteNotFound = "route_not_found",
    RunNotFound = "run_not_found",
    SessionEnded = "session_ended",
    StaleAttempt = "stale_attempt",
    StaleConfig = "stale_config",
    StaleSignature = "stale_signature",
    StoreUnavailable = "store_unavailable",
    StreamTimeLimit = "stream_time_limit",
    SkillNotFound = "skill_not_found",
    SubtaskBlocked = "subtask_blocked",
    SubtaskFailed = "subtask_failed",
    SubtaskNotCompleted = "subtask_not_completed",
    SubtaskNotFailed = "subtask_not_failed",
    SubtaskNotFound = "subtask_not_found",
    SubtaskNotReady = "subtask_not_ready",
    TaskFinished = "task_finished",
    TaskNameTaken = "task_name_taken",
    TaskNotFound = "task_not_found",
    ThreadNotFound = "thread_not_found",
    TokenExpired = "token_expired",
    TokenRateExceeded = "token_rate_exceeded",
    TokenRevoked = "token_revoked",
    TooManyApiKeys = "too_many_api_keys",
    TooManyAttachments = "too_many_attachments",
    TooManyCommands = "too_many_commands",
    TooManyRequests = "too_many_requests",
    TooManyStreams = "too_many_streams",
    TooManyUnfinishedTasks = "too_many_unfinished_tasks",
    UnencodableRequest = "unencodable_request",
    UnexpectedResponse = "unexpected_response",
    UnknownAttachment = "unknown_attachment",
    UnknownMode = "unknown_mode",
    UnknownNode = "unknown_node",
    UnknownPreference = "unknown_preference",
    UnknownSetting = "unknown_setting",
    UnknownUser = "unknown_user",
    UnreadableResponse = "unreadable_response",
    UnsupportedParameter = "unsupported_parameter",
    UnsupportedValue = "unsupported_value",
    UploadFailed = "upload_failed",
    UserDisabled = "user_disabled",
    WeakPassword = "weak_password",
    WrongPassword = "wrong_password",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests and logs compare codes with their spelling.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(ErrorCode::parse(&code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself_and_unknown_ones_are_unrecognized() {
        for code in ErrorCode::ALL {
            let text = serde_json::to_string(code).unwrap();
            assert_eq!(&serde_json::from_str::<ErrorCode>(&text).unwrap(), code);
            assert!(code
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"from_a_newer_gateway\"").unwrap(),
            ErrorCode::Unrecognized
        );
    }

    /// Codes the node makes up for its own log about answers it could not use; they
    /// never cross the wire.
    const NODE_ONLY: &[ErrorCode] = &[
        ErrorCode::UnreadableResponse,
        ErrorCode::UnexpectedResponse,
        ErrorCode::UnencodableRequest,
        ErrorCode::UploadFailed,
    ];

    #[test]
    fn every_code_the_gateway_sends_is_documented() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
            .unwrap();
        let missing: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|code| !NODE_ONLY.contains(code))
            .map(|code| code.as_str())
            .filter(|code| !docs.contains(&format!("`{code}`")))
            .collect();
        assert!(missing.is_empty(), "not in docs/api.md: {missing:?}");
    }
}
