//! The per-endpoint delivery circuit. While an endpoint fails, one of its
//! deliveries (the probe) keeps retrying on the retry schedule, and every
//! other delivery to it waits as `held`: no job, no attempt. Each success
//! releases the oldest held delivery as the next probe, at most
//! `webhooks.release_per_sec`, until none is held and the circuit closes:
//! the backlog drains in order, one in flight, and stops again at the first
//! failure. So a receiver that is down for hours costs one retry chain, not
//! one per delivery, and loses nothing.
//!
//! Holding and releasing both lock the endpoint row first, so a delivery is
//! never held after the release that should have taken it.

use chrono::{TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Uuid as SqlUuid};
use diesel::OptionalExtension;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::config::Settings;
use crate::kinds::webhook_delivery::{self, DeliverWebhook};

#[derive(diesel::QueryableByName)]
struct Probe {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    probe_delivery_id: Option<Uuid>,
}

#[derive(diesel::QueryableByName)]
struct Released {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
}

/// After a failed attempt of `delivery`: opens `endpoint`'s circuit with
/// this delivery as the probe, unless one already probes. Returns whether
/// `delivery` is the probe (then it retries on the schedule).
pub async fn failed_attempt(conn: &mut AsyncPgConnection, endpoint: Uuid, delivery: Uuid) -> diesel::QueryResult<bool> {
    let probe: Option<Probe> = diesel::sql_query(
        "UPDATE webhook_endpoints SET circuit_opened_at = coalesce(circuit_opened_at, now()), \
         probe_delivery_id = coalesce(probe_delivery_id, $2) WHERE id = $1 RETURNING probe_delivery_id",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<SqlUuid, _>(delivery)
    .get_result(conn)
    .await
    .optional()?;
    Ok(probe.and_then(|p| p.probe_delivery_id) == Some(delivery))
}

/// Holds pending `delivery` while `endpoint`'s circuit is open with another
/// delivery probing; returns whether it did (then its job ends quietly).
pub async fn hold(conn: &mut AsyncPgConnection, endpoint: Uuid, delivery: Uuid) -> diesel::QueryResult<bool> {
    let held = diesel::sql_query(
        "WITH open AS ( \
           SELECT id FROM webhook_endpoints \
           WHERE id = $1 AND probe_delivery_id IS NOT NULL AND probe_delivery_id <> $2 FOR UPDATE) \
         UPDATE webhook_deliveries SET status = 'held' \
         WHERE id = $2 AND status = 'pending' AND EXISTS (SELECT 1 FROM open)",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<SqlUuid, _>(delivery)
    .execute(conn)
    .await?;
    Ok(held > 0)
}

/// After a success on `endpoint`: resets its failure count and drains
/// what it held, one delivery at a time: the oldest held delivery is
/// released as the next probe, due `1 / release_per_sec` from now, so held
/// deliveries go out in order and new ones keep waiting behind them. With
/// nothing held the circuit closes. Call it in a transaction; returns how
/// many it released (0 or 1).
pub async fn succeeded(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
) -> diesel::QueryResult<usize> {
    let next: Vec<Uuid> = release(conn, settings, endpoint, 1).await?;
    diesel::sql_query(
        "UPDATE webhook_endpoints SET consecutive_failures = 0, probe_delivery_id = $2, \
         circuit_opened_at = CASE WHEN $2 IS NULL THEN NULL ELSE circuit_opened_at END WHERE id = $1",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<Nullable<SqlUuid>, _>(next.iter().next().copied())
    .execute(conn)
    .await?;
    Ok(next.len())
}

/// After `delivery` failed for good: on a disabled endpoint the held
/// deliveries are cancelled; otherwise, if it was the probe, the oldest held
/// delivery is released to probe next (or the circuit closes when none is
/// held). Call it in a transaction.
pub async fn delivery_failed(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
    delivery: Uuid,
) -> diesel::QueryResult<()> {
    endpoint_disabled(conn, endpoint).await?;
    let was_probe = diesel::sql_query(
        "UPDATE webhook_endpoints SET probe_delivery_id = NULL WHERE id = $1 AND probe_delivery_id = $2",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<SqlUuid, _>(delivery)
    .execute(conn)
    .await?;
    if was_probe > 0 && release(conn, settings, endpoint, 1).await?.is_empty() {
        diesel::sql_query("UPDATE webhook_endpoints SET circuit_opened_at = NULL WHERE id = $1")
            .bind::<SqlUuid, _>(endpoint)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// On a disabled endpoint: cancels its held deliveries (they would wait
/// for a success that cannot come) and clears its circuit. Does nothing on
/// an enabled one.
pub async fn endpoint_disabled(conn: &mut AsyncPgConnection, endpoint: Uuid) -> diesel::QueryResult<usize> {
    diesel::sql_query(
        "WITH ep AS (UPDATE webhook_endpoints SET circuit_opened_at = NULL, probe_delivery_id = NULL \
                     WHERE id = $1 AND NOT enabled RETURNING id) \
         UPDATE webhook_deliveries SET status = 'cancelled', last_error = 'the endpoint was disabled' \
         WHERE endpoint_id IN (SELECT id FROM ep) AND status = 'held'",
    )
    .bind::<SqlUuid, _>(endpoint)
    .execute(conn)
    .await
}

/// Makes up to `limit` held deliveries of `endpoint` pending again, oldest
/// first, each with a job due `1 / release_per_sec` after the one before;
/// returns their ids.
async fn release(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
    limit: i64,
) -> diesel::QueryResult<Vec<Uuid>> {
    let mut released: Vec<Released> = diesel::sql_query(
        "UPDATE webhook_deliveries SET status = 'pending' WHERE id IN ( \
           SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'held' \
           ORDER BY id LIMIT $2 FOR UPDATE) \
         RETURNING id, tenant_id",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    // Delivery ids are UUIDv7: their order is their creation order.
    released.sort_by_key(|r| r.id);
    let gap = TimeDelta::microseconds(1_000_000 / i64::from(settings.webhooks.release_per_sec.max(1)));
    let now = Utc::now();
    let attempts = webhook_delivery::attempts(settings);
    for (i, r) in released.iter().enumerate() {
        let due = now + gap * (i as i32 + 1);
        super::insert::insert_due(conn, r.tenant_id, &DeliverWebhook { delivery_id: r.id }, attempts, due).await?;
    }
    Ok(released.iter().map(|r| r.id).collect())
}
