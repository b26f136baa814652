//! `tenants`: the owners of every other row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::tenants;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub callback_secret: Option<String>,
    pub callback_previous_secret: Option<String>,
    pub callback_previous_expires_at: Option<DateTime<Utc>>,
}
