//! `embed_document` (internal, queue `embed`): the ingestion pipeline's last
//! step, run by the vector store's owner.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedDocument {
    pub document_id: Uuid,
}

impl JobArgs for EmbedDocument {
    const KIND: Kind = Kind::internal::<Self>("embed_document", Queue::Embed, 5, Duration::from_secs(30 * 60));
}
