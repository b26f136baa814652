//! `purge_vectors` (internal, queue `embed`): removes deleted documents'
//! vectors. Queued in the transaction that deletes the documents' rows.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeVectors {
    pub document_ids: Vec<Uuid>,
}

impl JobArgs for PurgeVectors {
    const KIND: Kind = Kind::internal::<Self>("purge_vectors", Queue::Embed, 10, Duration::from_secs(10 * 60));
}
