//! `Authorization: Bearer <key>` → [`Auth`], the caller's tenant and role,
//! once the request is within the key's and the tenant's rate limits.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chorus_shared::domain::Role;
use chorus_shared::error::ErrorCode;
use chorus_shared::services::{auth, Principal};
use chorus_shared::Ctx;

use crate::error::{api_error, ApiError};

/// A verified caller.
#[derive(Debug, Clone, Copy)]
pub struct Auth(pub Principal);

impl Auth {
    /// Refuses callers whose role is below `needed`, before any work.
    pub fn require(&self, needed: Role, what: &str) -> Result<&Principal, ApiError> {
        self.0.require(needed, what)?;
        Ok(&self.0)
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<Ctx>>().cloned();
        let keys = req.app_data::<web::Data<crate::key_cache::KeyCache>>().cloned();
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).map(|h| h.to_str().map(str::to_owned));
        let req = req.clone();
        Box::pin(async move {
            let ctx = ctx.ok_or_else(|| api_error(ErrorCode::Internal, "no context"))?;
            let value = match header {
                None => {
                    return Err(api_error(ErrorCode::MissingApiKey, "send an API key as `Authorization: Bearer <key>`"))
                }
                Some(Err(_)) => {
                    return Err(api_error(ErrorCode::InvalidApiKey, "the Authorization header is not text"))
                }
                Some(Ok(v)) => v,
            };
            let secret = value.strip_prefix("Bearer ").map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
                api_error(ErrorCode::MissingApiKey, "the Authorization header must be `Bearer <key>`")
            })?;
            let principal = match keys {
                Some(keys) => keys.authenticate(&ctx, secret).await?,
                None => auth::authenticate(&ctx.pool, secret).await?,
            };
            let verdict = ctx.limits.request(&ctx.pool, &ctx.broker, principal.tenant_id, principal.key_id).await;
            let refused = verdict.error();
            req.extensions_mut().insert(verdict);
            match refused {
                Some(e) => Err(e.into()),
                None => Ok(Auth(principal)),
            }
        })
    }
}
