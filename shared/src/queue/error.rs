//! How one attempt of a job failed: a stable code, a message, and whether
//! another attempt may succeed.

use crate::error::ServiceError;

/// How one attempt of a job failed.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// A stable code, stored on the job.
    pub code: String,
    pub message: String,
    /// Whether another attempt may succeed. `false` fails the job at once.
    pub retryable: bool,
}

impl JobError {
    /// A failure that another attempt may not repeat.
    pub fn retryable(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), retryable: true }
    }
    /// A database or pool error: worth another attempt.
    pub fn database(e: impl std::fmt::Display) -> Self {
        Self::retryable("database", e.to_string())
    }
    /// A failure no retry can fix, such as bad input.
    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), retryable: false }
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::retryable("job_error", format!("{e:#}"))
    }
}

/// A service failure inside a job: bad input is permanent, the rest
/// (stores unavailable, internal) worth another attempt.
impl From<ServiceError> for JobError {
    fn from(e: ServiceError) -> Self {
        let status = e.code.http_status();
        let code = e.code.as_str();
        if (400..500).contains(&status) {
            Self::permanent(code, e.message)
        } else {
            Self::retryable(code, e.message)
        }
    }
}

/// A vector store failure: worth another attempt.
impl From<crate::vectors::VectorError> for JobError {
    fn from(e: crate::vectors::VectorError) -> Self {
        Self::retryable("vector_store", e.to_string())
    }
}

/// A database failure: worth another attempt.
impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        Self::database(e)
    }
}
