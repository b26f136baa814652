//! OpenAI's Batch API (`/v1/batches`) on our queues: creating, reading,
//! listing and cancelling batches. Running them is [`super::batch_lines`]:
//! an `openai_batch_start` job validates the input file and makes each line
//! a job (a `chat` job, or an `embed_texts` job), members of a quiet job
//! batch whose `on_complete` job (`openai_batch_finish`) writes the output
//! and error files and ends the batch with a `batch.completed` event.
//!
//! Statuses, as OpenAI's: `validating` → `in_progress` → `finalizing` →
//! `completed`; `failed` (the input file is malformed); `cancelling` →
//! `cancelled`. Ids go on the wire as `batch_` and the id's hex.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::files;
use super::Principal;
use crate::db::schema::openai_batches as ob;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::openai_batch::BatchStart;
use crate::kinds::JobArgs;
use crate::Ctx;

/// The endpoints a batch may call.
pub const ENDPOINTS: &[&str] = &["/v1/chat/completions", "/v1/embeddings"];

/// The body of `POST /v1/batches`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateBatch {
    /// A file uploaded with `purpose: batch`: one request per line.
    pub input_file_id: String,
    /// `/v1/chat/completions` or `/v1/embeddings`.
    pub endpoint: String,
    /// Only `24h`.
    pub completion_window: String,
    /// Up to 16 pairs; keys up to 64 characters, values up to 512.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// A batch, as OpenAI describes one (times in Unix seconds).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchObject {
    /// `batch_` and 32 hex digits.
    pub id: String,
    /// Always `batch`.
    pub object: &'static str,
    pub endpoint: String,
    /// Why validation failed: `{"object": "list", "data": [{code, message, line}]}`.
    pub errors: Option<Value>,
    pub input_file_id: String,
    pub completion_window: String,
    pub status: String,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    pub created_at: i64,
    pub in_progress_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub finalizing_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub expired_at: Option<i64>,
    pub cancelling_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub request_counts: RequestCounts,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct RequestCounts {
    pub total: i64,
    pub completed: i64,
    pub failed: i64,
}

/// A page of batches, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<BatchObject>,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ob)]
pub struct BatchRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint: String,
    pub input_file_id: Uuid,
    pub completion_window: String,
    pub status: String,
    pub metadata: Option<Value>,
    pub errors: Option<Value>,
    pub output_file_id: Option<Uuid>,
    pub error_file_id: Option<Uuid>,
    pub total: i32,
    pub completed: i32,
    pub failed: i32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub in_progress_at: Option<DateTime<Utc>>,
    pub finalizing_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub cancelling_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Statuses a batch ends in.
pub const ENDED: &[&str] = &["completed", "failed", "cancelled", "expired"];

impl BatchRow {
    /// The batch on the wire; `counts` are the live ones while it runs.
    pub fn view(&self, counts: Option<RequestCounts>) -> BatchObject {
        let unix = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp());
        let stored =
            RequestCounts { total: self.total.into(), completed: self.completed.into(), failed: self.failed.into() };
        BatchObject {
            id: wire_id(self.id),
            object: "batch",
            endpoint: self.endpoint.clone(),
            errors: self.errors.clone(),
            input_file_id: files::wire_id(self.input_file_id),
            completion_window: self.completion_window.clone(),
            status: self.status.clone(),
            output_file_id: self.output_file_id.map(files::wire_id),
            error_file_id: self.error_file_id.map(files::wire_id),
            created_at: self.created_at.timestamp(),
            in_progress_at: unix(self.in_progress_at),
            expires_at: Some(self.expires_at.timestamp()),
            finalizing_at: unix(self.finalizing_at),
            completed_at: unix(self.completed_at),
            failed_at: unix(self.failed_at),
            expired_at: unix(self.expired_at),
            cancelling_at: unix(self.cancelling_at),
            cancelled_at: unix(self.cancelled_at),
            request_counts: counts.map(|c| RequestCounts { total: stored.total, ..c }).unwrap_or(stored),
            metadata: self.metadata.clone(),
        }
    }
}

/// A batch id on the wire.
pub fn wire_id(id: Uuid) -> String {
    format!("batch_{}", id.simple())
}

fn parse_id(id: &str) -> ServiceResult<Uuid> {
    id.strip_prefix("batch_").and_then(|hex| Uuid::try_parse(hex).ok()).ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::new(ErrorCode::BatchNotFound, format!("no batch {id:?}"))
}

fn check(req: &CreateBatch) -> ServiceResult<()> {
    if !ENDPOINTS.contains(&req.endpoint.as_str()) {
        let message = format!("endpoint must be one of {}", ENDPOINTS.join(", "));
        return Err(ServiceError::invalid_field("endpoint", message));
    }
    if req.completion_window != "24h" {
        return Err(ServiceError::invalid_field("completion_window", "completion_window must be 24h"));
    }
    let metadata = req.metadata.iter().flatten();
    if metadata.clone().count() > 16 || metadata.clone().any(|(k, v)| k.chars().count() > 64 || v.chars().count() > 512)
    {
        let message = "metadata holds up to 16 pairs, keys up to 64 characters, values up to 512";
        return Err(ServiceError::invalid_field("metadata", message));
    }
    Ok(())
}

/// Records a batch (`validating`) and queues its start.
pub async fn create(ctx: &Ctx, p: &Principal, req: CreateBatch) -> ServiceResult<BatchObject> {
    p.require(Role::User, "creating batches")?;
    check(&req)?;
    let file = files::row(ctx, p.tenant_id, &req.input_file_id).await?;
    if file.purpose != "batch" {
        return Err(ServiceError::invalid_field("input_file_id", "the input file's purpose must be batch"));
    }
    super::jobs::spend(ctx, p.tenant_id, BatchStart::KIND.name, 1).await?;
    let (id, tenant, now) = (Uuid::now_v7(), p.tenant_id, Utc::now());
    let metadata = req.metadata.map(|m| json!(m));
    let mut conn = ctx.pool.get().await?;
    let row = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let row: BatchRow = diesel::insert_into(ob::table)
                .values((
                    ob::id.eq(id),
                    ob::tenant_id.eq(tenant),
                    ob::endpoint.eq(&req.endpoint),
                    ob::input_file_id.eq(file.id),
                    ob::completion_window.eq(&req.completion_window),
                    ob::status.eq("validating"),
                    ob::metadata.eq(metadata),
                    ob::created_at.eq(now),
                    ob::expires_at.eq(now + chrono::Duration::hours(24)),
                ))
                .returning(BatchRow::as_returning())
                .get_result(conn)
                .await?;
            crate::queue::insert(conn, tenant, &BatchStart { batch_id: id }).await?;
            Ok(row)
        })
        .await?;
    super::jobs::nudge(ctx, BatchStart::KIND.queue.as_str());
    Ok(row.view(None))
}

/// The tenant's batch `id` (wire form), locked when `lock`.
async fn load(conn: &mut AsyncPgConnection, tenant: Uuid, id: &str, lock: bool) -> ServiceResult<BatchRow> {
    let uuid = parse_id(id)?;
    let q = ob::table.find(uuid).filter(ob::tenant_id.eq(tenant)).select(BatchRow::as_select());
    let row = if lock { q.for_update().first(conn).await } else { q.first(conn).await };
    row.optional()?.ok_or_else(|| not_found(id))
}

/// The batch's counts from its lines and their jobs, while it runs.
async fn live_counts(conn: &mut AsyncPgConnection, row: &BatchRow) -> ServiceResult<Option<RequestCounts>> {
    if row.status == "validating" || ENDED.contains(&row.status.as_str()) {
        return Ok(None);
    }
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        completed: i64,
        #[diesel(sql_type = BigInt)]
        failed: i64,
    }
    let c: Counts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE j.status = 'succeeded') AS completed, \
                count(*) FILTER (WHERE l.job_id IS NULL OR j.status IN ('failed', 'dead', 'cancelled')) AS failed \
         FROM openai_batch_lines l LEFT JOIN jobs j ON j.id = l.job_id WHERE l.batch_id = $1",
    )
    .bind::<SqlUuid, _>(row.id)
    .get_result(conn)
    .await?;
    Ok(Some(RequestCounts { total: row.total.into(), completed: c.completed, failed: c.failed }))
}

pub async fn get(ctx: &Ctx, p: &Principal, id: &str) -> ServiceResult<BatchObject> {
    let mut conn = ctx.pool.get().await?;
    let row = load(&mut conn, p.tenant_id, id, false).await?;
    let counts = live_counts(&mut conn, &row).await?;
    Ok(row.view(counts))
}

/// The tenant's batches, newest first, after batch `after` (wire id),
/// `limit` (1 to 100, default 20) at a time.
pub async fn list(ctx: &Ctx, p: &Principal, after: Option<&str>, limit: Option<i64>) -> ServiceResult<BatchList> {
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ServiceError::invalid_parameter("limit", "limit is 1 to 100"));
    }
    let mut conn = ctx.pool.get().await?;
    let mut q = ob::table.filter(ob::tenant_id.eq(p.tenant_id)).select(BatchRow::as_select()).into_boxed();
    if let Some(after) = after {
        let bad = || ServiceError::invalid_parameter("after", "after names no batch");
        let cursor = load(&mut conn, p.tenant_id, after, false).await.map_err(|_| bad())?;
        let at = cursor.created_at;
        q = q.filter(ob::created_at.lt(at).or(ob::created_at.eq(at).and(ob::id.lt(cursor.id))));
    }
    let mut rows: Vec<BatchRow> =
        q.order((ob::created_at.desc(), ob::id.desc())).limit(limit + 1).load(&mut conn).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        let counts = live_counts(&mut conn, row).await?;
        data.push(row.view(counts));
    }
    let (first_id, last_id) = (<[_]>::first(&data).map(|b| b.id.clone()), <[_]>::last(&data).map(|b| b.id.clone()));
    Ok(BatchList { object: "list", data, first_id, last_id, has_more })
}

/// Puts a cancel request on each of the batches' jobs still waiting: the
/// workers' cancel sweep ends them (claims refuse them meanwhile).
async fn cancel_waiting(conn: &mut AsyncPgConnection, batches: &[Uuid]) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE jobs SET cancel_requested_at = now() FROM openai_batch_lines l \
         WHERE l.batch_id = ANY($1) AND jobs.id = l.job_id AND jobs.cancel_requested_at IS NULL \
           AND jobs.status IN ('waiting_dependencies', 'queued', 'retrying')",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(batches)
    .execute(conn)
    .await
}

/// Expires the batches past their completion window (the workers'
/// maintenance): each becomes `cancelling` with `expired_at` set, its
/// waiting jobs are cancelled, and once its running ones end it is
/// `expired`, with the files of what ran and `batch_expired` for the rest.
/// Returns how many expired.
pub async fn expire_due(ctx: &Ctx) -> ServiceResult<usize> {
    let mut conn = ctx.pool.get().await?;
    let expired = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let now = Utc::now();
            let ids: Vec<Uuid> = diesel::update(
                ob::table.filter(ob::status.eq_any(["validating", "in_progress"])).filter(ob::expires_at.lt(now)),
            )
            .set((ob::status.eq("cancelling"), ob::cancelling_at.eq(now), ob::expired_at.eq(now)))
            .returning(ob::id)
            .get_results(conn)
            .await?;
            if !ids.is_empty() {
                cancel_waiting(conn, &ids).await?;
            }
            Ok(ids.len())
        })
        .await?;
    Ok(expired)
}

/// Cancels a batch: `cancelling` at once, with a cancel request on each of
/// its jobs still waiting (the workers' cancel sweep ends them); jobs
/// already running finish. Once every job has ended, the finishing job
/// writes the files of what ran and makes it `cancelled`.
pub async fn cancel(ctx: &Ctx, p: &Principal, id: &str) -> ServiceResult<BatchObject> {
    p.require(Role::User, "cancelling batches")?;
    let (tenant, id) = (p.tenant_id, id.to_string());
    let mut conn = ctx.pool.get().await?;
    let row = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let row = load(conn, tenant, &id, true).await?;
            match row.status.as_str() {
                "validating" | "in_progress" => {}
                "cancelling" | "cancelled" => return Ok(row),
                other => {
                    let message = format!("the batch is {other}: it cannot be cancelled");
                    return Err(ServiceError::new(ErrorCode::BatchNotCancellable, message));
                }
            }
            cancel_waiting(conn, &[row.id]).await?;
            let row = diesel::update(ob::table.find(row.id))
                .set((ob::status.eq("cancelling"), ob::cancelling_at.eq(Utc::now())))
                .returning(BatchRow::as_returning())
                .get_result(conn)
                .await?;
            Ok(row)
        })
        .await?;
    let mut conn = ctx.pool.get().await?;
    let counts = live_counts(&mut conn, &row).await?;
    Ok(row.view(counts))
}
