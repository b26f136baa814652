//! `/dashboard`: server-rendered pages for operators (maud, no build step,
//! a little vanilla JS for live progress). An API key is exchanged for an
//! HttpOnly, SameSite=Strict session cookie; every form carries the
//! session's CSRF token; the roles are the API's, enforced by the same
//! services, and buttons a role may not use are not drawn.

mod jobs;
mod layout;
mod pages;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chorus_shared::error::ServiceError;
use chorus_shared::services::sessions::{self, Session};
use chorus_shared::Ctx;

/// The session cookie.
pub const COOKIE: &str = "chorus_session";
/// The sign-in form's CSRF cookie (double submit: no session exists yet).
pub const LOGIN_COOKIE: &str = "chorus_login";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/dashboard")
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((
                        "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
                    ))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .route("", web::get().to(pages::overview))
            .route("/", web::get().to(pages::overview))
            .route("/app.css", web::get().to(layout::css))
            .route("/app.js", web::get().to(layout::js))
            .route("/login", web::get().to(pages::login_form))
            .route("/login", web::post().to(pages::login))
            .route("/logout", web::post().to(pages::logout))
            .configure(jobs::configure)
            .route("/webhooks", web::get().to(pages::webhooks))
            .route("/webhooks/{id}/test", web::post().to(pages::webhook_test))
            .route("/deliveries/{id}/redeliver", web::post().to(pages::redeliver))
            .route("/documents", web::get().to(pages::documents))
            .route("/documents/bulk", web::post().to(pages::documents_bulk))
            .route("/documents/{id}", web::get().to(pages::document))
            .route("/usage", web::get().to(pages::usage)),
    );
}

/// Why a dashboard request did not get its page.
#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// No live session: sign in first.
    #[error("sign in")]
    SignIn,
    #[error("{}", .0.message)]
    Service(#[from] ServiceError),
}

impl ResponseError for DashError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Service(e) => StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignIn = self {
            return HttpResponse::SeeOther().insert_header((header::LOCATION, "/dashboard/login")).finish();
        }
        let code = match self {
            Self::Service(e) => e.code.as_str(),
            Self::SignIn => "sign_in",
        };
        let page = layout::error_page(self.status_code(), code, &self.to_string());
        HttpResponse::build(self.status_code()).content_type("text/html; charset=utf-8").body(page.into_string())
    }
}

pub type DashResult<T> = Result<T, DashError>;

/// The value of cookie `name` in `req`'s `Cookie` header.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    let header = req.headers().get(header::COOKIE)?.to_str().ok()?;
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for the dashboard's path; `max_age` 0 deletes.
/// `Secure` when the request came over HTTPS (as a proxy reports it).
pub fn set_cookie(req: &HttpRequest, name: &str, value: &str, max_age: u64) -> String {
    let secure = if req.connection_info().scheme() == "https" { "; Secure" } else { "" };
    format!("{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The caller's session, from its cookie. Without one, pages redirect to
/// the sign-in form.
pub struct Signed(pub Session);

impl FromRequest for Signed {
    type Error = DashError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, DashError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<Ctx>>().cloned();
        let token = cookie(req, COOKIE);
        Box::pin(async move {
            let (Some(ctx), Some(token)) = (ctx, token) else { return Err(DashError::SignIn) };
            match sessions::find(&ctx, &token).await? {
                Some(session) => Ok(Signed(session)),
                None => Err(DashError::SignIn),
            }
        })
    }
}

/// The refusal of a form without the right CSRF token.
pub fn csrf_failed() -> DashError {
    let message = "the form's CSRF token is missing or wrong; reload the page and try again";
    DashError::Service(ServiceError::new(chorus_shared::error::ErrorCode::CsrfFailed, message))
}

impl Signed {
    /// Refuses a form whose token is not this session's.
    pub fn check(&self, csrf: &str) -> DashResult<()> {
        if sessions::same_token(csrf, &self.0.csrf) {
            Ok(())
        } else {
            Err(csrf_failed())
        }
    }
}

/// A signed-in form POST whose CSRF token is this session's: handlers that
/// take it cannot forget the check.
pub struct Checked(pub Session);

impl FromRequest for Checked {
    type Error = DashError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, DashError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let signed = Signed::from_request(req, payload);
        let form = web::Form::<CsrfForm>::from_request(req, payload);
        Box::pin(async move {
            let signed = signed.await?;
            let form = form.await.map_err(|_| csrf_failed())?;
            signed.check(&form.csrf)?;
            Ok(Checked(signed.0))
        })
    }
}

/// A form that carries only the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// A 303 to `to` after a form.
pub fn back_to(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_string())).finish()
}
