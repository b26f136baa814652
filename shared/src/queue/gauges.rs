//! Gauges read from Postgres: queue depth, pending webhook deliveries and
//! (on one process) jobs in flight across the cluster.

use crate::db::DbPool;
use crate::domain::{JobStatus, Queue};
use crate::metrics::Metrics;

/// Refreshes the queue-depth and pending-delivery gauges (and, with
/// `global_in_flight`, the in-flight gauge) from Postgres. Errors leave the
/// gauges as they were.
pub async fn refresh(metrics: &Metrics, pool: &DbPool, global_in_flight: bool) {
    if let Ok(rows) = super::dispatcher::depth_by_queue(pool, &[JobStatus::Queued, JobStatus::Retrying]).await {
        for q in Queue::ALL {
            let n = rows.iter().find(|(name, _)| name == q.as_str()).map_or(0, |(_, n)| *n);
            metrics.queue_depth.with_label_values(&[q.as_str()]).set(n);
        }
    }
    if let Ok(n) = super::outbox::pending_count(pool).await {
        metrics.webhook_pending.set(n);
    }
    if global_in_flight {
        if let Ok(rows) = super::dispatcher::depth_by_queue(pool, &[JobStatus::Running]).await {
            metrics.jobs_in_flight.set(rows.iter().map(|(_, n)| n).sum());
        }
    }
}
