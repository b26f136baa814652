//! The two steps of an OpenAI batch (`POST /v1/batches`), both internal,
//! on queue `maintenance`:
//! - `openai_batch_start`: validates the input file, then turns its lines
//!   into jobs, a thousand per transaction;
//! - `openai_batch_finish`: the `on_complete` job of the batch's jobs:
//!   writes the output and error files and ends the batch.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchStart {
    pub batch_id: Uuid,
}

impl JobArgs for BatchStart {
    const KIND: Kind =
        Kind::internal::<Self>("openai_batch_start", Queue::Maintenance, 5, Duration::from_secs(60 * 60));
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchFinish {
    pub batch_id: Uuid,
}

impl JobArgs for BatchFinish {
    const KIND: Kind =
        Kind::internal::<Self>("openai_batch_finish", Queue::Maintenance, 5, Duration::from_secs(60 * 60));
}
