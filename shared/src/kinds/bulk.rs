//! `bulk` (internal, queue `knowledge`): one operation over many documents,
//! its selection resolved when the request was accepted.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::domain::{DocumentFilter, Queue, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkOp {
    Delete,
    Tag,
    Untag,
    Reprocess,
    Export,
}

impl BulkOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Tag => "tag",
            Self::Untag => "untag",
            Self::Reprocess => "reprocess",
            Self::Export => "export",
        }
    }
}

/// Which documents: `ids`, or a `filter` as in `GET /v1/documents`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub ids: Option<Vec<Uuid>>,
    pub filter: Option<DocumentFilter>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkParams {
    /// Tag names, for `tag` and `untag`.
    #[serde(default)]
    #[schema(schema_with = crate::domain::spec::tag_names)]
    pub tags: Vec<String>,
}

/// What the `bulk` job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkPayload {
    pub op: BulkOp,
    pub ids: Vec<Uuid>,
    pub tags: Vec<String>,
    /// The selector as submitted, for the audit log.
    pub selector: Selector,
    pub actor_key_id: Uuid,
    pub needs_admin: bool,
}

impl JobArgs for BulkPayload {
    const KIND: Kind = Kind {
        handles_cancel: true,
        ..Kind::internal::<Self>("bulk", Queue::Knowledge, 3, Duration::from_secs(6 * 3600))
    };

    fn runs_as(&self) -> Option<Role> {
        Some(if self.needs_admin { Role::Admin } else { Role::User })
    }
}
