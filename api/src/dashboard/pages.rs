//! Sign-in and out, the overview, webhooks (endpoints, the delivery log,
//! redeliver, a test send), documents (with a bulk action over a
//! selection) and usage.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use uuid::Uuid;

use chorus_shared::domain::{DocumentFilter, Role};
use chorus_shared::kinds::bulk::{BulkOp, BulkParams, Selector};
use chorus_shared::services::bulk::BulkRequest;
use chorus_shared::services::usage::UsageQuery;
use chorus_shared::services::webhooks::DeliveryFilter;
use chorus_shared::services::{bulk, documents, overview, sessions, usage, webhooks};
use chorus_shared::Ctx;

use super::layout::{bars, button, csrf, may, page, status};
use super::{back_to, cookie, set_cookie, Checked, DashError, DashResult, Signed, COOKIE, LOGIN_COOKIE};

#[derive(Debug, serde::Deserialize)]
pub struct Login {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
}

fn login_page(token: &str, error: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.stack method="post" action="/dashboard/login" {
            input type="hidden" name="csrf" value=(token);
            label { "API key" input type="password" name="key" autocomplete="off" required; }
            p { button type="submit" { "Sign in" } }
        }
        p { "The key is checked once; this browser then holds only a session cookie (8 hours, renewed on use)." }
    };
    page("Sign in", "", None, body)
}

/// The sign-in form, with a fresh double-submit CSRF token.
pub async fn login_form(req: HttpRequest) -> HttpResponse {
    let token = sessions::random_token();
    HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, set_cookie(&req, LOGIN_COOKIE, &token, 600)))
        .content_type("text/html; charset=utf-8")
        .body(login_page(&token, None).into_string())
}

pub async fn login(ctx: web::Data<Ctx>, req: HttpRequest, form: web::Form<Login>) -> DashResult<HttpResponse> {
    let expected = cookie(&req, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !sessions::same_token(&form.csrf, &expected) {
        return Err(super::csrf_failed());
    }
    match sessions::open(&ctx, &form.key).await {
        Ok((token, _)) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/dashboard"))
            .append_header((header::SET_COOKIE, set_cookie(&req, COOKIE, &token, sessions::TTL_SECS)))
            .append_header((header::SET_COOKIE, set_cookie(&req, LOGIN_COOKIE, "", 0)))
            .finish()),
        Err(e) if e.code == chorus_shared::error::ErrorCode::InvalidApiKey => {
            let token = sessions::random_token();
            Ok(HttpResponse::Unauthorized()
                .insert_header((header::SET_COOKIE, set_cookie(&req, LOGIN_COOKIE, &token, 600)))
                .content_type("text/html; charset=utf-8")
                .body(login_page(&token, Some("That key is unknown or revoked.")).into_string()))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(ctx: web::Data<Ctx>, _: Checked, req: HttpRequest) -> DashResult<HttpResponse> {
    if let Some(token) = cookie(&req, COOKIE) {
        sessions::close(&ctx, &token).await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/login"))
        .insert_header((header::SET_COOKIE, set_cookie(&req, COOKIE, "", 0)))
        .finish())
}

pub async fn overview(ctx: web::Data<Ctx>, s: Signed) -> DashResult<Markup> {
    let queues = overview::queues(&ctx, &s.0.principal).await?;
    let workers = if may(&s.0, Role::Admin) { Some(overview::workers(&ctx, &s.0.principal).await?) } else { None };
    let now = chrono::Utc::now();
    let body = html! {
        section aria-labelledby="queues-h" {
            h2 id="queues-h" { "Queues (last hour)" }
            table {
                thead { tr {
                    th scope="col" { "Queue" } th scope="col" { "Waiting" } th scope="col" { "Running" }
                    th scope="col" { "Succeeded" } th scope="col" { "Failed" } th scope="col" { "Failure rate" }
                    th scope="col" { "Ended per 5 minutes" }
                } }
                tbody {
                    @for q in &queues {
                        tr {
                            th scope="row" { (q.queue) }
                            td.num { (q.waiting) } td.num { (q.running) } td.num { (q.succeeded) } td.num { (q.failed) }
                            td.num { (format!("{:.1}%", q.failure_rate() * 100.0)) }
                            td { (bars(&q.finished, &format!("{}: {} jobs ended in the last hour, {} failed", q.queue, q.finished.iter().sum::<i64>(), q.failed))) }
                        }
                    }
                }
            }
        }
        @if let Some(workers) = workers {
            section aria-labelledby="workers-h" {
                h2 id="workers-h" { "Workers" }
                table {
                    thead { tr { th scope="col" { "Worker" } th scope="col" { "Heartbeat" } th scope="col" { "Queues" } th scope="col" { "Version" } } }
                    tbody {
                        @for w in &workers {
                            tr {
                                th scope="row" { (w.name) }
                                td { ((now - w.at).num_seconds().max(0)) " s ago" }
                                td { (w.queues.join(", ")) } td { (w.version) }
                            }
                        }
                    }
                }
                @if workers.is_empty() { p { "No worker has announced itself in the last 30 seconds." } }
            }
        }
    };
    Ok(page("Overview", "/dashboard", Some(&s.0), body))
}

pub async fn webhooks(ctx: web::Data<Ctx>, s: Signed) -> DashResult<Markup> {
    let endpoints = webhooks::list(&ctx, &s.0.principal).await?;
    let mut logs = Vec::new();
    for e in &endpoints {
        let filter = DeliveryFilter { limit: Some(20), ..Default::default() };
        logs.push(webhooks::deliveries(&ctx, &s.0.principal, e.id, filter).await?);
    }
    let body = html! {
        @if endpoints.is_empty() { p { "No endpoints." } }
        @for (e, log) in endpoints.iter().zip(&logs) {
            section aria-label={"Endpoint " (e.url)} {
                h2 { (e.url) }
                p {
                    (if e.enabled { "enabled" } else { "disabled" }) ", events: " (e.event_types.join(", "))
                    @if let Some(r) = &e.disabled_reason { " (" (r) ")" }
                    " " (button(&s.0, &format!("/dashboard/webhooks/{}/test", e.id), "Send a test event"))
                }
                table {
                    caption { "Latest deliveries" }
                    thead { tr {
                        th scope="col" { "Delivery" } th scope="col" { "Event" } th scope="col" { "Status" }
                        th scope="col" { "Attempts" } th scope="col" { "Last HTTP status" } th scope="col" { "Created" } th scope="col" { "Action" }
                    } }
                    tbody {
                        @for d in log {
                            tr {
                                td { code { (d.id.to_string()[..8]) } } td { (d.event_type) } td { (status(&d.status)) }
                                td.num { (d.attempts) } td.num { @if let Some(c) = d.last_status { (c) } }
                                td { (d.created_at.format("%Y-%m-%d %H:%M:%S")) }
                                td { (button(&s.0, &format!("/dashboard/deliveries/{}/redeliver", d.id), "Redeliver")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Webhooks", "/dashboard/webhooks", Some(&s.0), body))
}

pub async fn webhook_test(ctx: web::Data<Ctx>, c: Checked, id: web::Path<Uuid>) -> DashResult<HttpResponse> {
    webhooks::send_test(&ctx, &c.0.principal, *id).await?;
    Ok(back_to("/dashboard/webhooks"))
}

pub async fn redeliver(ctx: web::Data<Ctx>, c: Checked, id: web::Path<Uuid>) -> DashResult<HttpResponse> {
    webhooks::redeliver(&ctx, &c.0.principal, *id).await?;
    Ok(back_to("/dashboard/webhooks"))
}

pub async fn documents(ctx: web::Data<Ctx>, s: Signed, f: web::Query<DocumentFilter>) -> DashResult<Markup> {
    let f = f.into_inner();
    let tag = f.tag.clone().unwrap_or_default();
    let docs = documents::list(&ctx, &s.0.principal, DocumentFilter { limit: Some(50), ..f }).await?;
    let actions = may(&s.0, Role::User);
    let body = html! {
        form.filters method="get" action="/dashboard/documents" role="search" {
            label { "Tag" input type="text" name="tag" value=(tag); }
            button type="submit" { "Filter" }
        }
        form method="post" action="/dashboard/documents/bulk" {
            @if actions { (csrf(&s.0)) }
            table {
                thead { tr {
                    @if actions { th scope="col" { "Select" } }
                    th scope="col" { "Title" } th scope="col" { "Type" } th scope="col" { "Status" }
                    th scope="col" { "Tags" } th scope="col" { "Pages" } th scope="col" { "Preview" }
                } }
                tbody {
                    @for d in &docs.items {
                        tr {
                            @if actions {
                                td { input type="checkbox" name="ids" value=(d.id) aria-label={"Select " (d.title)}; }
                            }
                            td { (d.title) } td { (d.doc_type.as_str()) } td { (status(&d.status)) }
                            td { (d.tags.join(", ")) } td.num { @if let Some(n) = d.page_count { (n) } }
                            td { a href={"/dashboard/documents/" (d.id)} aria-label={"Preview of " (d.title)} { "Preview" } }
                        }
                    }
                }
            }
            @if docs.items.is_empty() { p { "No documents." } }
            @if actions && !docs.items.is_empty() {
                fieldset {
                    legend { "Bulk action on the selected documents" }
                    label { "Action "
                        select name="op" {
                            option value="tag" { "Add tag" } option value="untag" { "Remove tag" }
                            option value="reprocess" { "Reprocess" }
                            @if may(&s.0, Role::Admin) { option value="delete" { "Delete" } }
                        }
                    }
                    " "
                    label { "Tag " input type="text" name="tag"; }
                    " " button type="submit" { "Apply" }
                }
            }
        }
    };
    Ok(page("Documents", "/dashboard/documents", Some(&s.0), body))
}

pub async fn document(ctx: web::Data<Ctx>, s: Signed, id: web::Path<Uuid>) -> DashResult<Markup> {
    let doc = documents::get(&ctx, &s.0.principal, *id).await?;
    let q = documents::PreviewQuery { page: Some(1), limit: Some(3) };
    let preview = documents::preview(&ctx, &s.0.principal, *id, q).await?;
    let body = html! {
        dl {
            dt { "Status" } dd { (status(&doc.status)) }
            dt { "File" } dd { (doc.filename) " (" (doc.size_bytes) " bytes)" }
            dt { "Tags" } dd { (doc.tags.join(", ")) }
        }
        @if let Some(e) = &doc.error { p.error { strong { (e.code) } ": " (e.message) } }
        h2 { "Preview (first pages)" }
        @for p in &preview.pages { h3 { "Page " (p.page) } pre { (p.text) } }
    };
    Ok(page(&doc.title, "/dashboard/documents", Some(&s.0), body))
}

pub async fn documents_bulk(ctx: web::Data<Ctx>, s: Signed, body: web::Bytes) -> DashResult<HttpResponse> {
    // Repeated `ids` fields: read the pairs, not a struct.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    s.check(&field("csrf"))?;
    let ids: Vec<Uuid> = pairs.iter().filter(|(k, _)| k == "ids").filter_map(|(_, v)| v.parse().ok()).collect();
    let invalid =
        |m: &str| DashError::Service(chorus_shared::error::ServiceError::invalid_parameter("op", m.to_string()));
    let op = match field("op").as_str() {
        "tag" => BulkOp::Tag,
        "untag" => BulkOp::Untag,
        "reprocess" => BulkOp::Reprocess,
        "delete" => BulkOp::Delete,
        _ => return Err(invalid("choose an action")),
    };
    if ids.is_empty() {
        return Err(invalid("select at least one document"));
    }
    let tag = field("tag");
    let tags = if tag.trim().is_empty() { vec![] } else { vec![tag.trim().to_string()] };
    let req = BulkRequest { op, selector: Selector { ids: Some(ids), filter: None }, params: BulkParams { tags } };
    let job = bulk::submit(&ctx, &s.0.principal, req).await?;
    Ok(back_to(&format!("/dashboard/jobs/{}", job.id)))
}

pub async fn usage(ctx: web::Data<Ctx>, s: Signed) -> DashResult<Markup> {
    let rows = usage::aggregate(&ctx, &s.0.principal, UsageQuery { from: None, to: None }).await?;
    let mut by_model: std::collections::BTreeMap<String, (i64, i64, f64)> = Default::default();
    let mut by_day: std::collections::BTreeMap<String, (i64, f64)> = Default::default();
    for r in &rows {
        let m = by_model.entry(format!("{}/{}", r.provider, r.model)).or_default();
        m.0 += r.prompt_tokens;
        m.1 += r.completion_tokens;
        m.2 += r.cost_usd;
        let d = by_day.entry(r.day.to_string()).or_default();
        d.0 += r.prompt_tokens + r.completion_tokens;
        d.1 += r.cost_usd;
    }
    let tokens: Vec<i64> = by_day.values().map(|d| d.0).collect();
    // Cost in hundredths of a cent, for the bar heights.
    let costs: Vec<i64> = by_day.values().map(|d| (d.1 * 10_000.0).round() as i64).collect();
    let total_cost: f64 = by_day.values().map(|d| d.1).sum();
    let body = html! {
        section aria-labelledby="days-h" {
            h2 id="days-h" { "Per day (last 30 days)" }
            p { "Tokens: " (bars(&tokens, &format!("{} tokens over {} days", tokens.iter().sum::<i64>(), tokens.len()))) }
            p { "Cost: " (bars(&costs, &format!("{total_cost:.4} USD over {} days", costs.len()))) }
            table {
                thead { tr { th scope="col" { "Day" } th scope="col" { "Tokens" } th scope="col" { "Cost (USD)" } } }
                tbody { @for (day, (t, c)) in by_day.iter().rev() { tr { th scope="row" { (day) } td.num { (t) } td.num { (format!("{c:.4}")) } } } }
            }
        }
        section aria-labelledby="models-h" {
            h2 id="models-h" { "Per model" }
            @let model_tokens: Vec<i64> = by_model.values().map(|m| m.0 + m.1).collect();
            p { "Tokens by model: " (bars(&model_tokens, &format!("tokens of {} models, in the table's order", model_tokens.len()))) }
            table {
                thead { tr { th scope="col" { "Model" } th scope="col" { "Prompt tokens" } th scope="col" { "Completion tokens" } th scope="col" { "Cost (USD)" } } }
                tbody { @for (m, (p, c, cost)) in &by_model { tr { th scope="row" { (m) } td.num { (p) } td.num { (c) } td.num { (format!("{cost:.4}")) } } } }
            }
        }
    };
    Ok(page("Usage", "/dashboard/usage", Some(&s.0), body))
}
