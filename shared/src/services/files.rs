//! OpenAI's Files API (`/v1/files`): JSONL files a tenant uploads for the
//! Batch API (`purpose: batch`), and the output and error files batches
//! write (`batch_output`). The bytes live in the blob store under
//! `files/<tenant>/<id>`; a row says whose they are. Ids go on the wire as
//! `file-` and the id's hex.

use std::path::Path;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Principal;
use crate::db::schema::files as f;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::knowledge::blob::BlobReader;
use crate::Ctx;

/// The purposes a client may upload with.
pub const UPLOAD_PURPOSES: &[&str] = &["batch"];
/// The purpose of the files batches write.
pub const OUTPUT_PURPOSE: &str = "batch_output";

/// A file, as OpenAI describes one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileObject {
    /// `file-` and 32 hex digits.
    pub id: String,
    /// Always `file`.
    pub object: &'static str,
    pub bytes: i64,
    /// Unix seconds.
    pub created_at: i64,
    pub filename: String,
    /// `batch` or `batch_output`.
    pub purpose: String,
    /// Always `processed`.
    pub status: &'static str,
}

/// A page of files, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<FileObject>,
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
}

/// What `DELETE /v1/files/{id}` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    /// Always `file`.
    pub object: &'static str,
    pub deleted: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = f)]
pub struct FileRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub purpose: String,
    pub filename: String,
    pub bytes: i64,
    pub blob_key: String,
    pub created_at: chrono::DateTime<Utc>,
}

impl FileRow {
    pub fn view(&self) -> FileObject {
        FileObject {
            id: wire_id(self.id),
            object: "file",
            bytes: self.bytes,
            created_at: self.created_at.timestamp(),
            filename: self.filename.clone(),
            purpose: self.purpose.clone(),
            status: "processed",
        }
    }
}

/// A file id on the wire.
pub fn wire_id(id: Uuid) -> String {
    format!("file-{}", id.simple())
}

/// A file id from the wire; anything else is a file that does not exist.
pub fn parse_id(id: &str) -> ServiceResult<Uuid> {
    id.strip_prefix("file-").and_then(|hex| Uuid::try_parse(hex).ok()).ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ServiceError {
    ServiceError::new(ErrorCode::FileNotFound, format!("no file {id:?}"))
}

/// Where a tenant's file's bytes live.
pub fn blob_key(tenant: Uuid, id: Uuid) -> String {
    format!("files/{tenant}/{id}")
}

/// Stores an uploaded file (already streamed to `path`, at most
/// `openai.max_file_bytes`).
pub async fn create(
    ctx: &Ctx,
    p: &Principal,
    path: &Path,
    bytes: u64,
    filename: &str,
    purpose: &str,
) -> ServiceResult<FileObject> {
    p.require(Role::User, "uploading files")?;
    if !UPLOAD_PURPOSES.contains(&purpose) {
        return Err(ServiceError::invalid_field("purpose", format!("purpose {purpose:?} is not served: use `batch`")));
    }
    if bytes == 0 {
        return Err(ServiceError::invalid_field("file", "the file is empty"));
    }
    let filename: String = filename.chars().take(255).collect();
    let id = Uuid::now_v7();
    let key = blob_key(p.tenant_id, id);
    ctx.blobs.put_file(&key, path).await.map_err(|e| ServiceError::internal(format!("blob store: {e}")))?;
    let mut conn = ctx.pool.get().await?;
    let row = insert(&mut conn, p.tenant_id, id, purpose, &filename, bytes as i64).await?;
    Ok(row.view())
}

/// Records a file whose bytes are already under [`blob_key`].
pub async fn insert(
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
    id: Uuid,
    purpose: &str,
    filename: &str,
    bytes: i64,
) -> QueryResult<FileRow> {
    diesel::insert_into(f::table)
        .values((
            f::id.eq(id),
            f::tenant_id.eq(tenant),
            f::purpose.eq(purpose),
            f::filename.eq(filename),
            f::bytes.eq(bytes),
            f::blob_key.eq(blob_key(tenant, id)),
        ))
        .returning(FileRow::as_returning())
        .get_result(conn)
        .await
}

/// The tenant's file `id` (wire form).
pub async fn row(ctx: &Ctx, tenant: Uuid, id: &str) -> ServiceResult<FileRow> {
    let uuid = parse_id(id)?;
    let mut conn = ctx.pool.get().await?;
    f::table
        .find(uuid)
        .filter(f::tenant_id.eq(tenant))
        .select(FileRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| not_found(id))
}

pub async fn get(ctx: &Ctx, p: &Principal, id: &str) -> ServiceResult<FileObject> {
    Ok(row(ctx, p.tenant_id, id).await?.view())
}

/// The file's bytes, streamed.
pub async fn content(ctx: &Ctx, p: &Principal, id: &str) -> ServiceResult<(FileRow, BlobReader)> {
    let file = row(ctx, p.tenant_id, id).await?;
    let reader =
        ctx.blobs.read(&file.blob_key).await.map_err(|e| ServiceError::internal(format!("blob store: {e}")))?;
    Ok((file, reader))
}

/// Removes the file and its bytes.
pub async fn delete(ctx: &Ctx, p: &Principal, id: &str) -> ServiceResult<Deleted> {
    p.require(Role::User, "deleting files")?;
    let file = row(ctx, p.tenant_id, id).await?;
    let mut conn = ctx.pool.get().await?;
    diesel::delete(f::table.find(file.id)).execute(&mut conn).await?;
    if let Err(e) = ctx.blobs.delete(&file.blob_key).await {
        tracing::warn!(file = %file.id, error = %e, "a deleted file's bytes stay in the blob store");
    }
    Ok(Deleted { id: wire_id(file.id), object: "file", deleted: true })
}

/// The tenant's files, newest first, after the file `after` (wire id),
/// `limit` (1 to 10,000, default 10,000 as OpenAI's) at a time.
pub async fn list(
    ctx: &Ctx,
    p: &Principal,
    purpose: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> ServiceResult<FileList> {
    let limit = limit.unwrap_or(10_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ServiceError::invalid_parameter("limit", "limit is 1 to 10000"));
    }
    let mut conn = ctx.pool.get().await?;
    let mut q = f::table.filter(f::tenant_id.eq(p.tenant_id)).select(FileRow::as_select()).into_boxed();
    if let Some(purpose) = purpose {
        q = q.filter(f::purpose.eq(purpose.to_string()));
    }
    if let Some(after) = after {
        let cursor = parse_id(after).map_err(|_| ServiceError::invalid_parameter("after", "after names no file"))?;
        let at: Option<chrono::DateTime<Utc>> = f::table
            .find(cursor)
            .filter(f::tenant_id.eq(p.tenant_id))
            .select(f::created_at)
            .first(&mut conn)
            .await
            .optional()?;
        let at = at.ok_or_else(|| ServiceError::invalid_parameter("after", "after names no file"))?;
        q = q.filter(f::created_at.lt(at).or(f::created_at.eq(at).and(f::id.lt(cursor))));
    }
    let mut rows: Vec<FileRow> = q.order((f::created_at.desc(), f::id.desc())).limit(limit + 1).load(&mut conn).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let data: Vec<FileObject> = rows.iter().map(FileRow::view).collect();
    let (first_id, last_id) = (<[_]>::first(&data).map(|f| f.id.clone()), <[_]>::last(&data).map(|f| f.id.clone()));
    Ok(FileList { object: "list", data, first_id, last_id, has_more })
}

/// A JSONL file being written in scratch space, line by line, on its way
/// to the blob store as a tenant's file.
pub struct Scratch {
    file: tokio::io::BufWriter<tokio::fs::File>,
    path: tempfile::TempPath,
    bytes: u64,
}

impl Scratch {
    pub fn new(ctx: &Ctx) -> ServiceResult<Self> {
        let tmp = tempfile::NamedTempFile::new_in(ctx.blobs.scratch_dir())
            .map_err(|e| ServiceError::internal(format!("scratch file: {e}")))?;
        let (file, path) = tmp.into_parts();
        Ok(Self { file: tokio::io::BufWriter::new(tokio::fs::File::from_std(file)), path, bytes: 0 })
    }

    pub async fn push(&mut self, line: &serde_json::Value) -> ServiceResult<()> {
        let mut text = serde_json::to_vec(line).map_err(ServiceError::internal)?;
        text.push(b'\n');
        self.bytes += text.len() as u64;
        self.file.write_all(&text).await.map_err(|e| ServiceError::internal(format!("scratch file: {e}")))
    }

    /// Moves the lines into the blob store as the tenant's file `id`;
    /// `None` when there are none.
    pub async fn store(mut self, ctx: &Ctx, tenant: Uuid, id: Uuid) -> ServiceResult<Option<(Uuid, i64)>> {
        self.file.flush().await.map_err(|e| ServiceError::internal(format!("scratch file: {e}")))?;
        if self.bytes == 0 {
            return Ok(None);
        }
        let key = blob_key(tenant, id);
        ctx.blobs.put_file(&key, &self.path).await.map_err(|e| ServiceError::internal(format!("blob store: {e}")))?;
        Ok(Some((id, self.bytes as i64)))
    }
}
