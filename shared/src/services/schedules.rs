//! Recurring jobs (`/v1/schedules`): a cron expression in an IANA time zone
//! that submits a job (kind, payload, priority, attempts, callback) at each
//! fire time, with a misfire policy and an optional end. Users create,
//! change and delete them; viewers read. The job is checked as `POST
//! /v1/jobs` checks it, when the schedule is written. Workers make the
//! fires ([`super::scheduler`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::jobs::{check_template, JobTemplate};
use super::{page, page_limit, Principal};
use crate::db::models::{Schedule, ScheduleFire};
use crate::db::schema::{schedule_fires as f, schedules as s, tenants as t};
use crate::domain::cron::{CronProblem, CronSchedule, Misfire};
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

/// Fire times and past fires a schedule's view shows.
const SHOWN_FIRES: usize = 5;
const MAX_EXPRESSION: usize = 200;
const MAX_MISFIRE_CAP: i32 = 1_000;

/// The body of `POST /v1/schedules` (`cron` and `job` required) and
/// `PATCH /v1/schedules/{id}` (any field).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// Five fields (minute hour day-of-month month day-of-week) or six
    /// (a leading seconds field); names, ranges, lists, steps and
    /// `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`.
    #[schema(max_length = 200, example = "0 3 * * *")]
    pub cron: Option<String>,
    /// An IANA time zone such as `Europe/Paris` (default `UTC`); fire
    /// times follow its daylight-saving rules.
    #[schema(max_length = 64)]
    pub time_zone: Option<String>,
    pub job: Option<JobTemplate>,
    /// A paused schedule makes no fires (default true). Resuming makes the
    /// next fire after now, not the ones paused over.
    pub enabled: Option<bool>,
    /// Fires missed while no worker ran: `skip` them, `run_once` (one job
    /// for all, the default) or `run_all` (one each, up to `misfire_cap`).
    #[schema(schema_with = misfire_policies)]
    pub misfire: Option<String>,
    /// The most missed fires `run_all` makes (1..=1000, default 100): the latest ones.
    #[schema(minimum = 1, maximum = 1000)]
    pub misfire_cap: Option<i32>,
    /// No fire after this time.
    pub ends_at: Option<DateTime<Utc>>,
}

fn misfire_policies() -> utoipa::openapi::Object {
    let names: Vec<&str> = Misfire::ALL.iter().map(|m| m.as_str()).collect();
    crate::domain::spec::optional_one_of(&names)
}

/// A schedule as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub id: Uuid,
    pub cron: String,
    pub time_zone: String,
    pub job: JobTemplate,
    pub enabled: bool,
    pub misfire: String,
    pub misfire_cap: i32,
    pub ends_at: Option<DateTime<Utc>>,
    /// The next 5 fire times (none while paused or once ended).
    pub next_fires: Vec<DateTime<Utc>>,
    /// The latest fires, newest first, with the job each made.
    pub last_fires: Vec<FireView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One fire of a schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FireView {
    /// The fire time the job was made for.
    pub fire_at: DateTime<Utc>,
    pub job_id: Uuid,
    /// Made late, after no worker ran at its time (by the misfire policy).
    pub misfired: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ScheduleFire> for FireView {
    fn from(r: ScheduleFire) -> Self {
        Self { fire_at: r.fire_at, job_id: r.job_id, misfired: r.misfired, created_at: r.created_at }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScheduleQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SchedulePage {
    pub items: Vec<ScheduleView>,
    pub next_cursor: Option<Uuid>,
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::ScheduleNotFound, "no such schedule in your tenant")
}

fn refused(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidSchedule, message).with_details(json!({ "field": field }))
}

/// Parses a row's expression and zone (both were checked when written).
pub(super) fn cron_of(row: &Schedule) -> Result<CronSchedule, CronProblem> {
    CronSchedule::parse(&row.cron, &row.time_zone)
}

/// Checks a schedule as it would be stored; answers its parsed cron.
async fn check(ctx: &Ctx, p: &Principal, row: &Schedule) -> ServiceResult<CronSchedule> {
    if row.cron.len() > MAX_EXPRESSION {
        return Err(refused("cron", format!("cron is at most {MAX_EXPRESSION} characters")));
    }
    let cron = cron_of(row).map_err(|e| match e {
        CronProblem::Expression(_) => refused("cron", e.to_string()),
        CronProblem::TimeZone(_) => refused("time_zone", e.to_string()),
    })?;
    if !(1..=MAX_MISFIRE_CAP).contains(&row.misfire_cap) {
        return Err(refused("misfire_cap", format!("misfire_cap is between 1 and {MAX_MISFIRE_CAP}")));
    }
    check_template(ctx, p, &view_job(row), "job").await?;
    Ok(cron)
}

fn view_job(row: &Schedule) -> JobTemplate {
    JobTemplate {
        kind: row.kind.clone(),
        payload: row.payload.clone(),
        priority: Some(row.priority),
        max_attempts: row.max_attempts,
        callback_url: row.callback_url.clone(),
    }
}

/// The next fire after `now` of a schedule that fires; refuses one that
/// never will (an end in the past, a date that does not exist).
fn first_fire(row: &Schedule, cron: &CronSchedule, now: DateTime<Utc>) -> ServiceResult<Option<DateTime<Utc>>> {
    let next = cron.next_after(now, row.ends_at);
    if next.is_none() && row.enabled {
        return Err(refused("cron", "the schedule never fires after now (check cron and ends_at)"));
    }
    Ok(next)
}

fn apply(row: &mut Schedule, i: ScheduleInput) -> ServiceResult<()> {
    if let Some(c) = i.cron {
        row.cron = c;
    }
    if let Some(tz) = i.time_zone {
        row.time_zone = tz;
    }
    if let Some(job) = i.job {
        row.kind = job.kind;
        row.payload = job.payload;
        row.priority = job.priority.unwrap_or(0);
        row.max_attempts = job.max_attempts;
        row.callback_url = job.callback_url;
    }
    if let Some(e) = i.enabled {
        row.enabled = e;
    }
    if let Some(m) = i.misfire {
        let policy = Misfire::parse(&m).ok_or_else(|| refused("misfire", "misfire is skip, run_once or run_all"))?;
        row.misfire = policy.as_str().to_string();
    }
    if let Some(cap) = i.misfire_cap {
        row.misfire_cap = cap;
    }
    if let Some(end) = i.ends_at {
        row.ends_at = Some(end);
    }
    Ok(())
}

pub async fn create(ctx: &Ctx, p: &Principal, i: ScheduleInput) -> ServiceResult<ScheduleView> {
    p.require(Role::User, "creating schedules")?;
    let now = Utc::now();
    if i.cron.is_none() {
        return Err(refused("cron", "cron is required"));
    }
    if i.job.is_none() {
        return Err(ServiceError::invalid_field("job", "job is required"));
    }
    let mut row = Schedule {
        id: Uuid::now_v7(),
        tenant_id: p.tenant_id,
        cron: String::new(),
        time_zone: "UTC".into(),
        kind: String::new(),
        payload: json!({}),
        priority: 0,
        max_attempts: None,
        callback_url: None,
        enabled: true,
        misfire: Misfire::RunOnce.as_str().into(),
        misfire_cap: 100,
        ends_at: None,
        next_fire_at: None,
        created_at: now,
        updated_at: now,
    };
    apply(&mut row, i)?;
    let cron = check(ctx, p, &row).await?;
    row.next_fire_at = first_fire(&row, &cron, now)?;
    let max = ctx.settings.schedules.max_per_tenant;
    let mut conn = ctx.pool.get().await?;
    let row = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            // The tenant's row is locked so that concurrent creates count
            // each other.
            t::table.find(row.tenant_id).select(t::id).for_update().first::<Uuid>(conn).await?;
            let count: i64 = s::table.filter(s::tenant_id.eq(row.tenant_id)).count().get_result(conn).await?;
            if count >= max {
                let message = format!("a tenant has at most {max} schedules");
                return Err(ServiceError::new(ErrorCode::TooManySchedules, message));
            }
            diesel::insert_into(s::table).values(&row).execute(conn).await?;
            Ok(row)
        })
        .await?;
    Ok(view(row, Vec::new()))
}

async fn row_of(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<Schedule> {
    let mut conn = ctx.pool.get().await?;
    s::table
        .filter(s::id.eq(id))
        .filter(s::tenant_id.eq(p.tenant_id))
        .select(Schedule::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

fn view(row: Schedule, fires: Vec<ScheduleFire>) -> ScheduleView {
    let next_fires = match (row.enabled, row.next_fire_at, cron_of(&row)) {
        (true, Some(next), Ok(cron)) => {
            let mut times = vec![next];
            times.extend(cron.upcoming(next, SHOWN_FIRES - 1, row.ends_at));
            times
        }
        _ => Vec::new(),
    };
    ScheduleView {
        id: row.id,
        job: view_job(&row),
        cron: row.cron,
        time_zone: row.time_zone,
        enabled: row.enabled,
        misfire: row.misfire,
        misfire_cap: row.misfire_cap,
        ends_at: row.ends_at,
        next_fires,
        last_fires: fires.into_iter().map(FireView::from).collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// One schedule, with its next 5 fire times and its last 5 fires.
pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<ScheduleView> {
    let row = row_of(ctx, p, id).await?;
    let mut conn = ctx.pool.get().await?;
    let fires: Vec<ScheduleFire> = f::table
        .filter(f::schedule_id.eq(id))
        .order(f::fire_at.desc())
        .limit(SHOWN_FIRES as i64)
        .select(ScheduleFire::as_select())
        .load(&mut conn)
        .await?;
    Ok(view(row, fires))
}

/// The tenant's schedules, newest first (without their past fires).
pub async fn list(ctx: &Ctx, p: &Principal, q: ScheduleQuery) -> ServiceResult<SchedulePage> {
    let limit = page_limit(&ctx.settings, q.limit)?;
    let mut query = s::table.filter(s::tenant_id.eq(p.tenant_id)).into_boxed();
    if let Some(cur) = q.cursor {
        query = query.filter(s::id.lt(cur));
    }
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Schedule> =
        query.order(s::id.desc()).limit(limit + 1).select(Schedule::as_select()).load(&mut conn).await?;
    let (rows, next_cursor) = page(rows, limit, |r| r.id);
    Ok(SchedulePage { items: rows.into_iter().map(|r| view(r, Vec::new())).collect(), next_cursor })
}

/// Changes a schedule (checked like a new one). A new expression, zone or
/// end, or a resume, makes the next fire the first after now.
pub async fn update(ctx: &Ctx, p: &Principal, id: Uuid, i: ScheduleInput) -> ServiceResult<ScheduleView> {
    p.require(Role::User, "changing schedules")?;
    let mut row = row_of(ctx, p, id).await?;
    let was = (row.cron.clone(), row.time_zone.clone(), row.ends_at, row.enabled);
    apply(&mut row, i)?;
    let cron = check(ctx, p, &row).await?;
    let now = Utc::now();
    row.updated_at = now;
    let mut conn = ctx.pool.get().await?;
    let this = s::table.filter(s::id.eq(id)).filter(s::tenant_id.eq(p.tenant_id));
    if was != (row.cron.clone(), row.time_zone.clone(), row.ends_at, row.enabled) {
        // Only then: a worker may have moved the next fire since the read.
        diesel::update(this).set(s::next_fire_at.eq(first_fire(&row, &cron, now)?)).execute(&mut conn).await?;
    }
    let updated = diesel::update(this)
        .set((
            s::cron.eq(&row.cron),
            s::time_zone.eq(&row.time_zone),
            s::kind.eq(&row.kind),
            s::payload.eq(&row.payload),
            s::priority.eq(row.priority),
            s::max_attempts.eq(row.max_attempts),
            s::callback_url.eq(&row.callback_url),
            s::enabled.eq(row.enabled),
            s::misfire.eq(&row.misfire),
            s::misfire_cap.eq(row.misfire_cap),
            s::ends_at.eq(row.ends_at),
            s::updated_at.eq(row.updated_at),
        ))
        .execute(&mut conn)
        .await?;
    if updated == 0 {
        return Err(not_found());
    }
    drop(conn);
    get(ctx, p, id).await
}

/// Deletes a schedule and its fire records; the jobs it made stay.
pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<()> {
    p.require(Role::User, "deleting schedules")?;
    let mut conn = ctx.pool.get().await?;
    let gone =
        diesel::delete(s::table.filter(s::id.eq(id)).filter(s::tenant_id.eq(p.tenant_id))).execute(&mut conn).await?;
    if gone == 0 {
        return Err(not_found());
    }
    Ok(())
}
