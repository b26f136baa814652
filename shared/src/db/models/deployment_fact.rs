//! `deployment_facts`: what every process of a deployment must agree on
//! (the secrets key's fingerprint), recorded by the first to start.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::deployment_facts;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deployment_facts)]
pub struct DeploymentFact {
    pub name: String,
    pub value: String,
    pub recorded_at: DateTime<Utc>,
}
