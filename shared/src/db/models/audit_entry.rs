//! `audit_log`: one entry per admin action (who, what, over which
//! selection, with what outcome).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::db::schema::audit_log;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant_id: Uuid,
    pub actor_key_id: Option<Uuid>,
    pub action: String,
    pub selector: Value,
    pub outcome: Value,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}
