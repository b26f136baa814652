//! Builds the actix-web server: shared state, JSON/query/path error
//! handlers, request tracing, HTTP metrics, and every route.

use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::{web, App, HttpResponse, HttpServer};
use chorus_shared::Ctx;
use futures::FutureExt;
use tracing_actix_web::TracingLogger;
use utoipa_scalar::{Scalar, Servable};

use crate::error;
use crate::routes;

/// A bound, not yet running, API server.
pub struct Application {
    pub port: u16,
    pub server: Server,
}

impl Application {
    /// Binds `api.host:api.port` (port 0 picks a free one).
    pub fn build(ctx: Ctx) -> std::io::Result<Self> {
        let metrics = web::Data::new(ctx.metrics.clone());
        let streams = web::Data::new(crate::streams::Streams::default());
        let max_body = ctx.settings.api.max_body_bytes;
        let addr = (ctx.settings.api.host.clone(), ctx.settings.api.port);
        let document = web::Data::new(crate::openapi::served(&ctx.settings));
        let keys = web::Data::new(crate::key_cache::KeyCache::new(
            std::time::Duration::from_millis(ctx.settings.api.key_cache_ms),
            ctx.settings.api.key_cache_max,
        ));
        keys.clone().into_inner().listen(ctx.broker.clone());
        let docs = Scalar::with_url("/docs", (**document).clone());
        let ctx = web::Data::new(ctx);
        let server =
            HttpServer::new(move || {
                let http_metrics = metrics.clone();
                App::new()
                    .app_data(ctx.clone())
                    .app_data(metrics.clone())
                    .app_data(streams.clone())
                    .app_data(keys.clone())
                    .app_data(web::JsonConfig::default().limit(max_body).error_handler(error::json_error))
                    .app_data(web::QueryConfig::default().error_handler(error::query_error))
                    .app_data(web::PathConfig::default().error_handler(error::path_error))
                    .wrap(actix_web::middleware::from_fn(crate::rate_limits::headers))
                    .wrap(actix_web::middleware::from_fn(error::refuse_nul))
                    .wrap_fn(move |req, srv| {
                        let started = Instant::now();
                        let method = req.method().to_string();
                        let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                        let m = http_metrics.clone();
                        srv.call(req).map(move |res| {
                            let status = res.as_ref().map(|r| r.status().as_u16()).unwrap_or(500).to_string();
                            m.http_requests.with_label_values(&[&method, &route, &status]).inc();
                            m.http_request_seconds
                                .with_label_values(&[&method, &route])
                                .observe(started.elapsed().as_secs_f64());
                            res
                        })
                    })
                    .wrap(TracingLogger::default())
                    .configure(routes::health::configure)
                    .configure(routes::configure_v1)
                    .configure(crate::dashboard::configure)
                    .service(error::resource("/openapi.json").app_data(document.clone()).route(
                        web::get().to(|doc: web::Data<utoipa::openapi::OpenApi>| async move {
                            HttpResponse::Ok().json(&**doc)
                        }),
                    ))
                    .service(docs.clone())
                    .default_service(web::to(error::not_found))
            })
            .bind(addr)?;
        let port = server.addrs()[0].port();
        Ok(Self { port, server: server.run() })
    }
}
