//! The message that travels through an apalis queue: which job, and which
//! dispatch of it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: Uuid,
    /// The job's `dispatch_seq` when the message was sent; a different value
    /// in Postgres means the message is stale.
    pub dispatch_seq: i32,
}
