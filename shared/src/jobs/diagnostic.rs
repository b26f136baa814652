//! Handler of `diagnostic` ([`crate::kinds::diagnostic`]): sleeps, reports
//! progress, fails on purpose or panics.
//!
//! Idempotent: it writes nothing but its own progress and result, so
//! running it twice only repeats the sleep.

use std::time::Duration;

use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::domain::Progress;
use crate::kinds::diagnostic::Diagnostic;

pub async fn run(ctx: &JobContext, d: Diagnostic) -> Result<Value, JobError> {
    let slices = d.steps.max(1);
    let slice = Duration::from_millis(d.sleep_ms / slices as u64);
    for step in 1..=slices {
        // A zero sleep would still wait for the timer's next tick (1 ms).
        if !slice.is_zero() {
            tokio::time::sleep(slice).await;
        }
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
