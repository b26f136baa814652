//! `webhook_deliveries`: the outbox, one row per event and target.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::webhook_deliveries;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Option<Uuid>,
    pub url: Option<String>,
    pub event_type: String,
    pub subject_id: Option<Uuid>,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewWebhookDelivery<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Option<Uuid>,
    pub url: Option<&'a str>,
    pub event_type: &'a str,
    pub subject_id: Option<Uuid>,
    pub body: String,
    pub status: &'static str,
}
