//! `POST /v1/jobs/batch`: up to 1,000 jobs in one request, inserted with
//! their `queued` events in one transaction of two multi-row statements.
//! Each item has its own idempotency key, priority, `run_at` and
//! `callback_url`; the answer holds one result per item, in order. One bad
//! item never sinks the others, unless the batch is `atomic`.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::jobs::{
    check_key, check_template, dispatch_webhooks, is_operator, new_job, not_operator, nudge, request_hash, validate,
    JobTemplate, SubmitJob,
};
use super::Principal;
use crate::db::models::{Job, NewJob};
use crate::db::schema::jobs::dsl as j;
use crate::domain::{JobSummary, Role};
use crate::error::{ErrorBody, ErrorCode, ServiceError, ServiceResult};
use crate::queue::batches::{self, NewBatch};
use crate::webhooks::guard::Refused;
use crate::Ctx;

/// The most jobs one batch holds.
pub const MAX_BATCH: usize = 1_000;

/// One job of a batch: the fields of `POST /v1/jobs`, and its own
/// idempotency key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchJob {
    #[schema(schema_with = super::jobs::submittable_kinds)]
    pub kind: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    #[schema(minimum = -100, maximum = 100)]
    pub priority: Option<i16>,
    pub run_at: Option<chrono::DateTime<Utc>>,
    #[schema(minimum = 1, maximum = 25)]
    pub max_attempts: Option<i32>,
    pub callback_url: Option<String>,
    /// Same key and body → the same job (`replayed`); same key, other body
    /// → `idempotency_conflict` for this item. 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub idempotency_key: Option<String>,
}

impl BatchJob {
    /// The job as `POST /v1/jobs` takes it, with its key.
    fn into_item(self) -> Item {
        let job = SubmitJob {
            kind: self.kind,
            payload: self.payload,
            priority: self.priority,
            run_at: self.run_at,
            max_attempts: self.max_attempts,
            callback_url: self.callback_url,
            ..Default::default()
        };
        Item { job, idempotency_key: self.idempotency_key }
    }
}

/// A job of the batch, ready to check.
struct Item {
    job: SubmitJob,
    idempotency_key: Option<String>,
}

/// Why the insert transaction rolled back.
enum Abort {
    /// An atomic batch met a bad item at insert time (a key conflict).
    Rejected(Vec<ServiceResult<(Job, bool)>>),
    Failed(ServiceError),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Self::Failed(e.into())
    }
}

/// The body of `POST /v1/jobs/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"jobs": [{"kind": "diagnostic", "payload": {}},
    {"kind": "diagnostic", "payload": {"sleep_ms": 10}, "idempotency_key": "nightly-1"}]}))]
pub struct BatchRequest {
    #[schema(min_items = 1, max_items = 1000)]
    pub jobs: Vec<BatchJob>,
    /// All or nothing: any bad item rejects the batch (422
    /// `batch_rejected`, each item's error in `details.items`).
    #[serde(default)]
    pub atomic: bool,
    /// A job to submit once every job of the batch has ended, whatever
    /// its outcome (Sidekiq's batch callback).
    pub on_complete: Option<JobTemplate>,
    /// Where to POST `batch.completed` (counts by status) once every job of
    /// the batch has ended. Endpoints subscribed to `batch.completed` get it
    /// too.
    pub callback_url: Option<String>,
}

/// What became of one item: `job` (and whether an earlier request made
/// it), or `error`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchItem {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSummary>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// The answer: one item per job, in order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    /// Jobs inserted by this request.
    pub inserted: usize,
    /// Items that named a job an earlier request made.
    pub replayed: usize,
    pub failed: usize,
    pub items: Vec<BatchItem>,
    /// The batch that `on_complete` and `callback_url` follow (absent
    /// without either, or when no item made a job).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub batch_id: Option<Uuid>,
}

fn item_error(index: usize, e: &ServiceError) -> BatchItem {
    BatchItem { index, job: None, replayed: false, error: Some(ErrorBody::from(e)) }
}

/// Checks every item, then inserts the good ones (all of them or none when
/// `atomic`) and their events, and nudges each queue once.
pub async fn submit(ctx: &Ctx, principal: &Principal, req: BatchRequest) -> ServiceResult<BatchResult> {
    principal.require(Role::User, "submitting jobs")?;
    if req.jobs.is_empty() || req.jobs.len() > MAX_BATCH {
        return Err(ServiceError::invalid_field("jobs", format!("a batch holds 1 to {MAX_BATCH} jobs")));
    }
    check_follow_up(ctx, principal, &req).await?;
    let follow_up = (req.on_complete.is_some() || req.callback_url.is_some()).then(Uuid::now_v7);
    let on_complete = req.on_complete.as_ref().map(|t| serde_json::to_value(t).expect("a template serializes"));
    let batch_callback = req.callback_url.clone();
    let all: Vec<Item> = req.jobs.into_iter().map(BatchJob::into_item).collect();
    let mut results: Vec<Option<BatchItem>> = vec![None; all.len()];
    let mut good: Vec<(usize, &Item, &'static crate::kinds::Kind)> = Vec::new();
    let mut operator: Option<bool> = None;
    let mut urls: HashMap<&str, Option<Refused>> = HashMap::new();
    for (index, item) in all.iter().enumerate() {
        match check(ctx, principal, item, &mut operator, &mut urls).await {
            Ok(kind) => good.push((index, item, kind)),
            Err(e) => results[index] = Some(item_error(index, &e)),
        }
    }
    if req.atomic && results.iter().any(Option::is_some) {
        return Err(rejected(results));
    }
    let mut per_kind: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
    for (_, _, kind) in &good {
        *per_kind.entry(kind.name).or_default() += 1;
    }
    ctx.limits.jobs(&ctx.pool, &ctx.broker, principal.tenant_id, &per_kind).await?;
    let now = Utc::now();
    let hashes: Vec<String> = good.iter().map(|(_, item, _)| request_hash(&item.job)).collect();
    let rows: Vec<NewJob> = good
        .iter()
        .zip(&hashes)
        .map(|((_, item, kind), hash)| new_job(principal, kind, &item.job, item.idempotency_key.as_deref(), hash, now))
        .collect();
    let tenant = principal.tenant_id;
    let atomic = req.atomic;
    let settings = ctx.settings.clone();
    let mut conn = ctx.pool.get().await?;
    let outcome = (*conn)
        .transaction::<_, Abort, _>(async move |conn: &mut AsyncPgConnection| {
            let inserted = crate::queue::insert_many(conn, &rows).await?;
            let by_id: HashMap<Uuid, Job> = inserted.into_iter().map(|job| (job.id, job)).collect();
            // Items whose key an earlier row holds (another request, or an
            // earlier item of this one) were not inserted: read those rows.
            let keys: Vec<&str> =
                rows.iter().filter(|r| !by_id.contains_key(&r.id)).filter_map(|r| r.idempotency_key).collect();
            let holders: HashMap<String, Job> = j::jobs
                .filter(j::tenant_id.eq(tenant))
                .filter(j::idempotency_key.eq_any(&keys))
                .select(Job::as_select())
                .load::<Job>(conn)
                .await?
                .into_iter()
                .filter_map(|job| job.idempotency_key.clone().map(|k| (k, job)))
                .collect();
            let mut items = Vec::with_capacity(rows.len());
            for row in &rows {
                if let Some(job) = by_id.get(&row.id) {
                    items.push(Ok((job.clone(), false)));
                    continue;
                }
                let holder = row.idempotency_key.and_then(|k| holders.get(k));
                items.push(match holder {
                    Some(job) if job.request_hash.as_deref() == row.request_hash => Ok((job.clone(), true)),
                    Some(job) => Err(ServiceError::new(
                        ErrorCode::IdempotencyConflict,
                        "this idempotency_key was used with a different request",
                    )
                    .with_details(json!({ "job_id": job.id }))),
                    None => Err(ServiceError::internal("a batch row was neither inserted nor found by its key")),
                });
            }
            if atomic && items.iter().any(Result::is_err) {
                // Rolls the inserts back; the caller reports each item.
                return Err(Abort::Rejected(items));
            }
            let members: Vec<Uuid> = items.iter().flatten().map(|(job, _)| job.id).collect();
            let (mut batch, mut deliveries) = (None, 0);
            if let (Some(id), false) = (follow_up, members.is_empty()) {
                let callback_url = batch_callback.as_deref();
                let new = NewBatch { id, tenant_id: tenant, callback_url, on_complete, quiet: false };
                deliveries = batches::record(conn, &settings, new, &members).await?;
                batch = Some(id);
            }
            Ok((items, batch, deliveries))
        })
        .await;
    drop(conn);
    let (committed, items, batch_id) = match outcome {
        Ok((items, batch, deliveries)) => {
            if deliveries > 0 {
                dispatch_webhooks(ctx);
            }
            (true, items, batch)
        }
        Err(Abort::Rejected(items)) => (false, items, None),
        Err(Abort::Failed(e)) => return Err(e),
    };
    for ((index, _, _), item) in good.iter().zip(items) {
        results[*index] = Some(match item {
            Ok((job, replayed)) => BatchItem { index: *index, job: Some(job.summary()), replayed, error: None },
            Err(e) => item_error(*index, &e),
        });
    }
    if !committed {
        return Err(rejected(results));
    }
    let items: Vec<BatchItem> = results.into_iter().map(|r| r.expect("every item has a result")).collect();
    let fresh: Vec<&JobSummary> = items.iter().filter(|i| !i.replayed).filter_map(|i| i.job.as_ref()).collect();
    for kind in fresh.iter().map(|j| j.kind.as_str()) {
        ctx.metrics.jobs_submitted.with_label_values(&[kind]).inc();
    }
    let due: BTreeSet<&str> = fresh.iter().filter(|j| j.run_at <= Utc::now()).map(|j| j.queue.as_str()).collect();
    for queue in due {
        nudge(ctx, queue);
    }
    Ok(BatchResult {
        inserted: fresh.len(),
        replayed: items.iter().filter(|i| i.replayed).count(),
        failed: items.iter().filter(|i| i.error.is_some()).count(),
        items,
        batch_id,
    })
}

/// Checks a batch's `on_complete` job as `POST /v1/jobs` checks a job, and
/// its `callback_url` with the webhook guard; either failing refuses the
/// whole request.
async fn check_follow_up(ctx: &Ctx, principal: &Principal, req: &BatchRequest) -> ServiceResult<()> {
    if let Some(template) = &req.on_complete {
        check_template(ctx, principal, template, "on_complete").await?;
    }
    if let Some(url) = &req.callback_url {
        crate::webhooks::check_url(url, &ctx.settings.webhooks, "callback_url").await?;
    }
    Ok(())
}

/// What `submit` checks of one item, as `POST /v1/jobs` does; the operator
/// check and each callback URL's guard run once per batch.
async fn check<'a>(
    ctx: &Ctx,
    principal: &Principal,
    item: &'a Item,
    operator: &mut Option<bool>,
    urls: &mut HashMap<&'a str, Option<Refused>>,
) -> ServiceResult<&'static crate::kinds::Kind> {
    if let Some(k) = &item.idempotency_key {
        check_key(k).map_err(|m| ServiceError::invalid_field("idempotency_key", format!("idempotency_key {m}")))?;
    }
    let kind = validate(principal, &item.job)?;
    if kind.operator {
        let ok = match *operator {
            Some(ok) => ok,
            None => *operator.insert(is_operator(ctx, principal).await?),
        };
        if !ok {
            return Err(not_operator(kind.name));
        }
    }
    if let Some(url) = item.job.callback_url.as_deref() {
        if !urls.contains_key(url) {
            let refused = crate::webhooks::guard::check(url, &ctx.settings.webhooks).await.err();
            urls.insert(url, refused);
        }
        if let Some(Some(why)) = urls.get(url) {
            return Err(crate::webhooks::refused_error("callback_url", why.clone()));
        }
    }
    Ok(kind)
}

fn rejected(results: Vec<Option<BatchItem>>) -> ServiceError {
    let items: Vec<&BatchItem> = results.iter().flatten().filter(|i| i.error.is_some()).collect();
    ServiceError::new(
        ErrorCode::BatchRejected,
        format!("{} item(s) of an atomic batch are bad: nothing was queued", items.len()),
    )
    .with_details(json!({ "items": items }))
}
