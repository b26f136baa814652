//! OpenAI's Files and Batch APIs: `/v1/files` (multipart upload streamed
//! to scratch space, read, download, delete, list) and `/v1/batches`
//! (create, read, list, cancel), over `services::files`,
//! `services::openai_batches` and `services::batch_lines`. Errors are
//! OpenAI's envelope, as on the other OpenAI routes.

use actix_multipart::Multipart;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use chorus_shared::domain::Role;
use chorus_shared::error::ErrorCode;
use chorus_shared::services::files::{self, Deleted, FileList, FileObject};
use chorus_shared::services::openai_batches::{self as batches, BatchList, BatchObject, CreateBatch};
use chorus_shared::Ctx;
use futures::TryStreamExt;
use serde::Deserialize;

use super::openai::{envelope, OpenAiError};
use crate::auth::Auth;
use crate::error::{api_error, resource, ApiResult};
use crate::json::Json;
use crate::multipart::{multipart_error, text_field, to_scratch};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let wrapped = |path: &str| resource(path).wrap(from_fn(envelope));
    cfg.service(wrapped("/files").route(web::post().to(upload)).route(web::get().to(list_files)))
        .service(wrapped("/files/{id}").route(web::get().to(get_file)).route(web::delete().to(delete_file)))
        .service(wrapped("/files/{id}/content").route(web::get().to(content)))
        .service(wrapped("/batches").route(web::post().to(create)).route(web::get().to(list)))
        .service(wrapped("/batches/{id}").route(web::get().to(get)))
        .service(wrapped("/batches/{id}/cancel").route(web::post().to(cancel)));
}

/// The upload form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct FileForm {
    /// JSONL, one request per line (at most `openai.max_file_bytes`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `batch`.
    purpose: String,
}

/// Upload a file for the Batch API (`multipart/form-data`: `file`,
/// `purpose: batch`).
#[utoipa::path(post, path = "/v1/files", tag = "openai",
    request_body(content = FileForm, content_type = "multipart/form-data"),
    responses((status = 200, body = FileObject), (status = 401, body = OpenAiError), (status = 413, body = OpenAiError),
        (status = 415, body = OpenAiError), (status = 422, body = OpenAiError), (status = 429, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn upload(ctx: web::Data<Ctx>, auth: Auth, mut form: Multipart) -> ApiResult<HttpResponse> {
    auth.require(Role::User, "uploading files")?;
    let max = ctx.settings.openai.max_file_bytes;
    let (mut file, mut purpose) = (None, None);
    while let Some(mut field) = form.try_next().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "file" => {
                let filename = crate::multipart::filename(&field, "upload.jsonl");
                let (path, size) = to_scratch(&mut field, &ctx.blobs.scratch_dir(), max, |_| {}).await?;
                file = Some((path, size, filename));
            }
            "purpose" => purpose = Some(text_field(&mut field).await?),
            other => return Err(api_error(ErrorCode::InvalidPayload, format!("unknown form field {other:?}"))),
        }
    }
    let (path, size, filename) =
        file.ok_or_else(|| api_error(ErrorCode::InvalidPayload, "the form has no `file` field"))?;
    let purpose = purpose.ok_or_else(|| api_error(ErrorCode::InvalidPayload, "the form has no `purpose` field"))?;
    let created = files::create(&ctx, &auth.0, &path, size, &filename, &purpose).await?;
    Ok(HttpResponse::Ok().json(created))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// Only files of this purpose.
    pub purpose: Option<String>,
    /// The last file id of the previous page.
    pub after: Option<String>,
    /// 1 to 10,000.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// The tenant's files, newest first.
#[utoipa::path(get, path = "/v1/files", tag = "openai", params(FileQuery),
    responses((status = 200, body = FileList), (status = 400, body = OpenAiError), (status = 401, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn list_files(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<FileQuery>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = files::list(&ctx, &auth.0, q.purpose.as_deref(), q.after.as_deref(), q.limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// A file.
#[utoipa::path(get, path = "/v1/files/{id}", tag = "openai",
    responses((status = 200, body = FileObject), (status = 404, body = OpenAiError)), security(("bearer" = [])))]
pub async fn get_file(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(files::get(&ctx, &auth.0, &id).await?))
}

/// A file's bytes.
#[utoipa::path(get, path = "/v1/files/{id}/content", tag = "openai",
    responses((status = 200, description = "The file's bytes"), (status = 404, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn content(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let (file, reader) = files::content(&ctx, &auth.0, &id).await?;
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(file.filename)],
    };
    let body = actix_web::body::SizedStream::new(reader.size, reader.chunks);
    Ok(HttpResponse::Ok().content_type("application/jsonl").insert_header(disposition).body(body))
}

/// Delete a file and its bytes.
#[utoipa::path(delete, path = "/v1/files/{id}", tag = "openai",
    responses((status = 200, body = Deleted), (status = 404, body = OpenAiError)), security(("bearer" = [])))]
pub async fn delete_file(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(files::delete(&ctx, &auth.0, &id).await?))
}

/// Create a batch: each line of the input file becomes a job; poll it
/// until `completed`, then read its output and error files.
#[utoipa::path(post, path = "/v1/batches", tag = "openai", request_body = CreateBatch,
    responses((status = 200, body = BatchObject), (status = 400, body = OpenAiError), (status = 401, body = OpenAiError),
        (status = 404, body = OpenAiError), (status = 422, body = OpenAiError), (status = 429, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn create(ctx: web::Data<Ctx>, auth: Auth, body: Json<CreateBatch>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(batches::create(&ctx, &auth.0, body.into_inner()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// The last batch id of the previous page.
    pub after: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// The tenant's batches, newest first.
#[utoipa::path(get, path = "/v1/batches", tag = "openai", params(BatchQuery),
    responses((status = 200, body = BatchList), (status = 400, body = OpenAiError), (status = 401, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth, q: web::Query<BatchQuery>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(batches::list(&ctx, &auth.0, q.after.as_deref(), q.limit).await?))
}

/// A batch, with its request counts.
#[utoipa::path(get, path = "/v1/batches/{id}", tag = "openai",
    responses((status = 200, body = BatchObject), (status = 404, body = OpenAiError)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(batches::get(&ctx, &auth.0, &id).await?))
}

/// Cancel a batch: `cancelling` until its running requests end, then
/// `cancelled` with the files of what ran.
#[utoipa::path(post, path = "/v1/batches/{id}/cancel", tag = "openai",
    responses((status = 200, body = BatchObject), (status = 404, body = OpenAiError), (status = 409, body = OpenAiError)),
    security(("bearer" = [])))]
pub async fn cancel(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(batches::cancel(&ctx, &auth.0, &id).await?))
}
