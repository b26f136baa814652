//! `diagnostic` (admin only, queue `maintenance`): sleeps, reports progress,
//! fails on purpose or panics. It serves smoke tests, benchmarks and chaos
//! tests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{JobArgs, Kind};
use crate::domain::Queue;
use crate::error::{ErrorCode, ServiceError, ServiceResult};

/// Longest sleep a diagnostic job may ask for.
pub const MAX_SLEEP_MS: u64 = 10 * 60 * 1000;
/// Most progress steps a diagnostic job may ask for.
pub const MAX_STEPS: u32 = 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// Total time to sleep, spread over the steps.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Progress reports, one after each equal slice of the sleep.
    #[serde(default)]
    pub steps: u32,
    /// The first this many attempts fail with a retryable error.
    #[serde(default)]
    pub fail_attempts: u32,
    /// Fail with a permanent (non-retryable) error.
    #[serde(default)]
    pub fail_permanently: bool,
    /// Panic instead of finishing.
    #[serde(default)]
    pub panic: bool,
}

impl JobArgs for Diagnostic {
    const KIND: Kind = Kind {
        internal: false,
        ..Kind::internal::<Self>("diagnostic", Queue::Maintenance, 3, Duration::from_secs(15 * 60))
    };

    fn check(&self) -> ServiceResult<()> {
        if self.sleep_ms > MAX_SLEEP_MS {
            return Err(ServiceError::new(
                ErrorCode::InvalidPayload,
                format!("sleep_ms must be at most {MAX_SLEEP_MS}"),
            ));
        }
        if self.steps > MAX_STEPS {
            return Err(ServiceError::new(ErrorCode::InvalidPayload, format!("steps must be at most {MAX_STEPS}")));
        }
        Ok(())
    }
}
