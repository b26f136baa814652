//! `retention` (internal, unique, queue `maintenance`): deletes what the
//! tenant keeps no longer ([`crate::services::retention`]). Queued by the
//! workers' retention sweep once per `limits.retention_interval_secs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Retention {}

impl JobArgs for Retention {
    const KIND: Kind = Kind {
        unique: true,
        ..Kind::internal::<Self>("retention", Queue::Maintenance, 5, Duration::from_secs(60 * 60))
    };
}
