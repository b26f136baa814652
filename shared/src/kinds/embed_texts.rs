//! `embed_texts` (internal, queue `embed`): embeds the texts of one
//! `POST /v1/embeddings` request, through the cache.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedTexts {
    pub input: Vec<String>,
}

impl JobArgs for EmbedTexts {
    const KIND: Kind = Kind::internal::<Self>("embed_texts", Queue::Embed, 3, Duration::from_secs(10 * 60));
}
