//! `webhook_delivery` (internal, queue `webhook`): sends one outbox row.
//! Its retries follow `webhooks.retry_schedule_ms`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobArgs, Kind};
use crate::config::Settings;
use crate::domain::Queue;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: Uuid,
}

impl JobArgs for DeliverWebhook {
    const KIND: Kind = Kind {
        backoff: Some(backoff),
        ..Kind::internal::<Self>("webhook_delivery", Queue::Webhook, 8, Duration::from_secs(120))
    };
}

/// The configured schedule: the wait after attempt `n` is its `n`-th entry.
fn backoff(settings: &Settings, attempt: i32) -> Duration {
    let schedule = &settings.webhooks.retry_schedule_ms;
    let i = (attempt.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    Duration::from_millis(schedule.get(i).copied().unwrap_or(5_000))
}

/// Attempts of a delivery: one per entry of the schedule, plus the first.
pub fn attempts(settings: &Settings) -> i32 {
    settings.webhooks.retry_schedule_ms.len() as i32 + 1
}
