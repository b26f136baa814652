//! `/v1/documents`: upload (multipart, streamed to disk), list, read,
//! preview, download, delete, and tag or untag.

use actix_multipart::Multipart;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpResponse};
use chorus_shared::domain::Role;
use chorus_shared::error::{ErrorBody, ErrorCode};
use chorus_shared::services::documents::{
    self as service, DocumentFilter, DocumentPage, DocumentView, Preview, PreviewQuery, Upload, Uploaded,
};
use chorus_shared::services::tags;
use chorus_shared::Ctx;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{api_error, resource, ApiResult};
use crate::multipart::{multipart_error, text_field, to_scratch};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/documents").route(web::post().to(upload)).route(web::get().to(list)))
        .service(resource("/documents/{id}").route(web::get().to(get)).route(web::delete().to(delete)))
        .service(resource("/documents/{id}/preview").route(web::get().to(preview)))
        .service(resource("/documents/{id}/download").route(web::get().to(download)))
        .service(
            resource("/documents/{id}/tags/{tag_id}").route(web::put().to(attach)).route(web::delete().to(detach)),
        );
}

/// The form of an upload, for the document only: the handler reads the
/// fields as they stream in.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The document's bytes (not empty).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Defaults to the file name.
    title: Option<String>,
    /// Tag names, comma-separated; the field may repeat. At most 100 of 1
    /// to 64 characters in all.
    tags: Option<Vec<String>>,
    /// A JSON object of at most 16 KiB.
    metadata: Option<String>,
}

/// Upload a document (`multipart/form-data`: `file`, optional `title`,
/// `tags` (comma-separated), `metadata` (a JSON object)). The same bytes
/// return the existing document (200); new ones answer 202 with the
/// document and its ingestion job.
#[utoipa::path(post, path = "/v1/documents", tag = "documents",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 202, body = Uploaded), (status = 200, description = "Already uploaded", body = Uploaded),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(ctx: web::Data<Ctx>, auth: Auth, mut form: Multipart) -> ApiResult<HttpResponse> {
    // Checked before the body streams in; the service checks again.
    auth.require(Role::User, "uploading documents")?;
    let max = ctx.settings.knowledge.max_upload_bytes;
    let (mut file, mut title, mut tag_names, mut metadata) = (None, None, Vec::new(), serde_json::json!({}));
    while let Some(mut field) = form.try_next().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                let filename = crate::multipart::filename(&field, "upload");
                let content_type = field.content_type().map(|m| m.to_string()).unwrap_or_default();
                let (mut hasher, mut head) = (Sha256::new(), Vec::new());
                let (path, size) = to_scratch(&mut field, &ctx.blobs.scratch_dir(), max, |chunk| {
                    if head.len() < 512 {
                        head.extend_from_slice(&chunk[..chunk.len().min(512 - head.len())]);
                    }
                    hasher.update(chunk);
                })
                .await?;
                file = Some((path, size, hex::encode(hasher.finalize()), head, filename, content_type));
            }
            "title" => title = Some(text_field(&mut field).await?),
            "tags" => {
                let raw = text_field(&mut field).await?;
                tag_names.extend(raw.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()));
                if tag_names.len() > service::MAX_TAGS {
                    let message = format!("at most {} tags per document", service::MAX_TAGS);
                    return Err(api_error(ErrorCode::InvalidPayload, message));
                }
            }
            "metadata" => {
                let raw = text_field(&mut field).await?;
                metadata = serde_json::from_str(&raw)
                    .map_err(|e| api_error(ErrorCode::InvalidPayload, format!("metadata is not JSON: {e}")))?;
            }
            other => return Err(api_error(ErrorCode::InvalidPayload, format!("unknown form field {other:?}"))),
        }
    }
    let (file, size, sha256, head, filename, content_type) =
        file.ok_or_else(|| api_error(ErrorCode::InvalidPayload, "the form has no `file` field"))?;
    let up = Upload { file, size, sha256, head, filename, content_type, title, tags: tag_names, metadata };
    let done = service::upload(&ctx, &auth.0, up).await?;
    Ok(if done.duplicate { HttpResponse::Ok() } else { HttpResponse::Accepted() }.json(done))
}

/// List documents, newest first; filter by tag, type, status, title text and date.
#[utoipa::path(get, path = "/v1/documents", tag = "documents", params(DocumentFilter),
    responses((status = 200, body = DocumentPage), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(ctx: web::Data<Ctx>, auth: Auth, filter: web::Query<DocumentFilter>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::list(&ctx, &auth.0, filter.into_inner()).await?))
}

/// One document: metadata, status, page and chunk counts, tags.
#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents",
    responses((status = 200, body = DocumentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::get(&ctx, &auth.0, *id).await?))
}

/// The extracted text, page by page.
#[utoipa::path(get, path = "/v1/documents/{id}/preview", tag = "documents", params(PreviewQuery),
    responses((status = 200, body = Preview), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn preview(
    ctx: web::Data<Ctx>,
    auth: Auth,
    id: web::Path<Uuid>,
    q: web::Query<PreviewQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::preview(&ctx, &auth.0, *id, q.into_inner()).await?))
}

/// The original file.
#[utoipa::path(get, path = "/v1/documents/{id}/download", tag = "documents",
    responses((status = 200, description = "The original bytes"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn download(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let original = service::download(&ctx, &auth.0, *id).await?;
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(original.filename)],
    };
    let body = actix_web::body::SizedStream::new(original.body.size, original.body.chunks);
    Ok(HttpResponse::Ok().content_type(original.content_type).insert_header(disposition).body(body))
}

/// Delete a document, its chunks and its original.
#[utoipa::path(delete, path = "/v1/documents/{id}", tag = "documents",
    responses((status = 200, body = DocumentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(ctx: web::Data<Ctx>, auth: Auth, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(service::delete(&ctx, &auth.0, *id).await?))
}

/// Attach a tag to a document.
#[utoipa::path(put, path = "/v1/documents/{id}/tags/{tag_id}", tag = "documents",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn attach(ctx: web::Data<Ctx>, auth: Auth, path: web::Path<(Uuid, Uuid)>) -> ApiResult<HttpResponse> {
    tags::set_on_document(&ctx, &auth.0, path.0, path.1, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Detach a tag from a document.
#[utoipa::path(delete, path = "/v1/documents/{id}/tags/{tag_id}", tag = "documents",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn detach(ctx: web::Data<Ctx>, auth: Auth, path: web::Path<(Uuid, Uuid)>) -> ApiResult<HttpResponse> {
    tags::set_on_document(&ctx, &auth.0, path.0, path.1, false).await?;
    Ok(HttpResponse::NoContent().finish())
}
