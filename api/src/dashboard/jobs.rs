//! Jobs: the filterable list, a job's page (payload, attempts, error, the
//! event timeline and a live progress bar), cancel and retry, and the dead
//! jobs with retry one or all.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use uuid::Uuid;

use chorus_shared::domain::{JobStatus, JobView, Role};
use chorus_shared::services::{events, jobs, jobs::JobFilter};
use chorus_shared::Ctx;

use super::layout::{self, button, may, page, status};
use super::{back_to, Checked, DashResult, Signed};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/jobs", web::get().to(list))
        .route("/jobs/{id}", web::get().to(show))
        .route("/jobs/{id}/events", web::get().to(stream))
        .route("/jobs/{id}/cancel", web::post().to(cancel))
        .route("/jobs/{id}/retry", web::post().to(retry))
        .route("/dead", web::get().to(dead))
        .route("/dead/retry", web::post().to(retry_dead));
}

/// Most events a job's page shows (the latest).
const TIMELINE_MAX: i64 = 200;

/// Most dead jobs one "Retry all" retries.
const RETRY_ALL_MAX: usize = 1000;

/// The list's filters, as the API's.
#[derive(Debug, serde::Deserialize)]
pub struct Filter {
    status: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
}

fn table(s: &Signed, items: &[JobView], retry: bool) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Job" } th scope="col" { "Kind" } th scope="col" { "Queue" }
                th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Error" }
                th scope="col" { "Created" }
                @if retry { th scope="col" { "Action" } }
            } }
            tbody {
                @for j in items {
                    tr {
                        td { a href={"/dashboard/jobs/" (j.id)} { (j.id.to_string()[..8]) } }
                        td { (j.kind) } td { (j.queue) } td { (status(j.status.as_str())) }
                        td.num { (j.attempts) "/" (j.max_attempts) }
                        td { @if let Some(e) = &j.error { (e.code) } }
                        td { (j.created_at.format("%Y-%m-%d %H:%M:%S")) }
                        @if retry { td { (button(&s.0, &format!("/dashboard/jobs/{}/retry", j.id), "Retry")) } }
                    }
                }
            }
        }
        @if items.is_empty() { p { "No jobs." } }
    }
}

/// `?…&cursor=` for the next page, keeping the filters.
fn next_link(base: &str, f: &Filter, next: &Option<String>) -> Markup {
    let Some(cursor) = next else { return html! {} };
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(v) = &f.status {
        q.append_pair("status", v);
    }
    if let Some(v) = &f.kind {
        q.append_pair("kind", v);
    }
    q.append_pair("cursor", cursor);
    html! { p { a href={(base) "?" (q.finish())} rel="next" { "Next page" } } }
}

pub async fn list(ctx: web::Data<Ctx>, s: Signed, f: web::Query<Filter>) -> DashResult<Markup> {
    let f = f.into_inner();
    let blank = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let filter = JobFilter {
        status: blank(&f.status),
        kind: blank(&f.kind),
        cursor: f.cursor.clone(),
        limit: Some(50),
        ..Default::default()
    };
    let jobs_page = jobs::list(&ctx, &s.0.principal, filter).await?;
    let body = html! {
        form.filters method="get" action="/dashboard/jobs" role="search" {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for st in JobStatus::ALL {
                        option value=(st.as_str()) selected[f.status.as_deref() == Some(st.as_str())] { (st.as_str()) }
                    }
                }
            }
            label { "Kind" input type="text" name="kind" value=(f.kind.clone().unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        (table(&s, &jobs_page.items, false))
        (next_link("/dashboard/jobs", &f, &jobs_page.next_cursor))
    };
    Ok(page("Jobs", "/dashboard/jobs", Some(&s.0), body))
}

pub async fn show(ctx: web::Data<Ctx>, s: Signed, id: web::Path<Uuid>) -> DashResult<Markup> {
    let job = jobs::view(&ctx, &s.0.principal, *id).await?;
    let (timeline, older) = events::latest(&ctx.pool, job.id, TIMELINE_MAX).await?;
    let open = !job.status.is_terminal();
    let (done, total) = job.progress.as_ref().map(|p| (p.done, p.total.unwrap_or(0))).unwrap_or((0, 0));
    let stage = job.progress.as_ref().and_then(|p| p.stage.clone()).unwrap_or_default();
    let body = html! {
        dl {
            dt { "Kind" } dd { (job.kind) " on queue " (job.queue) }
            dt { "Status" } dd { span id="status" class={"status status-" (job.status.as_str())} { (job.status.as_str()) } }
            dt { "Attempts" } dd { (job.attempts) " of " (job.max_attempts) }
            dt { "Created" } dd { (job.created_at.to_rfc3339()) }
            @if let Some(t) = job.finished_at { dt { "Finished" } dd { (t.to_rfc3339()) } }
        }
        section aria-labelledby="progress-h" {
            h2 id="progress-h" { "Progress" }
            label for="progress" { "Steps done" }
            " "
            progress id="progress" max=(total.max(1)) value=(done)
                data-events=[open.then(|| format!("/dashboard/jobs/{}/events", job.id))] {
                (done) " of " (total)
            }
            " " span id="count" { (done) " of " (total) } " " span id="stage" { (stage) }
        }
        @if may(&s.0, Role::User) {
            p {
                @if open { (button(&s.0, &format!("/dashboard/jobs/{}/cancel", job.id), "Cancel")) }
                @if matches!(job.status, JobStatus::Failed | JobStatus::Dead) {
                    (button(&s.0, &format!("/dashboard/jobs/{}/retry", job.id), "Retry"))
                }
            }
        }
        @if let Some(e) = &job.error { h2 { "Error" } p.error { strong { (e.code) } ": " (e.message) } }
        @if let Some(r) = &job.result { h2 { "Result" } (layout::json_block(r)) }
        h2 { "Payload" } (layout::json_block(&job.payload))
        h2 { "Timeline" }
        @if older { p.notice { "The latest " (TIMELINE_MAX) " events; older ones are left out." } }
        table {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Data" } } }
            tbody {
                @for ev in &timeline {
                    tr {
                        td { (ev.created_at.format("%H:%M:%S%.3f")) } td { (ev.kind) }
                        td { @if let Some(st) = ev.status { (status(st.as_str())) } }
                        td { code { (ev.data.to_string()) } }
                    }
                }
            }
        }
    };
    Ok(page(&format!("Job {}", &job.id.to_string()[..8]), "/dashboard/jobs", Some(&s.0), body))
}

/// The job's events over SSE, for the page's live bar.
pub async fn stream(
    ctx: web::Data<Ctx>,
    streams: web::Data<crate::streams::Streams>,
    s: Signed,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> DashResult<HttpResponse> {
    crate::routes::jobs::event_stream(&ctx, &streams, &s.0.principal, *id, &req).await.map_err(|e| e.0.into())
}

pub async fn cancel(ctx: web::Data<Ctx>, c: Checked, id: web::Path<Uuid>) -> DashResult<HttpResponse> {
    jobs::cancel(&ctx, &c.0.principal, *id).await?;
    Ok(back_to(&format!("/dashboard/jobs/{id}")))
}

pub async fn retry(ctx: web::Data<Ctx>, c: Checked, id: web::Path<Uuid>) -> DashResult<HttpResponse> {
    jobs::retry(&ctx, &c.0.principal, *id).await?;
    Ok(back_to(&format!("/dashboard/jobs/{id}")))
}

pub async fn dead(ctx: web::Data<Ctx>, s: Signed, f: web::Query<Filter>) -> DashResult<Markup> {
    let f = Filter { status: Some("dead".into()), ..f.into_inner() };
    let filter =
        JobFilter { status: f.status.clone(), cursor: f.cursor.clone(), limit: Some(50), ..Default::default() };
    let dead = jobs::list(&ctx, &s.0.principal, filter).await?;
    let actions = may(&s.0, Role::User);
    let body = html! {
        @if actions && !dead.items.is_empty() {
            p { (button(&s.0, "/dashboard/dead/retry", "Retry all dead jobs")) }
        }
        (table(&s, &dead.items, actions))
        (next_link("/dashboard/dead", &f, &dead.next_cursor))
    };
    Ok(page("Dead jobs", "/dashboard/dead", Some(&s.0), body))
}

pub async fn retry_dead(ctx: web::Data<Ctx>, c: Checked) -> DashResult<HttpResponse> {
    jobs::retry_dead(&ctx, &c.0.principal, RETRY_ALL_MAX).await?;
    Ok(back_to("/dashboard/dead"))
}
