//! The worker's own small HTTP server: `/metrics` and `/healthz`.

use std::sync::Arc;

use actix_web::{dev::Server, web, App, HttpResponse, HttpServer};

use crate::WorkerState;

async fn metrics(state: web::Data<Arc<WorkerState>>, req: actix_web::HttpRequest) -> HttpResponse {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if !chorus_shared::telemetry::metrics_allowed(&state.ctx.settings.telemetry, auth) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.ctx.metrics.render())
}

async fn healthz(state: web::Data<Arc<WorkerState>>) -> HttpResponse {
    HttpResponse::Ok()
        .json(serde_json::json!({ "status": "ok", "worker": state.name, "running": state.inflight.len() }))
}

/// Binds on 127.0.0.1:`port` (0 = any free port) and returns the server
/// and the port it got.
pub fn start(state: Arc<WorkerState>, port: u16) -> std::io::Result<(Server, u16)> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/healthz", web::get().to(healthz))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))?;
    let port = server.addrs()[0].port();
    Ok((server.run(), port))
}
