//! `diagnostic` (admin only, queue `maintenance`): sleeps, reports progress,
//! fails on purpose or panics. It serves smoke tests, benchmarks and chaos
//! tests.
//!
//! Idempotent: it writes nothing but its own progress and result, so
//! running it twice only repeats the sleep.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::domain::Progress;
use crate::error::{ErrorCode, ServiceError};

pub const SPEC: KindSpec = KindSpec {
    name: "diagnostic",
    queue: "maintenance",
    default_max_attempts: 3,
    timeout: Duration::from_secs(15 * 60),
    admin_only: true,
    handles_cancel: false,
    internal: false,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

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

fn validate(payload: &Value) -> Result<(), ServiceError> {
    let d: Diagnostic = parse_payload(payload)?;
    if d.sleep_ms > MAX_SLEEP_MS {
        return Err(ServiceError::new(ErrorCode::InvalidPayload, format!("sleep_ms must be at most {MAX_SLEEP_MS}")));
    }
    if d.steps > MAX_STEPS {
        return Err(ServiceError::new(ErrorCode::InvalidPayload, format!("steps must be at most {MAX_STEPS}")));
    }
    Ok(())
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let d: Diagnostic =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let slices = d.steps.max(1);
    let slice = Duration::from_millis(d.sleep_ms / slices as u64);
    for step in 1..=slices {
        tokio::time::sleep(slice).await;
        if d.steps > 0 {
            let progress = Progress {
                stage: Some("sleeping".into()),
                done: step as u64,
                total: Some(d.steps as u64),
                message: None,
            };
            ctx.report(progress).await;
        }
    }
    if d.panic {
        panic!("diagnostic job asked to panic");
    }
    if d.fail_permanently {
        return Err(JobError::permanent("diagnostic_failure", "asked to fail permanently"));
    }
    if ctx.attempt <= d.fail_attempts as i32 {
        return Err(JobError::retryable("diagnostic_failure", format!("asked to fail attempt {}", ctx.attempt)));
    }
    Ok(json!({ "slept_ms": d.sleep_ms, "steps": d.steps, "attempt": ctx.attempt }))
}
