//! Retention per tenant: a tenant's conversations (with their messages),
//! documents (with their chunks, vectors and originals), finished jobs,
//! files and ended batches older than its `retention_days` are deleted by
//! its `retention` job ([`apply`]), a thousand rows per statement; with
//! `retention_export`, all of it is first written to an export, a file of
//! the tenant's (`purpose: retention_export`, kept by retention itself).
//! The workers' sweep ([`sweep`]) queues each tenant's job once per
//! `limits.retention_interval_secs`, whatever the number of workers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{json, Value};
use uuid::Uuid;

use super::files::{self, Scratch};
use crate::error::{ServiceError, ServiceResult};
use crate::kinds::purge_vectors::PurgeVectors;
use crate::kinds::retention::Retention;
use crate::kinds::JobArgs;
use crate::Ctx;

/// The purpose of the exports retention writes.
pub const EXPORT_PURPOSE: &str = "retention_export";
/// Rows per statement.
const CHUNK: i64 = 1_000;

/// What retention deletes: the table, the time that ages a row, and what
/// else must hold for it to go.
struct Aged {
    kind: &'static str,
    table: &'static str,
    at: &'static str,
    extra: &'static str,
}

const AGED: &[Aged] = &[
    Aged { kind: "conversation", table: "conversations", at: "updated_at", extra: "" },
    Aged { kind: "document", table: "documents", at: "created_at", extra: "" },
    Aged { kind: "job", table: "jobs", at: "finished_at", extra: "" },
    Aged { kind: "file", table: "files", at: "created_at", extra: "AND x.purpose <> 'retention_export'" },
    Aged {
        kind: "batch",
        table: "openai_batches",
        at: "created_at",
        extra: "AND x.status IN ('completed', 'failed', 'cancelled', 'expired')",
    },
];

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Queues the `retention` job of each tenant whose data is kept for a
/// limited time and whose job was last queued over an interval ago. One
/// process at a time (the others skip); returns how many were queued.
pub async fn sweep(ctx: &Ctx) -> ServiceResult<usize> {
    let defaults = ctx.limits.defaults();
    let (days, every) = (defaults.retention_days as i32, defaults.retention_interval_secs as i64);
    let mut conn = ctx.pool.get().await?;
    let queued = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            #[derive(QueryableByName)]
            struct Locked {
                #[diesel(sql_type = Bool)]
                locked: bool,
            }
            let lock = diesel::sql_query("SELECT pg_try_advisory_xact_lock(hashtext('retention:sweep')) AS locked");
            if !lock.get_result::<Locked>(conn).await?.locked {
                return Ok(0);
            }
            let due: Vec<Due> = diesel::sql_query(
                "SELECT t.id FROM tenants t \
                 LEFT JOIN tenant_limits l ON l.tenant_id = t.id \
                 LEFT JOIN retention_runs r ON r.tenant_id = t.id \
                 WHERE coalesce(l.retention_days, $1) > 0 \
                   AND (r.queued_at IS NULL OR r.queued_at < now() - make_interval(secs => $2)) \
                 ORDER BY t.id LIMIT 1000",
            )
            .bind::<Integer, _>(days)
            .bind::<diesel::sql_types::Double, _>(every as f64)
            .load(conn)
            .await?;
            for t in &due {
                crate::queue::insert(conn, t.id, &Retention {}).await?;
            }
            let ids: Vec<Uuid> = due.iter().map(|t| t.id).collect();
            diesel::sql_query(
                "INSERT INTO retention_runs (tenant_id, queued_at) SELECT unnest($1::uuid[]), now() \
                 ON CONFLICT (tenant_id) DO UPDATE SET queued_at = excluded.queued_at",
            )
            .bind::<Array<SqlUuid>, _>(&ids)
            .execute(conn)
            .await?;
            Ok(due.len())
        })
        .await?;
    if queued > 0 {
        super::jobs::nudge(ctx, Retention::KIND.queue.as_str());
    }
    Ok(queued)
}

/// Deletes what the tenant keeps no longer (the `retention` job); says
/// what went, and the export's file id.
pub async fn apply(ctx: &Ctx, tenant: Uuid) -> ServiceResult<Value> {
    ctx.limits.forget(tenant);
    let limits = ctx.limits.of_tenant(&ctx.pool, tenant).await;
    if limits.retention_days == 0 {
        return Ok(json!({ "retention_days": 0 }));
    }
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(limits.retention_days));
    let export = if limits.retention_export { export(ctx, tenant, cutoff).await? } else { None };
    let mut deleted = serde_json::Map::new();
    for aged in AGED {
        let n = delete_aged(ctx, tenant, cutoff, aged).await?;
        deleted.insert(aged.table.to_string(), json!(n));
    }
    let outcome = json!({
        "retention_days": limits.retention_days,
        "cutoff": cutoff,
        "deleted": deleted,
        "export_file_id": export.map(files::wire_id),
    });
    let mut conn = ctx.pool.get().await?;
    let selector = json!({ "older_than": cutoff });
    super::audit::record(&mut conn, tenant, None, "retention.applied", &selector, &outcome, None).await?;
    Ok(outcome)
}

/// A page of the rows `aged` names, as JSON (a conversation with its
/// messages), after the row `after`.
async fn page(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    cutoff: DateTime<Utc>,
    aged: &Aged,
    after: Uuid,
) -> QueryResult<Vec<(Uuid, Value)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Jsonb)]
        row: Value,
    }
    let messages = if aged.table == "conversations" {
        "|| jsonb_build_object('messages', (SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.id), '[]'::jsonb) \
            FROM messages m WHERE m.conversation_id = x.id))"
    } else {
        ""
    };
    let sql = format!(
        "SELECT x.id, to_jsonb(x) {messages} AS row FROM {table} x \
         WHERE x.tenant_id = $1 AND x.{at} < $2 {extra} AND x.id > $3 ORDER BY x.id LIMIT $4",
        table = aged.table,
        at = aged.at,
        extra = aged.extra,
    );
    let rows: Vec<Row> = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(tenant)
        .bind::<Timestamptz, _>(cutoff)
        .bind::<SqlUuid, _>(after)
        .bind::<BigInt, _>(CHUNK)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.row)).collect())
}

/// Writes everything retention is about to delete to an export file of the
/// tenant's, a page at a time; `None` when there is nothing.
async fn export(ctx: &Ctx, tenant: Uuid, cutoff: DateTime<Utc>) -> ServiceResult<Option<Uuid>> {
    let mut out = Scratch::new(ctx)?;
    let mut conn = ctx.pool.get().await?;
    for aged in AGED {
        let mut after = Uuid::nil();
        loop {
            let rows = page(&mut conn, tenant, cutoff, aged, after).await?;
            let Some((last, _)) = rows.last() else { break };
            after = *last;
            for (_, row) in rows {
                out.push(&json!({ "kind": aged.kind, "row": row })).await?;
            }
        }
    }
    drop(conn);
    let id = Uuid::now_v7();
    let Some((id, bytes)) = out.store(ctx, tenant, id).await? else { return Ok(None) };
    let name = format!("retention-{}.jsonl", cutoff.format("%Y-%m-%d"));
    let mut conn = ctx.pool.get().await?;
    files::insert(&mut conn, tenant, id, EXPORT_PURPOSE, &name, bytes).await?;
    Ok(Some(id))
}

/// Deletes the rows `aged` names, a chunk per statement; a document's
/// vectors go with it (a `purge_vectors` job in the same transaction, and
/// at once on the vector store's owner) and so do its original's and a
/// file's bytes. Returns how many rows went.
async fn delete_aged(ctx: &Ctx, tenant: Uuid, cutoff: DateTime<Utc>, aged: &Aged) -> ServiceResult<usize> {
    #[derive(QueryableByName)]
    struct Gone {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        blob_key: Option<String>,
    }
    let blob = match aged.table {
        "documents" | "files" => "x.blob_key",
        _ => "NULL::text",
    };
    let sql = format!(
        "DELETE FROM {table} x WHERE x.id IN ( \
           SELECT x.id FROM {table} x WHERE x.tenant_id = $1 AND x.{at} < $2 {extra} LIMIT $3) \
         RETURNING x.id, {blob} AS blob_key",
        table = aged.table,
        at = aged.at,
        extra = aged.extra,
    );
    let mut total = 0;
    loop {
        let mut conn = ctx.pool.get().await?;
        let sql = sql.clone();
        let documents = aged.table == "documents";
        let gone: Vec<Gone> = (*conn)
            .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
                let gone: Vec<Gone> = diesel::sql_query(sql)
                    .bind::<SqlUuid, _>(tenant)
                    .bind::<Timestamptz, _>(cutoff)
                    .bind::<BigInt, _>(CHUNK)
                    .load(conn)
                    .await?;
                if documents && !gone.is_empty() {
                    let ids = gone.iter().map(|g| g.id).collect();
                    crate::queue::insert(conn, tenant, &PurgeVectors { document_ids: ids }).await?;
                }
                Ok(gone)
            })
            .await?;
        drop(conn);
        if gone.is_empty() {
            return Ok(total);
        }
        total += gone.len();
        if documents {
            super::jobs::nudge(ctx, PurgeVectors::KIND.queue.as_str());
            if let Some(vectors) = &ctx.vectors {
                let ids = gone.iter().map(|g| g.id).collect();
                if let Err(e) = super::indexing::purge_documents(ctx, vectors, tenant, ids).await {
                    tracing::warn!(%tenant, error = %e.message, "vectors left to the purge job");
                }
            }
        }
        for key in gone.iter().filter_map(|g| g.blob_key.as_deref()) {
            if let Err(e) = ctx.blobs.delete(key).await {
                tracing::warn!(%tenant, key, error = %e, "a deleted row's bytes stay in the blob store");
            }
        }
        if (gone.len() as i64) < CHUNK {
            return Ok(total);
        }
    }
}
