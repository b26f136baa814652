//! Documents: upload (de-duplicated by content hash), list, read, preview,
//! download and delete. Uploading queues an `ingest_document` job.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::tags;
use super::Principal;
use crate::db::models::{Document, DocumentTag, Job};
use crate::db::schema::{document_pages as dp, document_tags as dt, documents as d, tags as t};
use crate::domain::{ErrorView, JobSummary, Role};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::kinds::ingest_document::IngestDocument;
use crate::kinds::purge_vectors::PurgeVectors;
use crate::kinds::JobArgs;
use crate::knowledge::DocType;
use crate::Ctx;

pub use crate::domain::DocumentFilter;

/// Most tags one upload may name (a form may repeat its `tags` field).
pub const MAX_TAGS: usize = 100;

/// A document as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub doc_type: DocType,
    pub size_bytes: i64,
    /// SHA-256 of the original, hex.
    pub content_hash: String,
    /// `queued`, `processing`, `chunked` (searchable by keyword) or `failed`.
    pub status: String,
    pub metadata: Value,
    pub page_count: Option<i32>,
    pub chunk_count: Option<i32>,
    pub tags: Vec<String>,
    pub error: Option<ErrorView>,
    pub ingest_job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(doc: &Document, tags: Vec<String>) -> DocumentView {
    DocumentView {
        id: doc.id,
        title: doc.title.clone(),
        filename: doc.filename.clone(),
        content_type: doc.content_type.clone(),
        doc_type: DocType::parse(&doc.doc_type).unwrap_or(DocType::Text),
        size_bytes: doc.size_bytes,
        content_hash: doc.content_hash.clone(),
        status: doc.status.clone(),
        metadata: doc.metadata.clone(),
        page_count: doc.page_count,
        chunk_count: doc.chunk_count,
        tags,
        error: doc
            .error_code
            .clone()
            .map(|code| ErrorView { code, message: doc.error_message.clone().unwrap_or_default() }),
        ingest_job_id: doc.ingest_job_id,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    }
}

/// Records `event` (`document.ingested`, `document.failed`) with the
/// document's view, inside the caller's transaction.
pub(crate) async fn report(
    conn: &mut AsyncPgConnection,
    settings: &crate::config::Settings,
    doc: &Document,
    event: &str,
) -> QueryResult<usize> {
    let view = views(conn, std::slice::from_ref(doc)).await.map_err(|_| diesel::result::Error::RollbackTransaction)?;
    crate::queue::outbox::record(conn, settings, doc.tenant_id, event, Some(doc.id), &json!(view[0])).await
}

/// Views of `docs`, with their tag names.
pub(crate) async fn views(conn: &mut AsyncPgConnection, docs: &[Document]) -> ServiceResult<Vec<DocumentView>> {
    let ids: Vec<Uuid> = docs.iter().map(|x| x.id).collect();
    let names = tags::names_of(conn, &ids).await?;
    Ok(docs
        .iter()
        .map(|doc| view(doc, names.iter().filter(|(id, _)| *id == doc.id).map(|(_, n)| n.clone()).collect()))
        .collect())
}

/// An upload already streamed to a scratch file by the HTTP layer.
#[derive(Debug)]
pub struct Upload {
    pub file: tempfile::TempPath,
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// The first bytes, for type detection.
    pub head: Vec<u8>,
    pub filename: String,
    pub content_type: String,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Value,
}

/// What an upload did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Uploaded {
    pub document: DocumentView,
    /// The ingestion job; absent when the same bytes were uploaded before.
    pub job: Option<JobSummary>,
    /// True when the tenant already had these bytes: the existing document.
    pub duplicate: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidPayload, message).with_details(json!({ "field": field }))
}

/// Stores an upload and queues its ingestion; the same bytes return the
/// tenant's existing document.
pub async fn upload(ctx: &Ctx, p: &Principal, up: Upload) -> ServiceResult<Uploaded> {
    p.require(Role::User, "uploading documents")?;
    if up.size == 0 {
        return Err(invalid("file", "the file is empty"));
    }
    if !up.metadata.is_object() {
        return Err(invalid("metadata", "metadata must be a JSON object"));
    }
    if up.metadata.to_string().len() > 16 * 1024 {
        return Err(invalid("metadata", "metadata must be at most 16 KiB"));
    }
    if up.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
        return Err(invalid("tags", "tag names are 1 to 64 characters"));
    }
    if up.tags.len() > MAX_TAGS {
        return Err(invalid("tags", format!("at most {MAX_TAGS} tags per document")));
    }
    let mut conn = ctx.pool.get().await?;
    if let Some(existing) = find_by_hash(&mut conn, p.tenant_id, &up.sha256).await? {
        let document = views(&mut conn, &[existing]).await?.remove(0);
        return Ok(Uploaded { document, job: None, duplicate: true });
    }
    super::jobs::spend(ctx, p.tenant_id, IngestDocument::KIND.name, 1).await?;
    let doc_type = DocType::detect(&up.head, &up.content_type, &up.filename);
    let key = format!("{}/{}", p.tenant_id, up.sha256);
    let file = up.file.keep().map_err(|e| ServiceError::internal(format!("keep upload: {e}")))?;
    ctx.blobs.put_file(&key, &file).await.map_err(|e| ServiceError::internal(format!("blob store: {e}")))?;
    let title = up.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| up.filename.clone());
    let (tenant, settings) = (p.tenant_id, ctx.settings.clone());
    let sha256 = up.sha256.clone();
    let inserted = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let id = Uuid::now_v7();
            let doc: Option<Document> = diesel::insert_into(d::table)
                .values((
                    d::id.eq(id),
                    d::tenant_id.eq(tenant),
                    d::title.eq(&title),
                    d::filename.eq(&up.filename),
                    d::content_type.eq(&up.content_type),
                    d::doc_type.eq(doc_type.as_str()),
                    d::size_bytes.eq(up.size as i64),
                    d::content_hash.eq(&up.sha256),
                    d::blob_key.eq(&key),
                    d::status.eq("queued"),
                    d::metadata.eq(&up.metadata),
                ))
                .on_conflict((d::tenant_id, d::content_hash))
                .do_nothing()
                .returning(Document::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            let Some(doc) = doc else { return Ok(None) };
            let tag_ids = tags::ensure_named(conn, tenant, &up.tags).await?;
            for tag in tag_ids {
                diesel::insert_into(dt::table)
                    .values(DocumentTag { document_id: doc.id, tag_id: tag })
                    .execute(conn)
                    .await?;
            }
            let job = queue_ingest(conn, &settings, &doc).await?;
            Ok(Some((doc, job)))
        })
        .await?;
    let Some((doc, job)) = inserted else {
        // A concurrent upload of the same bytes won.
        let existing = find_by_hash(&mut conn, p.tenant_id, &sha256)
            .await?
            .ok_or_else(|| ServiceError::internal("lost upload race"))?;
        let document = views(&mut conn, &[existing]).await?.remove(0);
        return Ok(Uploaded { document, job: None, duplicate: true });
    };
    let document = views(&mut conn, &[doc]).await?.remove(0);
    drop(conn);
    dispatch_knowledge(ctx).await;
    Ok(Uploaded { document, job: Some(job.summary()), duplicate: false })
}

async fn find_by_hash(conn: &mut AsyncPgConnection, tenant: Uuid, hash: &str) -> QueryResult<Option<Document>> {
    d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::content_hash.eq(hash))
        .select(Document::as_select())
        .first(conn)
        .await
        .optional()
}

/// Queues (re-)ingestion of `doc` and points the document at the job.
pub(crate) async fn queue_ingest(
    conn: &mut AsyncPgConnection,
    settings: &crate::config::Settings,
    doc: &Document,
) -> QueryResult<Job> {
    let args = IngestDocument { document_id: doc.id };
    let job = crate::queue::insert_with(conn, doc.tenant_id, &args, settings.retry.default_max_attempts).await?;
    diesel::update(d::table.find(doc.id))
        .set((d::ingest_job_id.eq(job.id), d::status.eq("queued"), d::updated_at.eq(Utc::now())))
        .execute(conn)
        .await?;
    Ok(job)
}

/// Nudges the `knowledge` queue's dispatcher.
pub(crate) async fn dispatch_knowledge(ctx: &Ctx) {
    super::jobs::nudge(ctx, IngestDocument::KIND.queue.as_str());
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentView>,
    pub next_cursor: Option<Uuid>,
}

/// The ids matching a filter, oldest first, at most `max`.
pub(crate) async fn select_ids(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    f: &DocumentFilter,
    max: i64,
) -> ServiceResult<Vec<Uuid>> {
    Ok(filtered(tenant, f)?.order(d::id.asc()).limit(max).select(d::id).load(conn).await?)
}

type Boxed<'a> = d::BoxedQuery<'a, diesel::pg::Pg>;

fn filtered(tenant: Uuid, f: &DocumentFilter) -> ServiceResult<Boxed<'static>> {
    let mut q: Boxed<'static> = d::table.filter(d::tenant_id.eq(tenant)).into_boxed();
    if let Some(tag) = &f.tag {
        let tagged = dt::table
            .inner_join(t::table)
            .filter(t::tenant_id.eq(tenant))
            .filter(t::name.eq(tag.clone()))
            .select(dt::document_id);
        q = q.filter(d::id.eq_any(tagged));
    }
    if let Some(ty) = &f.doc_type {
        DocType::parse(ty)
            .ok_or_else(|| ServiceError::invalid_parameter("doc_type", format!("unknown doc_type {ty:?}")))?;
        q = q.filter(d::doc_type.eq(ty.clone()));
    }
    if let Some(st) = &f.status {
        if !crate::domain::DOC_STATUSES.contains(&st.as_str()) {
            return Err(ServiceError::invalid_parameter("status", format!("unknown status {st:?}")));
        }
        q = q.filter(d::status.eq(st.clone()));
    }
    if let Some(text) = &f.q {
        let pattern = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        q = q.filter(d::title.ilike(pattern));
    }
    if let Some(ts) = f.created_after {
        q = q.filter(d::created_at.ge(ts));
    }
    if let Some(ts) = f.created_before {
        q = q.filter(d::created_at.lt(ts));
    }
    Ok(q)
}

/// The tenant's documents, newest first (ids are time-ordered).
pub async fn list(ctx: &Ctx, p: &Principal, f: DocumentFilter) -> ServiceResult<DocumentPage> {
    let limit = f.limit.unwrap_or(ctx.settings.api.default_page_size);
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::invalid_parameter("limit", "limit must be between 1 and 200"));
    }
    let mut q = filtered(p.tenant_id, &f)?;
    if let Some(c) = f.cursor {
        q = q.filter(d::id.lt(c));
    }
    let mut conn = ctx.pool.get().await?;
    let mut rows: Vec<Document> =
        q.order(d::id.desc()).limit(limit + 1).select(Document::as_select()).load(&mut conn).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(DocumentPage { items: views(&mut conn, &rows).await?, next_cursor })
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::DocumentNotFound, "no such document")
}

pub(crate) async fn load(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> ServiceResult<Document> {
    d::table
        .filter(d::id.eq(id))
        .filter(d::tenant_id.eq(tenant))
        .select(Document::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<DocumentView> {
    let mut conn = ctx.pool.get().await?;
    let doc = load(&mut conn, p.tenant_id, id).await?;
    Ok(views(&mut conn, &[doc]).await?.remove(0))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewPage {
    pub page: i32,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Preview {
    pub document_id: Uuid,
    pub page_count: Option<i32>,
    pub pages: Vec<PreviewPage>,
    /// Pass as `page` for the next pages; absent at the end.
    pub next_page: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// First page (1-based), default 1.
    #[param(minimum = 1)]
    pub page: Option<i32>,
    /// Pages per answer, 1..=50, default 10.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
}

/// The extracted text, page by page.
pub async fn preview(ctx: &Ctx, p: &Principal, id: Uuid, q: PreviewQuery) -> ServiceResult<Preview> {
    let (from, limit) = (q.page.unwrap_or(1), q.limit.unwrap_or(10));
    if from < 1 {
        return Err(ServiceError::invalid_parameter("page", "page starts at 1"));
    }
    if !(1..=50).contains(&limit) {
        return Err(ServiceError::invalid_parameter("limit", "limit must be between 1 and 50"));
    }
    let mut conn = ctx.pool.get().await?;
    let doc = load(&mut conn, p.tenant_id, id).await?;
    let mut rows: Vec<(i32, String)> = dp::table
        .filter(dp::document_id.eq(doc.id))
        .filter(dp::page_no.ge(from))
        .order(dp::page_no.asc())
        .limit(limit + 1)
        .select((dp::page_no, dp::text))
        .load(&mut conn)
        .await?;
    let next_page = if rows.len() as i64 > limit { rows.pop().map(|(n, _)| n) } else { None };
    Ok(Preview {
        document_id: doc.id,
        page_count: doc.page_count,
        pages: rows.into_iter().map(|(page, text)| PreviewPage { page, text }).collect(),
        next_page,
    })
}

/// The original bytes with what to serve them as.
pub struct Original {
    /// The bytes, streamed from the blob store.
    pub body: crate::knowledge::blob::BlobReader,
    pub filename: String,
    pub content_type: String,
}

pub async fn download(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<Original> {
    let mut conn = ctx.pool.get().await?;
    let doc = load(&mut conn, p.tenant_id, id).await?;
    drop(conn);
    let body = ctx
        .blobs
        .read(&doc.blob_key)
        .await
        .map_err(|e| ServiceError::internal(format!("blob {}: {e}", doc.blob_key)))?;
    let content_type =
        DocType::parse(&doc.doc_type).map(DocType::mime).unwrap_or("application/octet-stream").to_string();
    Ok(Original { body, filename: doc.filename, content_type })
}

/// Deletes a document with its pages, chunks and tag links, then its
/// original. Returns the deleted document's view.
pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<DocumentView> {
    p.require(Role::User, "deleting documents")?;
    let mut conn = ctx.pool.get().await?;
    let doc = load(&mut conn, p.tenant_id, id).await?;
    let view = views(&mut conn, std::slice::from_ref(&doc)).await?.remove(0);
    delete_loaded(ctx, &mut conn, &doc).await?;
    Ok(view)
}

/// Deletes a loaded document: its rows, and in the same transaction a
/// `purge_vectors` job for its vectors (removed at once when this process
/// owns the vector store); then the original.
pub(crate) async fn delete_loaded(ctx: &Ctx, conn: &mut AsyncPgConnection, doc: &Document) -> ServiceResult<()> {
    let (id, tenant) = (doc.id, doc.tenant_id);
    conn.transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
        diesel::delete(d::table.find(id)).execute(conn).await?;
        crate::queue::insert(conn, tenant, &PurgeVectors { document_ids: vec![id] }).await?;
        Ok(())
    })
    .await?;
    // A job on the vector owner (a bulk delete) removes the vectors itself;
    // the purge job stays as the safety net and finds nothing left.
    if let Some(vectors) = &ctx.vectors {
        if let Err(e) = super::indexing::purge_documents(ctx, vectors, tenant, vec![id]).await {
            tracing::warn!(document = %id, error = %e.message, "vectors left to the purge job");
        }
    }
    super::jobs::nudge(ctx, PurgeVectors::KIND.queue.as_str());
    if let Err(e) = ctx.blobs.delete(&doc.blob_key).await {
        tracing::warn!(document = %doc.id, error = %e, "original not deleted");
    }
    Ok(())
}
