//! The one error table, and the typed error services return.
//!
//! Policy (crates.io style): jobs use `anyhow` inside and report a
//! [`crate::queue::JobError`] with a stable code; services return
//! [`ServiceError`]; only the HTTP edge turns a `ServiceError` into the wire
//! shape `{code, message, details?}`. Every code the API can answer lives in
//! [`ErrorCode`], with its HTTP status, and nowhere else.

use serde::Serialize;

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal)),* $(,)?) => {
        /// Stable error codes. Clients match on `code`; never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// The wire spelling of the code.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $code),* }
            }
            /// The HTTP status this code is answered with.
            pub fn http_status(self) -> u16 {
                match self { $(Self::$variant => $status),* }
            }
            /// Every code, for the documentation table.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant),*];
        }
    };
}

error_codes! {
    InvalidJson => ("invalid_json", 400),
    InvalidParameter => ("invalid_parameter", 400),
    InvalidHeader => ("invalid_header", 400),
    MissingApiKey => ("missing_api_key", 401),
    InvalidApiKey => ("invalid_api_key", 401),
    Forbidden => ("forbidden", 403),
    CsrfFailed => ("csrf_failed", 403),
    NotFound => ("not_found", 404),
    JobNotFound => ("job_not_found", 404),
    ApiKeyNotFound => ("api_key_not_found", 404),
    WebhookNotFound => ("webhook_not_found", 404),
    DeliveryNotFound => ("delivery_not_found", 404),
    DocumentNotFound => ("document_not_found", 404),
    ConversationNotFound => ("conversation_not_found", 404),
    MessageNotFound => ("message_not_found", 422),
    TagNotFound => ("tag_not_found", 404),
    ExportNotFound => ("export_not_found", 404),
    ToolNotFound => ("tool_not_found", 404),
    McpServerNotFound => ("mcp_server_not_found", 404),
    AgentNotFound => ("agent_not_found", 404),
    ScheduleNotFound => ("schedule_not_found", 404),
    LlmProviderNotFound => ("llm_provider_not_found", 404),
    LlmModelNotFound => ("llm_model_not_found", 404),
    FileNotFound => ("file_not_found", 404),
    BatchNotFound => ("batch_not_found", 404),
    MethodNotAllowed => ("method_not_allowed", 405),
    IdempotencyConflict => ("idempotency_conflict", 409),
    BatchRejected => ("batch_rejected", 422),
    TagExists => ("tag_exists", 409),
    JobNotCancellable => ("job_not_cancellable", 409),
    JobNotRetryable => ("job_not_retryable", 409),
    BatchNotCancellable => ("batch_not_cancellable", 409),
    ReindexInProgress => ("reindex_in_progress", 409),
    NameTaken => ("name_taken", 409),
    TooManySchedules => ("too_many_schedules", 409),
    LlmNameTaken => ("llm_name_taken", 409),
    LlmProviderInUse => ("llm_provider_in_use", 409),
    ExportExpired => ("export_expired", 410),
    PayloadTooLarge => ("payload_too_large", 413),
    UnsupportedMediaType => ("unsupported_media_type", 415),
    UnknownKind => ("unknown_kind", 422),
    InvalidPayload => ("invalid_payload", 422),
    InvalidSchedule => ("invalid_schedule", 422),
    UnknownDependency => ("unknown_dependency", 422),
    DependencyFailed => ("dependency_failed", 422),
    UrlNotAllowed => ("url_not_allowed", 422),
    UnknownModel => ("unknown_model", 422),
    InvalidArguments => ("invalid_arguments", 422),
    CommandNotAllowed => ("command_not_allowed", 422),
    TooManyStreams => ("too_many_streams", 429),
    RateLimited => ("rate_limited", 429),
    CostCapReached => ("cost_cap_reached", 429),
    CompletionFailed => ("completion_failed", 502),
    CompletionTimeout => ("completion_timeout", 504),
    Internal => ("internal", 500),
    Unavailable => ("unavailable", 503),
}

/// An error from a service: a code from the table, a human message, and
/// optional structured details (e.g. which field failed).
#[derive(Debug, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None }
    }
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
    /// A bad query or path parameter, named in `details.parameter`.
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message).with_details(serde_json::json!({ "parameter": name }))
    }
    /// `invalid_payload` naming the body field that failed.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPayload, message).with_details(serde_json::json!({ "field": field }))
    }
    /// An unexpected failure; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        // Text Postgres cannot store (a NUL byte in `text`, `\u0000` in
        // `jsonb`) is the caller's input, whatever route brought it.
        if let diesel::result::Error::DatabaseError(_, info) = &e {
            let m = info.message();
            if m.contains("invalid byte sequence") || m.contains("unsupported Unicode escape sequence") {
                return Self::new(ErrorCode::InvalidPayload, "text may not contain NUL characters (\\u0000)");
            }
        }
        Self::internal(format!("database: {e}"))
    }
}

impl From<crate::db::PoolError> for ServiceError {
    fn from(e: crate::db::PoolError) -> Self {
        tracing::error!(error = %e, "database pool");
        Self::new(ErrorCode::Unavailable, "database unavailable")
    }
}

impl From<redis::RedisError> for ServiceError {
    fn from(e: redis::RedisError) -> Self {
        tracing::error!(error = %e, "redis");
        Self::new(ErrorCode::Unavailable, "redis unavailable")
    }
}

/// The wire shape of every error the API answers.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code from the error table.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Structured details, e.g. the failing fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl From<&ServiceError> for ErrorBody {
    fn from(e: &ServiceError) -> Self {
        Self { code: e.code.as_str().to_string(), message: e.message.clone(), details: e.details.clone() }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
