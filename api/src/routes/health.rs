//! `/healthz` (liveness), `/readyz` (Postgres and Redis) and `/metrics`.

use actix_web::{web, HttpResponse};
use chorus_shared::metrics::Metrics;
use chorus_shared::Ctx;
use serde_json::json;

use crate::error::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/readyz").route(web::get().to(readyz)))
        .service(resource("/metrics").route(web::get().to(metrics)));
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: Postgres and Redis both answer; otherwise 503 naming which fails.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready"), (status = 503, description = "A dependency is down")))]
pub async fn readyz(ctx: web::Data<Ctx>) -> HttpResponse {
    let (pg, redis) = tokio::join!(chorus_shared::db::ping(&ctx.pool), ctx.broker.ping());
    let pg = pg.map_or_else(|e| format!("error: {e}"), |_| "ok".to_string());
    let redis = redis.map_or_else(|e| format!("error: {e}"), |_| "ok".to_string());
    let body = json!({ "postgres": pg, "redis": redis });
    if pg == "ok" && redis == "ok" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics of this API process, plus queue depth from Postgres.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format"),
    (status = 401, description = "`telemetry.metrics_token` is set and the request does not carry it")))]
pub async fn metrics(ctx: web::Data<Ctx>, metrics: web::Data<Metrics>, req: actix_web::HttpRequest) -> HttpResponse {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if !chorus_shared::telemetry::metrics_allowed(&ctx.settings.telemetry, auth) {
        return HttpResponse::Unauthorized().finish();
    }
    chorus_shared::queue::gauges::refresh(&metrics, &ctx.pool, true).await;
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(metrics.render())
}
