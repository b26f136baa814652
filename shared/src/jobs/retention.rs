//! Handler of `retention` ([`crate::kinds::retention`]): deletes the
//! tenant's data older than its retention, an export first when it wants
//! one ([`crate::services::retention::apply`]).
//!
//! Idempotent: what a first run deleted is not there for a second; a run
//! cut short deletes the rest the next time.

use serde_json::Value;

use super::{JobContext, JobError};
use crate::kinds::retention::Retention;

pub async fn run(ctx: &JobContext, _: Retention) -> Result<Value, JobError> {
    Ok(crate::services::retention::apply(&ctx.ctx, ctx.tenant_id).await?)
}
