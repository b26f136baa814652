//! Jobs as clients see them: submit, read, list, cancel and retry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{record_event, Principal};
use crate::db::models::{Job, NewJob};
use crate::db::schema::jobs::dsl as j;
use crate::domain::{JobPage, JobStatus, Role};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::tool_call::ToolCall;
use crate::kinds::webhook_delivery::DeliverWebhook;
use crate::kinds::{self, JobArgs, Kind};
use crate::queue::inserter::Submission;
use crate::Ctx;

/// Priorities run from -100 (last) to 100 (first); 0 is the default.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i16> = -100..=100;
/// Attempts a job may ask for.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<i32> = 1..=25;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The body of `POST /v1/jobs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "diagnostic", "payload": {"sleep_ms": 100, "steps": 2}, "priority": 10}))]
pub struct SubmitJob {
    /// The job kind, e.g. `diagnostic`.
    #[schema(schema_with = submittable_kinds)]
    pub kind: String,
    /// The kind's payload; validated per kind.
    #[serde(default)]
    pub payload: serde_json::Value,
    /// -100..=100, higher runs first. Default 0.
    #[schema(minimum = -100, maximum = 100)]
    pub priority: Option<i16>,
    /// Do not start before this time.
    pub run_at: Option<DateTime<Utc>>,
    /// 1..=25; the kind's default when absent.
    #[schema(minimum = 1, maximum = 25)]
    pub max_attempts: Option<i32>,
    /// Where to POST the outcome.
    pub callback_url: Option<String>,
    /// Jobs of your tenant that must end first (at most 100). The job
    /// waits as `waiting_dependencies` until every one has succeeded; if one
    /// fails, dies or is cancelled, it is cancelled with `dependency_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub depends_on: Vec<Uuid>,
    /// Run once every dependency has ended, whatever its outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_on_failure: bool,
}

/// A job to submit later: by a schedule at each fire, by a batch when
/// its last job has finished. Checked as `POST /v1/jobs` checks a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    #[schema(schema_with = submittable_kinds)]
    pub kind: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    /// -100..=100, higher runs first. Default 0.
    #[schema(minimum = -100, maximum = 100)]
    pub priority: Option<i16>,
    /// 1..=25; the kind's default when absent.
    #[schema(minimum = 1, maximum = 25)]
    pub max_attempts: Option<i32>,
    /// Where to POST each job's outcome.
    pub callback_url: Option<String>,
}

impl JobTemplate {
    fn as_submission(&self) -> SubmitJob {
        SubmitJob {
            kind: self.kind.clone(),
            payload: self.payload.clone(),
            priority: self.priority,
            run_at: None,
            max_attempts: self.max_attempts,
            callback_url: self.callback_url.clone(),
            ..Default::default()
        }
    }
}

/// The kinds a client may submit by name.
pub(super) fn submittable_kinds() -> utoipa::openapi::Object {
    let names: Vec<&str> = kinds::ALL.iter().filter(|k| !k.internal).map(|k| k.name).collect();
    crate::domain::spec::one_of(&names)
}

/// What a submission did.
#[derive(Debug)]
pub struct Submitted {
    pub job: Job,
    /// True when an earlier request with the same idempotency key made it.
    pub replayed: bool,
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidPayload, message)
}

pub(super) fn request_hash(req: &SubmitJob) -> String {
    // serde_json maps are ordered, so equal requests hash equally.
    let canonical = serde_json::to_value(req).expect("request serializes").to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

pub(super) fn validate(principal: &Principal, req: &SubmitJob) -> ServiceResult<&'static Kind> {
    let spec = kinds::find(&req.kind).ok_or_else(|| {
        let known: Vec<_> = kinds::ALL.iter().filter(|k| !k.internal).map(|k| k.name).collect();
        ServiceError::new(ErrorCode::UnknownKind, format!("unknown job kind {:?}", req.kind))
            .with_details(json!({ "known_kinds": known }))
    })?;
    if spec.internal {
        return Err(ServiceError::new(
            ErrorCode::UnknownKind,
            format!("{:?} jobs are created by Chorus itself", spec.name),
        ));
    }
    if spec.admin_only {
        principal.require(Role::Admin, &format!("submitting {:?} jobs", spec.name))?;
    }
    if let Some(p) = req.priority {
        if !PRIORITY_RANGE.contains(&p) {
            return Err(invalid("priority must be between -100 and 100").with_details(json!({"field": "priority"})));
        }
    }
    if let Some(m) = req.max_attempts {
        if !MAX_ATTEMPTS_RANGE.contains(&m) {
            return Err(invalid("max_attempts must be between 1 and 25").with_details(json!({"field": "max_attempts"})));
        }
    }
    (spec.validate)(&req.payload).map_err(|e| {
        let details = e.details.clone().unwrap_or_else(|| json!({"field": "payload"}));
        e.with_details(details)
    })?;
    Ok(spec)
}

/// Checks a job to submit later as `POST /v1/jobs` checks a job; errors
/// name their field under `field` (`job.payload`, say).
pub(super) async fn check_template(
    ctx: &Ctx,
    principal: &Principal,
    template: &JobTemplate,
    field: &str,
) -> ServiceResult<&'static Kind> {
    let spec = validate(principal, &template.as_submission()).map_err(|e| {
        let inner = e.details.as_ref().and_then(|d| d.get("field")).and_then(|f| f.as_str()).unwrap_or("payload");
        let details = json!({ "field": format!("{field}.{inner}") });
        ServiceError { details: Some(details), ..e }
    })?;
    if spec.operator {
        require_operator(ctx, principal, spec.name).await?;
    }
    if let Some(url) = &template.callback_url {
        crate::webhooks::check_url(url, &ctx.settings.webhooks, &format!("{field}.callback_url")).await?;
    }
    Ok(spec)
}

/// Whether the key is an admin of the operator tenant.
pub(super) async fn is_operator(ctx: &Ctx, principal: &Principal) -> ServiceResult<bool> {
    use crate::db::schema::tenants as t;
    if principal.role != Role::Admin {
        return Ok(false);
    }
    let mut conn = ctx.pool.get().await?;
    let name: String = t::table.find(principal.tenant_id).select(t::name).first(&mut conn).await?;
    Ok(name == ctx.settings.api.operator_tenant)
}

/// What a key that is not an operator gets for a `kind` that acts on every tenant.
pub(super) fn not_operator(kind: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::Forbidden,
        format!("{kind} acts on every tenant: it needs an admin key of the operator tenant (api.operator_tenant)"),
    )
}

/// Refuses a key that is not an admin of the operator tenant.
pub(super) async fn require_operator(ctx: &Ctx, principal: &Principal, kind: &str) -> ServiceResult<()> {
    if is_operator(ctx, principal).await? {
        Ok(())
    } else {
        Err(not_operator(kind))
    }
}

/// The row of a job submitted by `principal`, as `POST /v1/jobs` and the
/// batch route insert it.
pub(super) fn new_job<'a>(
    principal: &Principal,
    spec: &Kind,
    req: &'a SubmitJob,
    idempotency_key: Option<&'a str>,
    hash: &'a str,
    now: DateTime<Utc>,
) -> NewJob<'a> {
    NewJob {
        id: Uuid::now_v7(),
        tenant_id: principal.tenant_id,
        kind: spec.name,
        queue: spec.queue.as_str(),
        priority: req.priority.unwrap_or(0),
        status: JobStatus::Queued,
        max_attempts: req.max_attempts.unwrap_or(spec.max_attempts),
        run_at: req.run_at.unwrap_or(now).max(now),
        payload: &req.payload,
        idempotency_key,
        request_hash: Some(hash),
        callback_url: req.callback_url.as_deref(),
    }
}

/// `new` as the inserter takes it (owned).
fn submission(spec: &'static Kind, new: &NewJob<'_>) -> Submission {
    Submission {
        id: new.id,
        tenant_id: new.tenant_id,
        kind: spec.name,
        queue: spec.queue.as_str(),
        priority: new.priority,
        status: new.status,
        max_attempts: new.max_attempts,
        run_at: new.run_at,
        payload: new.payload.clone(),
        idempotency_key: new.idempotency_key.map(str::to_string),
        request_hash: new.request_hash.map(str::to_string),
        callback_url: new.callback_url.map(str::to_string),
    }
}

/// Records a job and its `queued` event (one statement, shared with the
/// submissions that arrive with it), then nudges its
/// queue's dispatcher. A failed dispatch is left to the workers'
/// dispatchers: the job is committed, so it will run.
pub async fn submit(
    ctx: &Ctx,
    principal: &Principal,
    req: SubmitJob,
    idempotency_key: Option<String>,
) -> ServiceResult<Submitted> {
    principal.require(Role::User, "submitting jobs")?;
    if let Some(k) = &idempotency_key {
        check_key(k).map_err(|m| ServiceError::new(ErrorCode::InvalidHeader, format!("Idempotency-Key {m}")))?;
    }
    let spec = validate(principal, &req)?;
    if spec.operator {
        require_operator(ctx, principal, spec.name).await?;
    }
    if let Some(url) = &req.callback_url {
        crate::webhooks::check_url(url, &ctx.settings.webhooks, "callback_url").await?;
    }
    if req.depends_on.len() > crate::queue::dependencies::MAX_DEPENDENCIES {
        return Err(invalid("depends_on names at most 100 jobs").with_details(json!({"field": "depends_on"})));
    }
    spend(ctx, principal.tenant_id, spec.name, 1).await?;
    let hash = request_hash(&req);
    let mut new = new_job(principal, spec, &req, idempotency_key.as_deref(), &hash, Utc::now());
    let inserted = if req.depends_on.is_empty() {
        // Submissions that arrive together share one insert.
        ctx.inserter.insert(submission(spec, &new)).await?
    } else {
        insert_dependent(&mut *ctx.pool.get().await?, &mut new, &req).await?
    };
    let Some(job) = inserted else {
        let mut conn = ctx.pool.get().await?;
        // The idempotency key was used before: same body, same job.
        let existing: Job = j::jobs
            .filter(j::tenant_id.eq(principal.tenant_id))
            .filter(j::idempotency_key.eq(idempotency_key.as_deref().unwrap_or_default()))
            .select(Job::as_select())
            .first(&mut conn)
            .await?;
        if existing.request_hash.as_deref() != Some(hash.as_str()) {
            return Err(ServiceError::new(
                ErrorCode::IdempotencyConflict,
                "this Idempotency-Key was used with a different request",
            )
            .with_details(json!({ "job_id": existing.id })));
        }
        return Ok(Submitted { job: existing, replayed: true });
    };
    if job.run_at <= Utc::now() && job.status == JobStatus::Queued {
        nudge(ctx, &job.queue);
    }
    Ok(Submitted { job, replayed: false })
}

/// Inserts a job with dependencies and records them, in one transaction
/// that holds its dependencies' rows (`FOR SHARE`), so none can end between
/// the check and the record without settling this job. Unknown ids (or
/// another tenant's) are refused, and so is a dependency that has already
/// failed unless `run_on_failure`. Cycles cannot form: a job can only name
/// jobs that exist before it.
async fn insert_dependent(
    conn: &mut AsyncPgConnection,
    new: &mut NewJob<'_>,
    req: &SubmitJob,
) -> ServiceResult<Option<Job>> {
    conn.transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
        let found: Vec<(Uuid, JobStatus)> = j::jobs
            .filter(j::id.eq_any(&req.depends_on))
            .filter(j::tenant_id.eq(new.tenant_id))
            .select((j::id, j::status))
            .for_share()
            .load(conn)
            .await?;
        let missing: Vec<&Uuid> = req.depends_on.iter().filter(|d| !found.iter().any(|f| f.0 == **d)).collect();
        if !missing.is_empty() {
            return Err(ServiceError::new(
                ErrorCode::UnknownDependency,
                "depends_on names jobs your tenant does not have",
            )
            .with_details(json!({"field": "depends_on", "missing": missing})));
        }
        let failed = found.iter().find(|(_, st)| st.is_terminal() && *st != JobStatus::Succeeded);
        if let (Some((id, st)), false) = (failed, req.run_on_failure) {
            return Err(ServiceError::new(ErrorCode::DependencyFailed, format!("dependency {id} already ended {st}"))
                .with_details(json!({"dependency": id, "status": st})));
        }
        if !found.iter().all(|(_, st)| st.is_terminal()) {
            new.status = JobStatus::WaitingDependencies;
        }
        let job = crate::queue::insert_row(conn, new).await?;
        if let Some(job) = &job {
            crate::queue::dependencies::record(conn, job.id, &req.depends_on, req.run_on_failure).await?;
        }
        Ok(job)
    })
    .await
}

/// An idempotency key is 1 to 255 characters; else what is wrong.
pub(super) fn check_key(k: &str) -> Result<(), &'static str> {
    if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY {
        return Err("must be 1 to 255 characters");
    }
    Ok(())
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::JobNotFound, "no such job")
}

/// Spends `n` of the tenant's jobs per minute of `kind`: `rate_limited`
/// past its limit (see [`crate::limits`]). Every route that makes jobs on
/// a caller's request spends; jobs that Chorus makes from other jobs do not.
pub(super) async fn spend(ctx: &Ctx, tenant: Uuid, kind: &str, n: u32) -> ServiceResult<()> {
    ctx.limits.jobs(&ctx.pool, &ctx.broker, tenant, &std::collections::BTreeMap::from([(kind, n)])).await
}

/// Queues a job of `A` that a caller asked for (outside any transaction),
/// with the kind's attempts, and nudges its queue; it spends on the
/// tenant's jobs per minute of the kind.
pub async fn enqueue<A: JobArgs>(ctx: &Ctx, tenant: Uuid, args: &A) -> ServiceResult<Job> {
    enqueue_with(ctx, tenant, args, A::KIND.max_attempts).await
}

/// [`enqueue`] with `max_attempts` attempts.
pub async fn enqueue_with<A: JobArgs>(ctx: &Ctx, tenant: Uuid, args: &A, max_attempts: i32) -> ServiceResult<Job> {
    spend(ctx, tenant, A::KIND.name, 1).await?;
    let mut conn = ctx.pool.get().await?;
    let queued = crate::queue::insert_with(&mut conn, tenant, args, max_attempts).await?;
    drop(conn);
    nudge(ctx, A::KIND.queue.as_str());
    Ok(queued)
}

/// Job `id` if it belongs to `tenant`.
pub async fn of_tenant(ctx: &Ctx, tenant: Uuid, id: Uuid) -> ServiceResult<Option<Job>> {
    let mut conn = ctx.pool.get().await?;
    Ok(j::jobs
        .filter(j::id.eq(id))
        .filter(j::tenant_id.eq(tenant))
        .select(Job::as_select())
        .first(&mut conn)
        .await
        .optional()?)
}

/// One job of the caller's tenant; another tenant's job is not found, and
/// neither is a call of a tool the caller's role may not call.
pub async fn get(ctx: &Ctx, principal: &Principal, id: Uuid) -> ServiceResult<Job> {
    let job = of_tenant(ctx, principal.tenant_id, id).await?.ok_or_else(not_found)?;
    if job.kind == ToolCall::KIND.name && principal.role != Role::Admin {
        let tool = job.payload.get("tool").and_then(|t| t.as_str()).unwrap_or_default();
        if !crate::services::tools::visible_to(ctx, principal.tenant_id, principal.role)
            .await?
            .iter()
            .any(|t| t == tool)
        {
            return Err(not_found());
        }
    }
    Ok(job)
}

/// [`get`]'s job as clients see it, with its dependencies and dependents.
pub async fn view(ctx: &Ctx, principal: &Principal, id: Uuid) -> ServiceResult<crate::domain::JobView> {
    let mut view = get(ctx, principal, id).await?.view();
    let mut conn = ctx.pool.get().await?;
    let (on, by) = crate::queue::dependencies::of(&mut conn, id).await?;
    (view.depends_on, view.dependents) = (Some(on), Some(by));
    Ok(view)
}

/// Filters of `GET /v1/jobs`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Comma-separated statuses, e.g. `failed,dead`.
    #[param(schema_with = status_list)]
    pub status: Option<String>,
    /// A kind; without it, jobs Chorus makes for itself (webhook
    /// deliveries) are left out.
    pub kind: Option<String>,
    /// Only jobs created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// From a previous page's `next_cursor`.
    #[param(pattern = r"^-?[0-9]{1,16}_[0-9a-f]{32}$")]
    pub cursor: Option<String>,
    /// 1..=200.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

fn encode_cursor(job: &Job) -> String {
    format!("{}_{}", job.created_at.timestamp_micros(), job.id.simple())
}

/// The inverse of `encode_cursor`, and nothing else (the pattern in the
/// spec says the same).
fn decode_cursor(s: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (ts, id) = s.split_once('_')?;
    let digits = ts.strip_prefix('-').unwrap_or(ts);
    let plain = |s: &str, n: std::ops::RangeInclusive<usize>, ok: fn(&u8) -> bool| {
        n.contains(&s.len()) && s.as_bytes().iter().all(ok)
    };
    if !plain(digits, 1..=16, u8::is_ascii_digit)
        || !plain(id, 32..=32, |b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    Some((DateTime::from_timestamp_micros(ts.parse().ok()?)?, Uuid::parse_str(id).ok()?))
}

fn status_list() -> utoipa::openapi::Object {
    let one = JobStatus::ALL.map(|s| s.as_str()).join("|");
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(format!("^({one})(,({one}))*$")))
        .build()
}

/// The tenant's jobs, newest first, one page at a time.
pub async fn list(ctx: &Ctx, principal: &Principal, filter: JobFilter) -> ServiceResult<JobPage> {
    let limit = filter.limit.unwrap_or(ctx.settings.api.default_page_size);
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::invalid_parameter("limit", "limit must be between 1 and 200"));
    }
    let mut query = j::jobs.filter(j::tenant_id.eq(principal.tenant_id)).select(Job::as_select()).into_boxed();
    if let Some(statuses) = &filter.status {
        let parsed: Option<Vec<JobStatus>> = statuses.split(',').map(JobStatus::parse).collect();
        let parsed = parsed
            .ok_or_else(|| ServiceError::invalid_parameter("status", format!("unknown status in {statuses:?}")))?;
        query = query.filter(j::status.eq_any(parsed));
    }
    match &filter.kind {
        Some(kind) => query = query.filter(j::kind.eq(kind.clone())),
        // Jobs Chorus makes for itself (webhook deliveries) only when asked for.
        None => {
            let internal: Vec<&str> = kinds::ALL.iter().filter(|k| k.internal).map(|k| k.name).collect();
            query = query.filter(j::kind.ne_all(internal));
        }
    }
    // Tool calls are listed only when asked for by kind (they are
    // internal); then those of tools the caller's role may not call are
    // left out.
    if filter.kind.as_deref() == Some(ToolCall::KIND.name) && principal.role != Role::Admin {
        let visible = crate::services::tools::visible_to(ctx, principal.tenant_id, principal.role).await?;
        let callable = diesel::dsl::sql::<diesel::sql_types::Bool>("payload->>'tool' = ANY(")
            .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(visible)
            .sql(")");
        query = query.filter(callable);
    }
    if let Some(t) = filter.created_after {
        query = query.filter(j::created_at.ge(t));
    }
    if let Some(t) = filter.created_before {
        query = query.filter(j::created_at.lt(t));
    }
    if let Some(cursor) = &filter.cursor {
        let (ts, id) =
            decode_cursor(cursor).ok_or_else(|| ServiceError::invalid_parameter("cursor", "malformed cursor"))?;
        query = query.filter(j::created_at.lt(ts).or(j::created_at.eq(ts).and(j::id.lt(id))));
    }
    let mut conn = ctx.pool.get().await?;
    let mut rows: Vec<Job> = query.order((j::created_at.desc(), j::id.desc())).limit(limit + 1).load(&mut conn).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(JobPage { items: rows.iter().map(Job::view).collect(), next_cursor })
}

async fn lock_job(conn: &mut diesel_async::AsyncPgConnection, principal: &Principal, id: Uuid) -> ServiceResult<Job> {
    j::jobs
        .filter(j::id.eq(id))
        .filter(j::tenant_id.eq(principal.tenant_id))
        .select(Job::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

/// Cancels a job. A waiting job is cancelled at once; a running one is asked
/// to stop and its worker ends it within a second. A finished job answers
/// `job_not_cancellable`.
pub async fn cancel(ctx: &Ctx, principal: &Principal, id: Uuid) -> ServiceResult<Job> {
    principal.require(Role::User, "cancelling jobs")?;
    let mut conn = ctx.pool.get().await?;
    let principal = *principal;
    let settings = ctx.settings.clone();
    let (job, event) = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let job = lock_job(conn, &principal, id).await?;
            match job.status {
                JobStatus::WaitingDependencies | JobStatus::Queued | JobStatus::Retrying => {
                    let job: Job = diesel::update(j::jobs.find(id))
                        .set((
                            j::status.eq(JobStatus::Cancelled),
                            j::finished_at.eq(Utc::now()),
                            j::dispatch_seq.eq(j::dispatch_seq + 1),
                            j::dispatched_at.eq(None::<DateTime<Utc>>),
                            j::cancel_requested_at.eq(Utc::now()),
                        ))
                        .returning(Job::as_returning())
                        .get_result(conn)
                        .await?;
                    let ev = record_event(conn, id, "state", Some(JobStatus::Cancelled), json!({"by": "api"})).await?;
                    crate::queue::lifecycle::ended(conn, &settings, &job).await?;
                    Ok((job, Some(ev)))
                }
                JobStatus::Running => {
                    let job: Job = diesel::update(j::jobs.find(id))
                        .set(j::cancel_requested_at.eq(job.cancel_requested_at.unwrap_or_else(Utc::now)))
                        .returning(Job::as_returning())
                        .get_result(conn)
                        .await?;
                    Ok((job, None))
                }
                st => Err(ServiceError::new(ErrorCode::JobNotCancellable, format!("the job is already {st}"))),
            }
        })
        .await?;
    match event {
        Some(ev) => {
            ctx.broker.publish_event(&ev.view()).await;
            dispatch_webhooks(ctx);
        }
        None => ctx.broker.publish_cancel(job.id).await?,
    }
    Ok(job)
}

/// Asks for a dispatch of `queue` without waiting for it (coalesced with
/// other asks: see [`crate::queue::dispatcher::Nudger`]). A failed dispatch is left to
/// the workers' dispatch loops, which run anyway.
pub fn nudge(ctx: &Ctx, queue: &str) {
    ctx.nudger.nudge(queue);
}

/// Nudges the `webhook` queue after deliveries were written.
pub fn dispatch_webhooks(ctx: &Ctx) {
    nudge(ctx, DeliverWebhook::KIND.queue.as_str());
}

/// A retry runs the job again as it was: the caller needs what submitting
/// it needed (an admin for admin-only kinds, an operator admin for
/// operator kinds) and a role at least the one its payload acts with.
async fn authorize_retry(ctx: &Ctx, principal: &Principal, job: &Job) -> ServiceResult<()> {
    let Some(kind) = kinds::find(&job.kind) else { return Ok(()) };
    let what = format!("retrying {:?} jobs", kind.name);
    if kind.admin_only && !kind.internal {
        principal.require(Role::Admin, &what)?;
    }
    if kind.operator {
        require_operator(ctx, principal, kind.name).await?;
    }
    if let Some(role) = (kind.runs_as)(&job.payload) {
        principal.require(role, &format!("{what} that act as {}", role.as_str()))?;
    }
    Ok(())
}

/// Retries up to `max` of the tenant's dead jobs, newest first, each as
/// [`retry`] does; says how many were retried. A job that cannot be (its
/// kind now needs a role the caller lacks) is skipped.
pub async fn retry_dead(ctx: &Ctx, principal: &Principal, max: usize) -> ServiceResult<usize> {
    principal.require(Role::User, "retrying jobs")?;
    let mut ids = Vec::new();
    let mut cursor = None;
    while ids.len() < max {
        let filter = JobFilter { status: Some("dead".into()), cursor, limit: Some(200), ..Default::default() };
        let page = list(ctx, principal, filter).await?;
        ids.extend(page.items.iter().map(|j| j.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.truncate(max);
    let mut retried = 0;
    for id in ids {
        match retry(ctx, principal, id).await {
            Ok(_) => retried += 1,
            Err(e) if e.code == ErrorCode::Forbidden || e.code == ErrorCode::JobNotRetryable => {}
            Err(e) => return Err(e),
        }
    }
    Ok(retried)
}

/// Runs a `failed` or `dead` job again. Attempts keep counting; a job that
/// used all of them gets one more (River's rule).
pub async fn retry(ctx: &Ctx, principal: &Principal, id: Uuid) -> ServiceResult<Job> {
    principal.require(Role::User, "retrying jobs")?;
    authorize_retry(ctx, principal, &get(ctx, principal, id).await?).await?;
    let mut conn = ctx.pool.get().await?;
    let principal = *principal;
    let (job, ev) = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let job = lock_job(conn, &principal, id).await?;
            if !matches!(job.status, JobStatus::Failed | JobStatus::Dead) {
                return Err(ServiceError::new(
                    ErrorCode::JobNotRetryable,
                    format!("only failed or dead jobs can be retried; this one is {}", job.status),
                ));
            }
            let job: Job = diesel::update(j::jobs.find(id))
                .set((
                    j::status.eq(JobStatus::Queued),
                    j::max_attempts.eq(job.max_attempts.max(job.attempts + 1)),
                    j::run_at.eq(Utc::now()),
                    j::dispatch_seq.eq(j::dispatch_seq + 1),
                    j::dispatched_at.eq(None::<DateTime<Utc>>),
                    j::error_code.eq(None::<String>),
                    j::error_message.eq(None::<String>),
                    j::result.eq(None::<serde_json::Value>),
                    j::finished_at.eq(None::<DateTime<Utc>>),
                    j::cancel_requested_at.eq(None::<DateTime<Utc>>),
                ))
                .returning(Job::as_returning())
                .get_result(conn)
                .await?;
            let ev = record_event(conn, id, "state", Some(JobStatus::Queued), json!({"retried_by": "api"})).await?;
            let selector = json!({"job_id": id, "kind": job.kind});
            let actor = Some(principal.key_id);
            super::audit::record(conn, principal.tenant_id, actor, "job.retry", &selector, &json!({}), Some(id))
                .await?;
            Ok((job, ev))
        })
        .await?;
    ctx.broker.publish_event(&ev.view()).await;
    nudge(ctx, &job.queue);
    Ok(job)
}
