//! `reindex` (operator only, queue `embed`): moves every document's vectors
//! to another embedding model with no downtime.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{JobArgs, Kind};
use crate::domain::Queue;
use crate::error::{ErrorCode, ServiceError, ServiceResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reindex {
    /// The model to move to: the configured one or `<embed.models_dir>/<model>`.
    pub model: String,
}

impl JobArgs for Reindex {
    const KIND: Kind = Kind {
        internal: false,
        operator: true,
        ..Kind::internal::<Self>("reindex", Queue::Embed, 3, Duration::from_secs(24 * 3600))
    };

    fn check(&self) -> ServiceResult<()> {
        if !valid_model_id(&self.model) {
            return Err(ServiceError::new(ErrorCode::UnknownModel, format!("invalid model id {:?}", self.model)));
        }
        Ok(())
    }
}

/// A model id names a directory: keep it plain.
pub fn valid_model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
