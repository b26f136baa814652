//! The per-endpoint delivery circuit. While an endpoint fails, one of its
//! deliveries (the probe) keeps retrying on the retry schedule, and every
//! other delivery to it waits as `held`: no job, no attempt. Each success
//! releases the oldest held delivery as the next probe, at most
//! `webhooks.release_per_sec` a second, until none is held and the circuit
//! closes:
//! the backlog drains in order, one in flight, and stops again at the first
//! failure. So a receiver that is down for hours costs one retry chain, not
//! one per delivery, and loses nothing.
//!
//! Holding, and replacing or clearing the probe, both lock the endpoint row
//! first, so a delivery is never held once no probe stands before it.

use diesel::sql_types::{Nullable, Uuid as SqlUuid};
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
/// released as the next probe, so held deliveries go out in order and new
/// ones keep waiting behind them. With
/// nothing held the circuit closes. Call it in a transaction; returns how
/// many it released (0 or 1).
pub async fn succeeded(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
) -> diesel::QueryResult<usize> {
    lock(conn, endpoint).await?;
    advance(conn, settings, endpoint, true).await
}

/// After `delivery` failed for good: on a disabled endpoint the held
/// deliveries are cancelled; otherwise, if it was the probe, the oldest held
/// delivery is released as the next probe (or the circuit closes when none
/// is held). Call it in a transaction.
pub async fn delivery_failed(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
    delivery: Uuid,
) -> diesel::QueryResult<()> {
    lock(conn, endpoint).await?;
    endpoint_disabled(conn, endpoint).await?;
    let was_probe = diesel::sql_query(
        "UPDATE webhook_endpoints SET probe_delivery_id = NULL WHERE id = $1 AND probe_delivery_id = $2",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<SqlUuid, _>(delivery)
    .execute(conn)
    .await?;
    if was_probe > 0 {
        advance(conn, settings, endpoint, false).await?;
    }
    Ok(())
}

/// Locks `endpoint`'s row until the transaction ends, so that no delivery
/// is held behind a probe this transaction is replacing ([`hold`] locks it
/// too, and re-reads it once it may).
async fn lock(conn: &mut AsyncPgConnection, endpoint: Uuid) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR UPDATE")
        .bind::<SqlUuid, _>(endpoint)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Releases the oldest held delivery as `endpoint`'s probe, or closes the
/// circuit when none is held; resets the failure count when `reset`.
async fn advance(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
    reset: bool,
) -> diesel::QueryResult<usize> {
    let next = release_next(conn, settings, endpoint).await?;
    diesel::sql_query(
        "UPDATE webhook_endpoints SET probe_delivery_id = $2, \
         circuit_opened_at = CASE WHEN $2 IS NULL THEN NULL ELSE circuit_opened_at END, \
         consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures END WHERE id = $1",
    )
    .bind::<SqlUuid, _>(endpoint)
    .bind::<Nullable<SqlUuid>, _>(next)
    .bind::<diesel::sql_types::Bool, _>(reset)
    .execute(conn)
    .await?;
    Ok(usize::from(next.is_some()))
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

/// Makes the oldest held delivery of `endpoint` pending again, with a job
/// due now; returns its id. (The rate of a drain is bounded by the
/// handler, which waits `1 / webhooks.release_per_sec` before recording a
/// success while the circuit is open.)
async fn release_next(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    endpoint: Uuid,
) -> diesel::QueryResult<Option<Uuid>> {
    let released: Option<Released> = diesel::sql_query(
        "UPDATE webhook_deliveries SET status = 'pending' WHERE id = ( \
           SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'held' \
           ORDER BY id LIMIT 1 FOR UPDATE) \
         RETURNING id, tenant_id",
    )
    .bind::<SqlUuid, _>(endpoint)
    .get_result(conn)
    .await
    .optional()?;
    let Some(r) = released else { return Ok(None) };
    // Delivery ids are UUIDv7: the oldest is the one created first.
    let job = DeliverWebhook { delivery_id: r.id };
    super::insert::insert_with(conn, r.tenant_id, &job, webhook_delivery::attempts(settings)).await?;
    Ok(Some(r.id))
}
