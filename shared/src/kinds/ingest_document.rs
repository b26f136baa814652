//! `ingest_document` (internal, queue `knowledge`): extract → chunk → store
//! one uploaded document, then hand over to `embed_document`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestDocument {
    pub document_id: Uuid,
}

impl JobArgs for IngestDocument {
    const KIND: Kind = Kind::internal::<Self>("ingest_document", Queue::Knowledge, 3, Duration::from_secs(30 * 60));
}
