//! The HTTP edge of the error policy: a [`ServiceError`] becomes
//! `{code, message, details?}` with the status from the error table, and
//! extractor failures (bad JSON, bad query, bad path) get codes from the
//! same table instead of actix's plain-text answers.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chorus_shared::error::{ErrorBody, ErrorCode, ServiceError};
use serde_json::json;

/// A service error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code()).json(ErrorBody::from(&self.0));
        if self.0.code == ErrorCode::RateLimited {
            crate::rate_limits::from_details(self.0.details.as_ref(), res.headers_mut());
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Shorthand for an error from the table.
pub fn api_error(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError(ServiceError::new(code, message))
}

/// JSON bodies: too large → 413, wrong content type → 415, malformed → 400,
/// well-formed but the wrong shape → 422.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            api_error(ErrorCode::PayloadTooLarge, format!("the body is larger than {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            api_error(ErrorCode::UnsupportedMediaType, "send the body as application/json")
        }
        JsonPayloadError::Deserialize(de) if de.is_data() => {
            api_error(ErrorCode::InvalidPayload, format!("the body does not match the expected shape: {de}"))
        }
        other => api_error(ErrorCode::InvalidJson, format!("the body is not valid JSON: {other}")),
    };
    e.into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    api_error(ErrorCode::InvalidParameter, format!("bad query string: {err}")).into()
}

pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError(
        ServiceError::new(ErrorCode::InvalidParameter, format!("bad path: {err}")).with_details(json!({"in": "path"})),
    )
    .into()
}

/// Any route we do not serve.
pub async fn not_found() -> ApiResult<HttpResponse> {
    Err(api_error(ErrorCode::NotFound, "no such route"))
}

/// A known route called with a method it does not serve; `Allow` lists
/// the methods the OpenAPI document gives it.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let err = api_error(ErrorCode::MethodNotAllowed, "this route does not serve that method");
    let mut resp = err.error_response();
    let pattern = req.match_pattern().unwrap_or_default();
    let allow = match pattern.as_str() {
        "/openapi.json" => Some("GET"),
        p => crate::openapi::ALLOWED.get(p).map(String::as_str),
    };
    if let Some(allow) = allow.and_then(|a| actix_web::http::header::HeaderValue::from_str(a).ok()) {
        resp.headers_mut().insert(actix_web::http::header::ALLOW, allow);
    }
    resp
}

/// A resource whose unserved methods answer `method_not_allowed`.
pub fn resource(path: &str) -> actix_web::Resource {
    actix_web::web::resource(path).default_service(actix_web::web::to(method_not_allowed))
}

/// A NUL (`%00`) in the path or query string is refused at the edge with
/// 400 `invalid_parameter`: Postgres cannot store it, and no name or
/// filter holds one. (In a JSON body it is 422 `invalid_payload`.)
pub async fn refuse_nul<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let uri = req.uri();
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        let err = api_error(ErrorCode::InvalidParameter, "the path and query may not contain NUL (%00)");
        return Ok(req.into_response(err.error_response()).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
