//! `reconcile` (operator only, queue `embed`): compares Postgres's chunks
//! with the vector store's points in both directions and repairs the
//! differences. Also scheduled by the vector owner every
//! `vectors.reconcile_interval_secs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobArgs, Kind};
use crate::domain::Queue;
use crate::error::{ErrorCode, ServiceError, ServiceResult};

/// Takes no arguments (`{}` or nothing).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {}

impl JobArgs for Reconcile {
    const KIND: Kind = Kind {
        internal: false,
        operator: true,
        // One waiting or running reconciliation is enough.
        unique: true,
        validate,
        ..Kind::internal::<Self>("reconcile", Queue::Embed, 3, Duration::from_secs(6 * 3600))
    };
}

fn validate(payload: &Value) -> ServiceResult<()> {
    match payload {
        Value::Null => Ok(()),
        Value::Object(m) if m.is_empty() => Ok(()),
        _ => Err(ServiceError::new(ErrorCode::InvalidPayload, "reconcile takes an empty payload")),
    }
}
